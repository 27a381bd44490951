// CONTRACT §4's invariants through the whole relay over real HTTP: concurrent clients of one user mixing
// streams, non-streams, failing upstreams and streams cut mid-way, on every backend.
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { backends } from '../support/backends.js'
import { bearer, login } from '../support/build-app.js'
import { startRig } from '../relay/fixture.js'
import { ledger as ledgerOf } from './fixtures.js'

/** Polls until `n` usage-log rows exist for the user: settlement runs just after each response ends. */
async function settled(app: FastifyInstance, userId: number, n: number) {
  for (let i = 0; i < 200; i++) {
    const ledger = await ledgerOf(app, userId)
    if (ledger.logRows >= n) return ledger
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  return ledgerOf(app, userId)
}

async function userWithKey(app: FastifyInstance, admin: string, username: string, quota: number) {
  await app.inject({ method: 'POST', url: '/api/auth/register', payload: { username, password: 'password-123' } })
  const id = (await app.usersRepo.findByUsername(username))!.id
  const grant = await app.inject({ method: 'POST', url: `/api/user/${id}/quota`, headers: bearer(admin), payload: { delta: quota, remark: 'test' } })
  if (grant.statusCode !== 200) throw new Error(grant.body)
  const session = await login(app, username, 'password-123')
  const token = await app.inject({ method: 'POST', url: '/api/token', headers: bearer(session), payload: { name: 'k' } })
  return { id, key: (token.json() as { key: string }).key }
}

for (const backend of backends()) {
  t.test(backend.name, async (t) => {
    const rig = await startRig(t, backend)
    const { app } = rig
    await rig.channel({ key: 'ok-invariants-000011112222', models: ['mix-ok'] })
    await rig.channel({ key: 'err500-invariants-0000111122', models: ['mix-fail'] })
    await rig.channel({ key: 'cut-invariants-000011112222', models: ['mix-cut'] })
    for (const model of ['mix-ok', 'mix-fail', 'mix-cut']) await rig.price(model, { input_per_1m: '2', output_per_1m: '8' })
    await rig.price('mix-n', { per_request: '0.0002' }) // 100 quota a request
    await rig.channel({ key: 'ok-invariants-n-0000111122', models: ['mix-n'] })

    const send = (key: string, model: string, stream: boolean, includeUsage = false) =>
      fetch(`${rig.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          model,
          stream,
          ...(includeUsage ? { stream_options: { include_usage: true } } : {}),
          messages: [{ role: 'user', content: 'hi' }],
        }),
      }).then(async (res) => ({ status: res.status, body: await res.text().catch(() => '') }))

    t.test('200 concurrent mixed requests of one user: no lost update, no double charge', async (t) => {
      const user = await userWithKey(app, rig.adminSession, 'mixer', 10_000_000)
      const kinds = [
        () => send(user.key, 'mix-ok', false),
        () => send(user.key, 'mix-ok', true),
        () => send(user.key, 'mix-ok', true, true),
        () => send(user.key, 'mix-fail', false),
        () => send(user.key, 'mix-cut', true),
      ]
      const results = await Promise.all(Array.from({ length: 200 }, (_, i) => kinds[i % kinds.length]!()))
      const ok = results.filter((r) => r.status === 200).length
      t.equal(ok, 160, 'ok and cut streams answer 200; the failing upstream does not')
      t.equal(results.filter((r) => r.status === 500).length, 40)

      const ledger = await settled(app, user.id, 200)
      t.equal(ledger.logRows, 200, 'one usage-log row per request')
      t.equal(ledger.usedQuota, ledger.logQuota, 'used_quota = Σ usage_log.quota')
      t.equal(ledger.quota + ledger.usedQuota, ledger.topups, 'quota + used_quota = Σ credits')
      t.equal(ledger.requestCount, 160, 'request_count counts the requests that reached the client')
      // 120 whole answers at 90 each (10 prompt + 20 completion tokens at $2/$8); cut streams are billed
      // for what they streamed, which is more than nothing and less than a whole answer.
      t.ok(ledger.usedQuota > 120 * 90 && ledger.usedQuota < 160 * 90, `used ${ledger.usedQuota}`)
    })

    t.test('a user with quota for exactly N requests gets exactly N served under concurrency', async (t) => {
      const user = await userWithKey(app, rig.adminSession, 'exactly', 1000)
      const results = await Promise.all(Array.from({ length: 30 }, (_, i) => send(user.key, 'mix-n', i % 2 === 0)))
      t.equal(results.filter((r) => r.status === 200).length, 10)
      const refused = results.filter((r) => r.status === 429)
      t.equal(refused.length, 20)
      t.ok(refused.every((r) => JSON.parse(r.body).error.code === 'insufficient_quota'))
      // Requests refused at the reservation never reached an upstream and leave no usage-log row.
      const ledger = await settled(app, user.id, 10)
      t.equal(ledger.logRows, 10)
      t.same(
        { quota: ledger.quota, usedQuota: ledger.usedQuota, logQuota: ledger.logQuota, topups: ledger.topups },
        { quota: 0, usedQuota: 1000, logQuota: 1000, topups: 1000 },
      )
    })
  })
}
