// Issue 9's property test: random model names (every Object.prototype key among them) and random completion
// limits (valid, negative, huge, fractional, strings) through the whole relay; after each request the ledger
// invariant of CONTRACT §4 holds and the balance never ends below minus one increment.
import fc from 'fast-check'
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { ledger as ledgerOf } from '../billing/fixtures.js'
import { post, startRig } from '../relay/fixture.js'
import { backends } from '../support/backends.js'
import { bearer, login } from '../support/build-app.js'

async function settledLedger(app: FastifyInstance, userId: number) {
  for (let i = 0; i < 200; i++) {
    const ledger = await ledgerOf(app, userId)
    if (ledger.quota + ledger.usedQuota === ledger.topups) return ledger
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  return ledgerOf(app, userId)
}

const PROTO_NAMES = Object.getOwnPropertyNames(Object.prototype)
const model = fc.oneof(
  fc.constantFrom(...PROTO_NAMES, 'prop-model', 'prop/org-model:v1', '@cf/meta/x'),
  fc.string({ minLength: 0, maxLength: 140 }),
  fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,20}$/),
)
const limit = fc.oneof(
  fc.constant(undefined),
  fc.integer({ min: 0, max: 5000 }),
  fc.integer({ min: -10, max: -1 }),
  fc.constantFrom(1e300, 2 ** 53, 2 ** 53 - 1, 1.5, Number.MAX_SAFE_INTEGER, 10_000_001),
  fc.constantFrom('100', null, true, {}, [1]),
)

for (const backend of backends()) {
  t.test(backend.name, async (t) => {
    const rig = await startRig(t, backend, { env: { DEFAULT_COMPLETION_RESERVE: '64' }, upstream: { chunks: 30 } })
    const { app } = rig
    await rig.channel({ key: 'ok-property-any-000011112222', model_mapping: { 'prop-model': 'mapped-model', toString: 'mapped-ts' } })
    await rig.channel({ key: 'greedy-property-0000111122223', models: ['prop-greedy'] })
    await rig.price('default', { input_per_1m: '3', output_per_1m: '15' })

    const username = 'property-user'
    await app.inject({ method: 'POST', url: '/api/auth/register', payload: { username, password: 'password-123' } })
    const userId = (await app.usersRepo.findByUsername(username))!.id
    await app.inject({ method: 'POST', url: `/api/user/${userId}/quota`, headers: bearer(rig.adminSession), payload: { delta: 40_000, remark: 'property' } })
    const session = await login(app, username, 'password-123')
    const key = ((await app.inject({ method: 'POST', url: '/api/token', headers: bearer(session), payload: { name: 'p' } })).json() as { key: string }).key
    // One increment of the default price: 1,024 completion tokens at $15/M.
    const increment = Math.ceil((1024 * 15) / 1e6 * 500_000)

    await t.test('the ledger invariant holds after every request, whatever the model and the limit', async (t) => {
      let requests = 0
      await fc.assert(
        fc.asyncProperty(model, limit, fc.boolean(), fc.boolean(), async (name, maxTokens, stream, greedy) => {
          const body: Record<string, unknown> = { model: greedy ? 'prop-greedy' : name, messages: [{ role: 'user', content: 'hi' }], stream }
          if (maxTokens !== undefined) body.max_tokens = maxTokens
          const res = await post(rig, '/v1/chat/completions', key, body)
          const text = await res.text()
          requests++
          if (![200, 400, 429].includes(res.status)) throw new Error(`unexpected ${res.status}: ${text.slice(0, 300)}`)
          const ledger = await settledLedger(app, userId)
          if (ledger.quota + ledger.usedQuota !== ledger.topups) throw new Error(`open reservation left: ${JSON.stringify(ledger)}`)
          if (ledger.usedQuota !== ledger.logQuota) throw new Error(`used_quota ≠ Σ usage_log.quota: ${JSON.stringify(ledger)}`)
          if (ledger.quota < -increment) throw new Error(`balance ${ledger.quota} below −${increment}`)
          // Keep the balance alive (a top-up is a credit like any other), so later runs are relayed, not all refused.
          if (ledger.quota < 2_000) {
            await app.inject({ method: 'POST', url: `/api/user/${userId}/quota`, headers: bearer(rig.adminSession), payload: { delta: 40_000, remark: 'refill' } })
          }
        }),
        { numRuns: 120, seed: 20261129 },
      )
      t.equal(requests, 120)
      const ledger = await ledgerOf(app, userId)
      t.equal(ledger.quota + ledger.usedQuota, ledger.topups, 'quota + used_quota = Σ credits')
      t.equal(ledger.usedQuota, ledger.logQuota, 'used_quota = Σ usage_log.quota')
      t.ok(ledger.quota >= -increment, `balance ${ledger.quota} ≥ −${increment}`)
    })
  })
}
