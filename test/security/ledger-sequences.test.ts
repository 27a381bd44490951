// Issue 13, item 4: random sequences of everything that moves a user's money — a partner top-up (and its retry), a
// request reserved and settled, a request that fails and is refunded, a request settled while a top-up lands in
// the middle, a recharge code redeemed (and tried again), an admin adjustment of either sign — keep every invariant
// after each step, against a model of what each step must do:
//   quota + used_quota = Σ ledger credits (top-ups, redemptions, adjustments, the grant), with credit leases returned;
//   used_quota = Σ usage_logs.quota = what the price formula says for the requests that were served;
//   a limited token's remain + used = its grant, and its used = the user's;
//   a refused step (too little balance, a duplicate payment, a used code, an adjustment below zero) changes nothing.
import { randomBytes } from 'node:crypto'
import fc from 'fast-check'
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { delivered, failed, ledger, makeToken, meterRequest, tokenRow } from '../billing/fixtures.js'
import { PARTNER_ENV, signed } from '../external/partner-client.js'
import { mintCodes, redeem } from '../redemption/helpers.js'
import { backends } from '../support/backends.js'
import { bearer, buildApp, login } from '../support/build-app.js'

const PRICED = 'ledger-seq-2-8' // $2 / $8 per 1M tokens
const PROMPT = 10
/** CONTRACT §4 for PRICED at 500,000 quota per USD: (10 × 2 + completion × 8) / 1M USD, rounded up. */
const costOf = (completion: number) => Math.ceil((PROMPT * 2 + completion * 8) / 2)
const TOKEN_GRANT = 50_000_000

type Step =
  | { kind: 'topup'; cents: number; retry: boolean }
  | { kind: 'request'; completion: number; outcome: 'served' | 'failed' | 'served-with-topup-midway' }
  | { kind: 'redeem'; cents: number; twice: boolean }
  | { kind: 'adjust'; delta: number }

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant('topup' as const), cents: fc.integer({ min: 1, max: 500 }), retry: fc.boolean() }),
  fc.record({
    kind: fc.constant('request' as const),
    completion: fc.integer({ min: 0, max: 4_000 }),
    outcome: fc.constantFrom('served' as const, 'failed' as const, 'served-with-topup-midway' as const),
  }),
  fc.record({ kind: fc.constant('redeem' as const), cents: fc.integer({ min: 1, max: 300 }), twice: fc.boolean() }),
  // Negative deltas larger than the balance must be refused whole.
  fc.record({ kind: fc.constant('adjust' as const), delta: fc.integer({ min: -3_000_000, max: 3_000_000 }).filter((d) => d !== 0) }),
)

for (const backend of backends()) {
  t.test(backend.name, async (t) => {
    const { app } = await buildApp(t, backend, { env: PARTNER_ENV })
    await app.pricing.setPrice(PRICED, { input_per_1m: 2, output_per_1m: 8 })
    const admin = await login(app)
    const perCent = app.config.quotaPerUsd / 100
    let run = 0
    const seen: Record<string, number> = {}

    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 12 }), async (steps) => {
        run += 1
        const external = `seq-${randomBytes(6).toString('hex')}`
        const synced = await signed(app, { method: 'POST', url: '/api/user/external/sync', body: { external_user_id: external } })
        if (synced.statusCode !== 201) throw new Error(`sync: ${synced.statusCode} ${synced.body}`)
        const userId = (synced.json() as { id: number }).id
        const { principal, tokenId } = await makeToken(app, { userId, tokenQuota: TOKEN_GRANT })
        const { token: session } = await app.sessions.issue(userId)
        const start = await ledger(app, userId)
        const model = { credits: start.topups, used: 0, served: 0 }

        for (const [i, s] of steps.entries()) {
          seen[s.kind] = (seen[s.kind] ?? 0) + 1
          await apply(app, s, { external, userId, principal, session, admin, perCent, model, tag: `${run}-${i}` })
          await assertInvariants(app, { userId, tokenId, model, what: `${JSON.stringify(steps.slice(0, i + 1))}` })
        }
      }),
      { numRuns: 40, seed: Number(process.env.LEDGER_SEED ?? 20261206) },
    )
    t.ok(run >= 40, `${run} random sequences kept every invariant`)
    t.comment(`steps run: ${JSON.stringify(seen)}`)
    for (const kind of ['topup', 'request', 'redeem', 'adjust']) t.ok((seen[kind] ?? 0) > 0, `${kind} steps were among them`)
  })
}

interface Context {
  external: string
  userId: number
  principal: Awaited<ReturnType<typeof makeToken>>['principal']
  session: string
  admin: string
  perCent: number
  model: { credits: number; used: number; served: number }
  tag: string
}

