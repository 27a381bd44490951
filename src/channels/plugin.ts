import fp from 'fastify-plugin'
import { INVALIDATE, type ChannelPool } from '../relay/seams.js'
import { createSecretBox } from '../security/secrets.js'
import { MemoryChannelPool } from './pool.js'
import { createChannelsRepository } from './repository.js'
import { createChannelsService, type ChannelsService } from './service.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The relay's in-memory routing table (enabled channels, keys decrypted). */
    channelPool: ChannelPool
    /** Channel management (admin routes). */
    channels: ChannelsService
  }
}

export default fp(
  async (app) => {
    const secret = app.config.encryptionKey
    if (!secret) throw new Error('ENCRYPTION_KEY missing: withGeneratedSecrets() must run before the app is built')
    const box = createSecretBox(secret)
    const repo = createChannelsRepository(app.db)
    const pool = new MemoryChannelPool({ repo, box, cache: app.cache, clock: app.clock, log: app.log })

    await pool.reload()
    // Every instance, this one included, rebuilds when any instance changes a channel.
    await app.cache.subscribe(INVALIDATE.channels, () => pool.scheduleReload())

    app.decorate('channelPool', pool)
    // Models a channel names are known: their names may be metric labels.
    app.metrics.addModelSource((model) => pool.knowsModel(model))
    app.decorate('channels', createChannelsService({ repo, pool, box, clock: app.clock, upstream: app.upstream }))
    app.addHook('onClose', async () => {
      await pool.close()
    })
  },
  { name: 'channels', dependencies: ['db', 'cache', 'upstream', 'metrics'] },
)
