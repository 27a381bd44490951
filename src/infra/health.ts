import type { FastifyPluginAsync } from 'fastify'

/** Liveness answers while the process runs; readiness only while the database and cache answer. */
const health: FastifyPluginAsync = async (app) => {
  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }))
  app.get('/readyz', { schema: { hide: true } }, async (_request, reply) => {
    const [database, cache] = await Promise.all([app.db.ping(), app.cache.ping()])
    const body = { status: database && cache ? 'ready' : 'not_ready', database, cache: cache }
    return reply.code(database && cache ? 200 : 503).send(body)
  })
}

export default health
