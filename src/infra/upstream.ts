import fp from 'fastify-plugin'
import { Agent } from 'undici'

declare module 'fastify' {
  interface FastifyInstance {
    /** The one long-lived undici Agent (a pool per upstream origin) every upstream call goes through. */
    upstream: Agent
  }
}

export default fp(
  async (app) => {
    const agent = new Agent({
      connectTimeout: 10_000,
      // No response head by then → the relay tries the next channel or answers 504.
      headersTimeout: app.config.upstreamFirstByteTimeoutMs,
      // Silence between two chunks of a body; generous because models think between tokens.
      bodyTimeout: 300_000,
      keepAliveTimeout: 30_000,
      connections: 256,
    })
    app.decorate('upstream', agent)
    app.addHook('onClose', async () => {
      await agent.close()
    })
  },
  { name: 'upstream' },
)