async function topup(app: FastifyInstance, c: Context, cents: number, paymentId: string) {
  return signed(app, {
    method: 'POST',
    url: '/api/user/external/topup',
    body: { external_user_id: c.external, payment_id: paymentId, amount_usd: (cents / 100).toFixed(2) },
  })
}

async function apply(app: FastifyInstance, s: Step, c: Context): Promise<void> {
  const { model } = c
  switch (s.kind) {
    case 'topup': {
      const payment = `pay-${c.tag}`
      const first = await topup(app, c, s.cents, payment)
      if (first.statusCode !== 200) throw new Error(`topup: ${first.statusCode} ${first.body}`)
      model.credits += s.cents * c.perCent
      if (s.retry) {
        const again = await topup(app, c, s.cents, payment)
        if (again.statusCode !== 200 || (again.json() as { duplicate: boolean }).duplicate !== true) throw new Error(`retry not a duplicate: ${again.body}`)
      }
      return
    }
    case 'request': {
      const request = meterRequest(c.principal, PRICED, { maxCompletionTokens: s.completion })
      let reservation
      try {
        reservation = await app.meter.reserve(request)
      } catch (err) {
        // Too little balance for the reservation: refused whole, nothing moves.
        if ((err as { statusCode?: number }).statusCode === 429) return
        throw err
      }
      if (s.outcome === 'served-with-topup-midway') {
        const mid = await topup(app, c, 1, `mid-${c.tag}`)
        if (mid.statusCode !== 200) throw new Error(`midway topup: ${mid.statusCode}`)
        model.credits += c.perCent
      }
      await app.meter.settle(request, reservation, s.outcome === 'failed' ? failed : delivered(PROMPT, s.completion))
      if (s.outcome !== 'failed') {
        model.used += costOf(s.completion)
        model.served += 1
      }
      return
    }
    case 'redeem': {
      const [code] = await mintCodes(app, c.admin, { amount_usd: (s.cents / 100).toFixed(2) })
      const res = await redeem(app, c.session, code!)
      if (res.statusCode !== 200) throw new Error(`redeem: ${res.statusCode} ${res.body}`)
      model.credits += s.cents * c.perCent
      if (s.twice) {
        const again = await redeem(app, c.session, code!)
        if (again.statusCode !== 400) throw new Error(`a used code redeemed again answered ${again.statusCode}`)
      }
      return
    }
    case 'adjust': {
      const balance = (await ledger(app, c.userId)).quota
      const res = await app.inject({
        method: 'POST',
        url: `/api/user/${c.userId}/quota`,
        headers: bearer(c.admin),
        payload: { delta: s.delta, remark: `seq ${c.tag}` },
      })
      if (balance + s.delta < 0) {
        if (res.statusCode !== 400) throw new Error(`an adjustment below zero answered ${res.statusCode} ${res.body}`)
        return
      }
      if (res.statusCode !== 200) throw new Error(`adjust: ${res.statusCode} ${res.body}`)
      model.credits += s.delta
      return
    }
  }
}

async function assertInvariants(
  app: FastifyInstance,
  c: { userId: number; tokenId: number; model: Context['model']; what: string },
): Promise<void> {
  const l = await ledger(app, c.userId)
  const token = await tokenRow(app, c.tokenId)
  const problems: string[] = []
  if (l.held !== 0) problems.push(`leases still held: ${l.held}`)
  if (l.quota + l.usedQuota !== l.topups) problems.push(`quota ${l.quota} + used ${l.usedQuota} ≠ Σ credits ${l.topups}`)
  if (l.topups !== c.model.credits) problems.push(`Σ credits ${l.topups} ≠ model ${c.model.credits}`)
  if (l.usedQuota !== l.logQuota) problems.push(`used ${l.usedQuota} ≠ Σ usage_logs ${l.logQuota}`)
  if (l.usedQuota !== c.model.used) problems.push(`used ${l.usedQuota} ≠ the formula's ${c.model.used}`)
  if (l.requestCount !== c.model.served) problems.push(`request_count ${l.requestCount} ≠ served ${c.model.served}`)
  if (l.quota < 0) problems.push(`balance below zero: ${l.quota}`)
  if (token.remainQuota + token.usedQuota !== TOKEN_GRANT) problems.push(`token remain ${token.remainQuota} + used ${token.usedQuota} ≠ ${TOKEN_GRANT}`)
  if (token.usedQuota !== c.model.used) problems.push(`token used ${token.usedQuota} ≠ ${c.model.used}`)
  if (problems.length > 0) throw new Error(`after ${c.what}: ${problems.join('; ')}`)
}
