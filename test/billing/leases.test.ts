// Credit leases (issue 10 item 2): a busy user's requests reserve and settle against a slice of the balance held
// in memory; the ledger shows the slice as held while it is out and is exact once it is returned.
import { and, eq, sql } from 'drizzle-orm'
import t from 'tap'
import { createLeaseRepository } from '../../src/billing/lease-repository.js'
import { backends } from '../support/backends.js'
import { buildApp } from '../support/build-app.js'
import { delivered, failed, ledger, makeUserWithToken, meterRequest, tokenRow } from './fixtures.js'

const PRICED = 'test-2-8' // $2 / $8 per 1M: 10 prompt + 20 completion = 90 quota

for (const backend of backends()) {
  t.test(backend.name, async (t) => {
    // Leases from the first reservation, kept until the test returns them (or, below, after 150 ms idle).
    const { app } = await buildApp(t, backend, { leases: { hotAfter: 0, idleMs: 600_000, sliceRequests: 32 } })
    await app.pricing.setPrice(PRICED, { input_per_1m: 2, output_per_1m: 8 })
    const leaseRows = async (userId: number) => {
      const { db, t: tb } = app.db
      return db.select().from(tb.quotaLeases).where(and(eq(tb.quotaLeases.kind, 'user'), eq(tb.quotaLeases.subjectId, userId)))
    }

    t.test('reservations come from a slice; the ledger shows it held, and is exact once it is returned', async (t) => {
      const { principal, userId, tokenId } = await makeUserWithToken(app, { quota: 10_000_000, tokenQuota: 5_000_000 })
      const results = await Promise.all(
        Array.from({ length: 300 }, async (_, i) => {
          const request = meterRequest(principal, PRICED, { maxCompletionTokens: 50, stream: i % 2 === 0 })
          const reservation = await app.meter.reserve(request)
          const outcome = i % 5 === 0 ? failed : delivered(10, i % 40)
          await app.meter.settle(request, reservation, outcome)
          return outcome.delivered ? Math.ceil((10 * 2 + (i % 40) * 8) / 2) : 0
        }),
      )
      const expected = results.reduce((a, b) => a + b, 0)
      // Settled and committed, lease still out: quota + used + held = topups.
      await app.meter.drain()
      const during = await ledger(app, userId, { keepLeases: true })
      t.ok(during.held > 0, 'a lease is held while the user is busy')
      t.equal(during.usedQuota, expected, 'used_quota is exact while the lease is out')
      t.equal(during.usedQuota, during.logQuota, 'used_quota = Σ usage_logs.quota')
      t.equal(during.quota + during.usedQuota + during.held, during.topups, 'quota + used_quota + held = Σ topups')
      t.ok(during.quota < 10_000_000 - expected, 'the slice came off the balance')
      const after = await ledger(app, userId)
      t.same(await leaseRows(userId), [], 'quiesce returned the lease')
      t.equal(after.held, 0)
      t.equal(after.quota + after.usedQuota, after.topups, 'quota + used_quota = Σ topups')
      t.equal(after.quota, 10_000_000 - expected)
      const token = await tokenRow(app, tokenId)
      t.equal(token.usedQuota, expected)
      t.equal(token.remainQuota + token.usedQuota, 5_000_000, "the limited token's lease went back too")
    })

    t.test('near a zero balance every reservation is exact: no lease, no overdraft', async (t) => {
      // 90 per reservation × 32 per slice × 2 (a lease never empties the balance) > 2,000.
      const { principal, userId } = await makeUserWithToken(app, { quota: 2_000 })
      const outcomes = await Promise.all(
        Array.from({ length: 60 }, async () => {
          try {
            const request = meterRequest(principal, PRICED, { maxCompletionTokens: 20 })
            const reservation = await app.meter.reserve(request)
            await app.meter.settle(request, reservation, delivered(10, 20))
            return 'ok'
          } catch (err) {
            return (err as { statusCode?: number }).statusCode ?? String(err)
          }
        }),
      )
      t.same(await leaseRows(userId), [], 'no lease was taken')
      const after = await ledger(app, userId)
      t.equal(outcomes.filter((o) => o === 'ok').length, Math.floor(2_000 / 90), 'exactly what the balance affords')
      t.ok(after.quota >= 0, 'no overdraft')
      t.equal(after.quota + after.usedQuota, after.topups)
    })

    t.test('a cost above its reservation is paid from the lease, and the ledger stays exact', async (t) => {
      const { principal, userId } = await makeUserWithToken(app, { quota: 10_000_000 })
      const warm = meterRequest(principal, PRICED, { maxCompletionTokens: 20 })
      await app.meter.settle(warm, await app.meter.reserve(warm), delivered(10, 20))
      // Reserved for 20 completion tokens, the upstream reports 2,000.
      const request = meterRequest(principal, PRICED, { maxCompletionTokens: 20 })
      const reservation = await app.meter.reserve(request)
      await app.meter.settle(request, reservation, delivered(10, 2_000))
      const after = await ledger(app, userId)
      t.equal(after.usedQuota, 90 + Math.ceil((10 * 2 + 2_000 * 8) / 2), 'charged in full')
      t.equal(after.quota + after.usedQuota, after.topups)
    })

    t.test('an idle lease goes back by itself', async (t) => {
      const idle = await buildApp(t, backend, { leases: { hotAfter: 0, idleMs: 150 } })
      await idle.app.pricing.setPrice(PRICED, { input_per_1m: 2, output_per_1m: 8 })
      const { principal, userId } = await makeUserWithToken(idle.app, { quota: 10_000_000 })
      const request = meterRequest(principal, PRICED, { maxCompletionTokens: 20 })
      await idle.app.meter.settle(request, await idle.app.meter.reserve(request), delivered(10, 20))
      const { db, t: tb } = idle.app.db
      const rows = () => db.select().from(tb.quotaLeases).where(and(eq(tb.quotaLeases.kind, 'user'), eq(tb.quotaLeases.subjectId, userId)))
      let seen = (await rows()).length
      t.ok(seen > 0, 'a lease was taken')
      for (let i = 0; i < 200 && seen > 0; i++) {
        await new Promise((r) => setTimeout(r, 50))
        seen = (await rows()).length
      }
      t.equal(seen, 0, 'returned without being asked')
      const after = await ledger(idle.app, userId, { keepLeases: true })
      t.equal(after.quota, 10_000_000 - 90)
      t.equal(after.quota + after.usedQuota, after.topups)
    })

    t.test('the balance a user is shown holds each lease once, while leases come and go', async (t) => {
      // quota + held is the balance (GET /api/user/self): read while slices are taken and returned on the pool's
      // other connections, it never counts one twice (returned, read before) or not at all (taken, read after).
      const { userId } = await makeUserWithToken(app, { quota: 1_000_000 })
      const repo = createLeaseRepository(app.db)
      let moving = true
      const mover = (async () => {
        for (let i = 0; moving && i < 400; i++) {
          const instanceId = `balance-test-${i % 3}`
          await repo.acquire({ instanceId, userId, tokenId: null, slice: 1_000 + i, floor: 2_000 + 2 * i, at: new Date() })
          if (i % 2 === 1) await repo.release(instanceId, 'user', userId)
        }
        for (let i = 0; i < 3; i++) await repo.release(`balance-test-${i}`, 'user', userId)
      })()
      const seen = new Set<number>()
      let reads = 0
      for (; reads < 300; reads++) {
        const balance = (await app.billing.balanceOf(userId))!
        seen.add(balance.quota + balance.held)
      }
      moving = false
      await mover
      t.same([...seen], [1_000_000], `quota + held was 1,000,000 in each of ${reads} reads`)
      t.same(await app.billing.balanceOf(userId), { quota: 1_000_000, held: 0 }, 'all of it back once the leases are returned')
      t.equal(await app.billing.balanceOf(2 ** 31 - 1), null, 'no such user: null')
    })

    t.test('a clean stop returns every lease', async (t) => {
      // The viewer owns the database (closing `other` must not drop it).
      const viewer = await buildApp(t, backend, { leases: false })
      const other = await buildApp(t, backend, { share: viewer, leases: { hotAfter: 0, idleMs: 60_000 } })
      await other.app.pricing.setPrice(PRICED, { input_per_1m: 2, output_per_1m: 8 })
      const { principal, userId } = await makeUserWithToken(other.app, { quota: 10_000_000 })
      const request = meterRequest(principal, PRICED, { maxCompletionTokens: 20 })
      await other.app.meter.settle(request, await other.app.meter.reserve(request), delivered(10, 20))
      const { db, t: tb } = other.app.db
      const held = await db.select({ n: sql<number>`count(*)` }).from(tb.quotaLeases).where(eq(tb.quotaLeases.subjectId, userId))
      t.ok(Number(held[0]!.n) > 0, 'a lease is out before the stop')
      await other.close()
      const after = await ledger(viewer.app, userId)
      t.equal(after.held, 0)
      t.equal(after.quota, 10_000_000 - 90)
      t.equal(after.quota + after.usedQuota, after.topups)
    })
  })
}
