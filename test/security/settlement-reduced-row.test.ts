// Issue 9, finding 1 (its last part): a settlement whose usage-log row the database refuses still moves the
// money, with a reduced row, loudly — never a silent unsettled reservation.
import t from 'tap'
import { backends } from '../support/backends.js'
import { buildApp } from '../support/build-app.js'
import { delivered, ledger, makeUserWithToken, meterRequest } from '../billing/fixtures.js'

const PRICED = 'reduced-row-model'

for (const backend of backends()) {
  t.test(backend.name, async (t) => {
    const { app } = await buildApp(t, backend)
    await app.pricing.setPrice(PRICED, { input_per_1m: '2', output_per_1m: '8' })

    t.test('a usage-log row the database refuses is written reduced, and the money still moves', async (t) => {
      const { principal, userId } = await makeUserWithToken(app, { quota: 10_000 })
      const request = meterRequest(principal, PRICED, { maxCompletionTokens: 100 })
      const reservation = await app.meter.reserve(request)
      // NaN latency: NOT NULL / integer columns refuse it, as they once refused a function passed as the model.
      await app.meter.settle(request, reservation, delivered(10, 20, { latencyMs: Number.NaN, firstByteMs: Number.NaN }))
      const after = await ledger(app, userId)
      t.equal(after.logRows, 1, 'a row was written')
      t.equal(after.usedQuota, 90, 'the real cost was charged')
      t.equal(after.quota + after.usedQuota, after.topups, 'no reservation left open')
      t.equal(after.logQuota, 90)
      const { db, t: tables } = app.db
      const [row] = await db.select().from(tables.usageLogs).where((await import('drizzle-orm')).eq(tables.usageLogs.userId, userId))
      t.match(row!.error, /^usage-log row reduced: /)
      const metrics = await app.metrics.registry.metrics()
      t.match(metrics, /nexus_settlement_failures_total\{kind="reduced_row"\} [1-9]/)
    })
  })
}
