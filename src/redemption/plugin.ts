import fp from 'fastify-plugin'
import { createRedemptionRepository } from './repository.js'
import { createRedemptionService, type RedemptionService } from './service.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Recharge codes (CONTRACT §8): admins mint them, users redeem them for quota. */
    redemption: RedemptionService
  }
}

export default fp(
  async (app) => {
    const repo = createRedemptionRepository(app.db)
    app.decorate('redemption', createRedemptionService({ repo, cache: app.cache, clock: app.clock, config: app.config, log: app.log }))
  },
  { name: 'redemption', dependencies: ['db', 'cache'] },
)
