// chargeUnits: what a settlement batch charges when costs pass their reservations (issue 9, finding 2).
import t from 'tap'
import type { SettleUnit } from '../../src/billing/repository.js'
import { chargeUnits, needsBalances } from '../../src/billing/settle-plan.js'

const unit = (o: { userId?: number; tokenId?: number; reserved: number; cost: number; overdraft?: number; limited?: boolean }): SettleUnit => ({
  reserved: o.reserved,
  cost: o.cost,
  overdraft: o.overdraft ?? 10,
  tokenLimited: o.limited ?? false,
  delivered: true,
  forgiven: 0, prepaid: 0, leaseInstance: null, journalSeq: 0,
  log: {
    createdAt: new Date(0), requestId: 'r', userId: o.userId ?? 1, tokenId: o.tokenId ?? 1, channelId: null, model: 'm',
    upstreamModel: null, stream: false, promptTokens: 0, completionTokens: 0, cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, source: 'relay' as const, quota: -1, latencyMs: 0, firstByteMs: null,
    status: 200, error: null,
  },
})

t.test('a cost within its reservation is charged in full and needs no balance', async (t) => {
  const units = [unit({ reserved: 100, cost: 60 })]
  t.same(needsBalances(units), { users: [], tokens: [] })
  chargeUnits(units, new Map(), new Map())
  t.equal(units[0]!.log.quota, 60)
  t.equal(units[0]!.forgiven, 0)
})

t.test('an excess is taken from the balance down to minus the overdraft, the rest forgiven', async (t) => {
  const units = [unit({ reserved: 100, cost: 500 })]
  t.same(needsBalances(units), { users: [1], tokens: [] })
  chargeUnits(units, new Map([[1, 50]]), new Map())
  t.equal(units[0]!.log.quota, 160, 'reserved 100 + 50 of balance + 10 of overdraft')
  t.equal(units[0]!.forgiven, 340)
})

t.test('units of one user in a batch see each other: the floor holds for the batch as a whole', async (t) => {
  const units = [unit({ reserved: 100, cost: 20 }), unit({ reserved: 100, cost: 400 }), unit({ reserved: 100, cost: 400 })]
  chargeUnits(units, new Map([[1, 0]]), new Map())
  // The first gives back 80; the second takes those 80 and the 10 of overdraft; the third finds nothing left.
  t.same(units.map((u) => u.log.quota), [20, 190, 100])
  const end = 0 + units.reduce((sum, u) => sum + (u.reserved - u.log.quota), 0)
  t.equal(end, -10, 'the balance ends exactly one overdraft below zero')
})

t.test('a limited token bounds the excess too', async (t) => {
  const units = [unit({ reserved: 100, cost: 1000, limited: true, tokenId: 7 })]
  t.same(needsBalances(units), { users: [1], tokens: [7] })
  chargeUnits(units, new Map([[1, 10_000]]), new Map([[7, 30]]))
  t.equal(units[0]!.log.quota, 140, 'the token had 30 and 10 of overdraft')
  t.equal(units[0]!.forgiven, 860)
})

t.test('charging is recomputed from the cost on a retry, never from an earlier attempt', async (t) => {
  const units = [unit({ reserved: 100, cost: 500 })]
  chargeUnits(units, new Map([[1, 0]]), new Map())
  t.equal(units[0]!.log.quota, 110)
  chargeUnits(units, new Map([[1, 1000]]), new Map())
  t.equal(units[0]!.log.quota, 500, 'a retry with money on the balance charges the whole cost')
  t.equal(units[0]!.forgiven, 0)
})
