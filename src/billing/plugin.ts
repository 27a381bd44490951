import { randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { join } from 'node:path'
import { databaseTag, openJournal, orphanJournals } from './lease-journal.js'
import { createLeaseRepository } from './lease-repository.js'
import { createLeaseBook, type LeaseOptions } from './leases.js'
import logsPlugin from '../logs/plugin.js'
import pricingPlugin from '../pricing/plugin.js'
import type { Meter } from '../relay/seams.js'
import { createMeter, type BillingMeter } from './meter.js'
import { createPromptCounter, type PromptCounter } from './prompt-counter.js'
import { createBillingRepository, type StatementCounter } from './repository.js'
import { createBillingService, type BillingService } from './service.js'

/** Concurrent settlements share one transaction; measured in test/billing/invariants.test.ts. */
const GROUP_COMMIT = true

declare module 'fastify' {
  interface FastifyInstance {
    /** Reserve before forwarding, settle after (src/relay/seams.ts); `quiesce()` returns idle leases. */
    meter: Meter & Pick<BillingMeter, 'quiesce' | 'drain'>
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
  async (app, opts: { leases?: Partial<LeaseOptions> | false }) => {
    await app.register(pricingPlugin)
    await app.register(logsPlugin)
    const count: StatementCounter = (path, n) => app.metrics.dbStatements.inc({ path }, n)
    const repo = createBillingRepository(app.db, count)
    const leases = opts.leases === false ? undefined : openLeases(app, opts.leases, count)
    // A crashed predecessor's journal is replayed and its leases returned before this instance serves.
    if (leases) await leases.recover((units) => repo.settle(units))
    const meter = createMeter({
      repo,
      pricing: app.pricing,
      quotaPerUsd: app.config.quotaPerUsd,
      defaultCompletionReserve: app.config.defaultCompletionReserve,
      clock: app.clock,
      metrics: app.metrics,
      log: app.log,
      groupCommit: GROUP_COMMIT,
      leases,
    })
    app.decorate('meter', meter)
    const promptCounter = createPromptCounter()
    app.decorate('promptCounter', promptCounter)
    app.addHook('onClose', () => promptCounter.close())
    // In-flight requests await their own settlement, so this finds nothing in a normal stop; it
    // is the guarantee for any settlement started outside a request.
    app.addHook('onClose', async () => {
      await meter.drain()
      await leases?.close()
    })
    app.decorate('billing', createBillingService({ repo, leases: createLeaseRepository(app.db), users: app.usersRepo, cache: app.cache, clock: app.clock }))
  },
  { name: 'billing', dependencies: ['db', 'cache', 'metrics', 'users-repo'] },
)

/**
 * This instance's lease book: a fresh instance id per process, and a journal beside the SQLite file (or in the
 * data folder with MySQL) — none for an in-memory database, which a crash loses anyway.
 */
function openLeases(app: FastifyInstance, options: Partial<LeaseOptions> | undefined, count: StatementCounter) {
  const instanceId = randomUUID()
  const url = app.config.databaseUrl
  const durable = !url.includes(':memory:')
  const dir = join(app.config.dataDir, 'leases')
  const tag = databaseTag(url)
  return createLeaseBook({
    repo: createLeaseRepository(app.db, count),
    instanceId,
    journal: durable ? openJournal(dir, tag, instanceId) : null,
    orphans: () => (durable ? orphanJournals(dir, tag, instanceId) : []),
    clock: app.clock,
    log: app.log,
    options,
  })
}
