import fp from 'fastify-plugin'
import { createCache, type Cache } from '../cache/index.js'

declare module 'fastify' {
  interface FastifyInstance {
    cache: Cache
  }
}

export interface CachePluginOptions {
  url?: string
  prefix?: string
}

export default fp<CachePluginOptions>(
  async (app, opts) => {
    const cache = createCache({ url: opts.url, prefix: opts.prefix, logger: app.log })
    app.decorate('cache', cache)
    app.addHook('onClose', async () => {
      await cache.close()
    })
  },
  { name: 'cache' },
)
