import t from 'tap'
import { createMeter } from '../../src/billing/meter.js'
import { createBillingRepository } from '../../src/billing/repository.js'
import { backends } from '../support/backends.js'
import { buildApp } from '../support/build-app.js'
import { delivered, failed, ledger, makeUserWithToken, meterRequest, tokenRow } from './fixtures.js'

const PRICED = 'test-2-8' // $2 / $8 per 1M: 10 prompt + 20 completion = 90 quota

async function outcomeOf<T>(promise: Promise<T>): Promise<'ok' | number> {
  try {
    await promise
    return 'ok'
  } catch (err) {
    return (err as { statusCode?: number }).statusCode ?? 500
  }
}

for (const backend of backends()) {
  t.test(backend.name, async (t) => {
    const { app } = await buildApp(t, backend)
    await app.pricing.setPrice(PRICED, { input_per_1m: 2, output_per_1m: 8 })

    t.test('200 concurrent reserve+settle pairs (mixed outcomes) leave the ledger exact', async (t) => {
      const { principal, userId, tokenId } = await makeUserWithToken(app, { quota: 1_000_000, tokenQuota: 500_000 })
      const started = performance.now()
      const results = await Promise.all(
        Array.from({ length: 200 }, async (_, i) => {
          const request = meterRequest(principal, PRICED, { stream: i % 2 === 0, maxCompletionTokens: i % 4 === 0 ? null : 50 })
          const reservation = await app.meter.reserve(request)
          // every third fails upstream; the rest use from 0 to 39 completion tokens
          const outcome = i % 3 === 0 ? failed : delivered(10, i % 40)
          await app.meter.settle(request, reservation, outcome)
          return outcome.delivered ? Math.ceil((10 * 2 + (i % 40) * 8) / 2) : 0
        }),
      )
      t.comment(`${backend.name}: 200 reserve+settle pairs in ${Math.round(performance.now() - started)} ms`)
      const expected = results.reduce((a, b) => a + b, 0)
      const after = await ledger(app, userId)
      t.equal(after.logRows, 200)
      t.equal(after.usedQuota, expected, 'used_quota is what the formula says')
      t.equal(after.usedQuota, after.logQuota, 'used_quota = Σ usage_logs.quota')
      t.equal(after.quota + after.usedQuota, after.topups, 'quota + used_quota = Σ topups')
      t.equal(after.requestCount, results.filter((_, i) => i % 3 !== 0).length)
      const token = await tokenRow(app, tokenId)
      t.equal(token.usedQuota, expected)
      t.equal(token.remainQuota + token.usedQuota, 500_000, "the token's remain_quota is settled too")
    })

    t.test('a user with quota for exactly N requests gets exactly N reservations under concurrency', async (t) => {
      const N = 7
      // Each reservation: 10 prompt + 20 max tokens = 90 quota.
      const { principal, userId } = await makeUserWithToken(app, { quota: 90 * N })
      const outcomes = await Promise.all(
        Array.from({ length: 40 }, () => outcomeOf(app.meter.reserve(meterRequest(principal, PRICED, { maxCompletionTokens: 20 })))),
      )
      t.equal(outcomes.filter((o) => o === 'ok').length, N)
      t.equal(outcomes.filter((o) => o === 429).length, 40 - N)
      t.equal((await ledger(app, userId)).quota, 0)
    })

    t.test("a token's remain_quota is enforced the same way, and a refusal changes nothing", async (t) => {
      const N = 5
      const { principal, userId, tokenId } = await makeUserWithToken(app, { quota: 1_000_000, tokenQuota: 90 * N })
      const outcomes = await Promise.all(
        Array.from({ length: 30 }, () => outcomeOf(app.meter.reserve(meterRequest(principal, PRICED, { maxCompletionTokens: 20 })))),
      )
      t.equal(outcomes.filter((o) => o === 'ok').length, N)
      t.equal(outcomes.filter((o) => o === 429).length, 30 - N)
      t.equal((await tokenRow(app, tokenId)).remainQuota, 0)
      t.equal((await ledger(app, userId)).quota, 1_000_000 - 90 * N, 'the user paid only for the granted ones')
    })

    for (const groupCommit of [false, true]) {
      t.test(`settle throughput, group commit ${groupCommit ? 'on' : 'off'}`, async (t) => {
        const meter = createMeter({
          repo: createBillingRepository(app.db), pricing: app.pricing, quotaPerUsd: app.config.quotaPerUsd, defaultCompletionReserve: app.config.defaultCompletionReserve, clock: app.clock,
          metrics: app.metrics, log: app.log, groupCommit,
        })
        const { principal, userId } = await makeUserWithToken(app, { quota: 100_000_000 })
        const pairs = 500
        const run = async () => {
          const request = meterRequest(principal, PRICED, { maxCompletionTokens: 20 })
          await meter.settle(request, await meter.reserve(request), delivered(10, 20))
        }
        let started = performance.now()
        for (let i = 0; i < pairs; i++) await run()
        const sequential = (pairs / (performance.now() - started)) * 1000
        started = performance.now()
        let next = 0
        await Promise.all(Array.from({ length: 50 }, async () => {
          while (next++ < pairs) await run()
        }))
        const concurrent = (pairs / (performance.now() - started)) * 1000
        t.comment(`${backend.name}, group commit ${groupCommit ? 'on' : 'off'}: reserve+settle pairs/s sequential ${Math.round(sequential)}, 50 in flight ${Math.round(concurrent)}`)
        const after = await ledger(app, userId)
        t.equal(after.usedQuota, 90 * pairs * 2)
        t.equal(after.usedQuota, after.logQuota)
        t.equal(after.quota + after.usedQuota, after.topups)
      })
    }
  })
}
