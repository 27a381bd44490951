import fp from 'fastify-plugin'
import logsPlugin from '../logs/plugin.js'
import pricingPlugin from '../pricing/plugin.js'
import type { Meter } from '../relay/seams.js'
import { createMeter } from './meter.js'
import { createBillingRepository } from './repository.js'
import { createBillingService, type BillingService } from './service.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Reserve before forwarding, settle after (src/relay/seams.ts). */
    meter: Meter
    /** Admin quota adjustments. */
    billing: BillingService
  }
}

/**
 * Billing: prices (app.pricing), the usage ledger's reads (app.logs), the meter (app.meter) and
 * quota adjustments (app.billing). Pricing and logs are their own named plugins, registered here
 * so the app registers one domain plugin.
 */
export default fp(
  async (app) => {
    await app.register(pricingPlugin)
    await app.register(logsPlugin)
    const repo = createBillingRepository(app.db)
    app.decorate(
      'meter',
      createMeter({ repo, pricing: app.pricing, quotaPerUsd: app.config.quotaPerUsd, clock: app.clock, metrics: app.metrics, log: app.log }),
    )
    app.decorate('billing', createBillingService({ repo, users: app.usersRepo, cache: app.cache, clock: app.clock }))
  },
  { name: 'billing', dependencies: ['db', 'cache', 'metrics', 'users-repo'] },
)
