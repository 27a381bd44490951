import fp from 'fastify-plugin'
import logsPlugin from '../logs/plugin.js'
import pricingPlugin from '../pricing/plugin.js'
import type { Meter } from '../relay/seams.js'
import { createMeter } from './meter.js'
import { createPromptCounter, type PromptCounter } from './prompt-counter.js'
import { createBillingRepository } from './repository.js'
import { createBillingService, type BillingService } from './service.js'

/** Concurrent settlements share one transaction; measured in test/billing/invariants.test.ts. */
const GROUP_COMMIT = true

declare module 'fastify' {
  interface FastifyInstance {
    /** Reserve before forwarding, settle after (src/relay/seams.ts). */
    meter: Meter
    /** Admin quota adjustments. */
    billing: BillingService
    /** Exact prompt counts for answers without usage, large ones off the event loop. */
    promptCounter: PromptCounter
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
    const meter = createMeter({
      repo,
      pricing: app.pricing,
      quotaPerUsd: app.config.quotaPerUsd,
      defaultCompletionReserve: app.config.defaultCompletionReserve,
      clock: app.clock,
      metrics: app.metrics,
      log: app.log,
      groupCommit: GROUP_COMMIT,
    })
    app.decorate('meter', meter)
    const promptCounter = createPromptCounter()
    app.decorate('promptCounter', promptCounter)
    app.addHook('onClose', () => promptCounter.close())
    // In-flight requests await their own settlement, so this finds nothing in a normal stop; it
    // is the guarantee for any settlement started outside a request.
    app.addHook('onClose', async () => {
      await meter.drain()
    })
    app.decorate('billing', createBillingService({ repo, users: app.usersRepo, cache: app.cache, clock: app.clock }))
  },
  { name: 'billing', dependencies: ['db', 'cache', 'metrics', 'users-repo'] },
)
