import t from 'tap'
import { planSettlement } from '../../src/billing/settle-plan.js'
import type { SettleUnit } from '../../src/billing/repository.js'
import { createTickBatcher } from '../../src/billing/tick-batch.js'
import { backends } from '../support/backends.js'
import { buildApp } from '../support/build-app.js'
import { delivered, ledger, makeToken, makeUserWithToken, meterRequest, tokenRow } from './fixtures.js'

const unit = (over: { userId: number; tokenId: number; channelId: number | null; reserved: number; quota: number; limited?: boolean; delivered?: boolean }): SettleUnit => ({
  reserved: over.reserved,
  cost: over.quota,
  overdraft: 0,
  forgiven: 0, prepaid: 0, leaseInstance: null, journalSeq: 0,
  tokenLimited: over.limited ?? false,
  delivered: over.delivered ?? true,
  log: {
    createdAt: new Date(0), requestId: 'r', userId: over.userId, tokenId: over.tokenId, channelId: over.channelId, model: 'm',
    upstreamModel: null, stream: false, promptTokens: 0, completionTokens: 0, cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, source: 'relay' as const, quota: over.quota, latencyMs: 0, firstByteMs: null,
    status: 200, error: null,
  },
})

t.test('planSettlement folds a batch into one change per row, sorted by id', async (t) => {
  const plan = planSettlement([
    unit({ userId: 2, tokenId: 20, channelId: 5, reserved: 100, quota: 90, limited: true }),
    unit({ userId: 1, tokenId: 10, channelId: 5, reserved: 50, quota: 70 }),
    unit({ userId: 2, tokenId: 20, channelId: null, reserved: 30, quota: 0, limited: true, delivered: false }),
    unit({ userId: 2, tokenId: 21, channelId: 6, reserved: 10, quota: 10 }),
  ])
  t.same(plan.users, [
    [1, { refund: -20, cost: 70, served: 1 }],
    [2, { refund: 10 + 30 + 0, cost: 100, served: 2 }],
  ])
  t.same(plan.tokens, [
    [10, { refund: 0, cost: 70, served: 1 }], // unlimited: remain_quota untouched
    [20, { refund: 40, cost: 90, served: 1 }],
    [21, { refund: 0, cost: 10, served: 1 }],
  ])
  t.same(plan.channels, [[5, 160], [6, 10]])
})

t.test('the tick batcher answers each caller with its own result and runs a turn in one call', async (t) => {
  const calls: number[][] = []
  const double = createTickBatcher((items: readonly number[]) => {
    calls.push([...items])
    return items.map((n) => n * 2)
  })
  t.same(await Promise.all([double(1), double(2), double(3)]), [2, 4, 6])
  t.same(calls, [[1, 2, 3]])
  t.equal(await double(4), 8)
  t.same(calls, [[1, 2, 3], [4]])
  const failing = createTickBatcher((): number[] => {
    throw new Error('disk full')
  })
  await t.rejects(Promise.all([failing(1), failing(2)]), /disk full/)
})

for (const backend of backends()) {
  t.test(`${backend.name}: batched reservations stay both-or-neither`, async (t) => {
    const { app } = await buildApp(t, backend)
    await app.pricing.setPrice('batch-model', { per_request: 0.0002 }) // 100 quota a request

    t.test('a limited token with room but a user without: neither balance moves', async (t) => {
      const { principal, userId, tokenId } = await makeUserWithToken(app, { quota: 150, tokenQuota: 1000 })
      const results = await Promise.allSettled([1, 2, 3].map(() => app.meter.reserve(meterRequest(principal, 'batch-model'))))
      t.equal(results.filter((r) => r.status === 'fulfilled').length, 1, 'one request fits the user')
      t.equal((await ledger(app, userId)).quota, 50)
      t.equal((await tokenRow(app, tokenId)).remainQuota, 900, 'the refused ones gave the token back its share')
    })

    t.test('many tokens of one user in one turn: exactly what the user can afford', async (t) => {
      const { principal, userId } = await makeUserWithToken(app, { quota: 1000 })
      const others = await Promise.all([1, 2, 3, 4].map(() => makeToken(app, { userId, quota: 1000, tokenQuota: 500 })))
      const principals = [principal, ...others.map((o) => o.principal)]
      const requests = Array.from({ length: 25 }, (_, i) => meterRequest(principals[i % principals.length]!, 'batch-model'))
      const results = await Promise.allSettled(requests.map((r) => app.meter.reserve(r)))
      t.equal(results.filter((r) => r.status === 'fulfilled').length, 10)
      await Promise.all(
        results.map((r, i) => (r.status === 'fulfilled' ? app.meter.settle(requests[i]!, r.value, delivered(0, 0)) : null)),
      )
      t.match(await ledger(app, userId), { quota: 0, usedQuota: 1000, logQuota: 1000, topups: 1000 })
    })
  })
}
