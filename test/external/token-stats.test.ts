import t from 'tap'
import { backends } from '../support/backends.js'
import { FAKE_USAGE } from '../support/fake-upstream.js'
import { eventually, startRig } from '../relay/fixture.js'
import { PARTNER_ENV, signed } from './partner-client.js'

const DAY_MS = 86_400_000
const MODEL = 'partner-model'

for (const backend of backends()) {
  t.test(backend.name, async (t) => {
    const rig = await startRig(t, backend, { env: PARTNER_ENV })
    const { app } = rig
    const call = (method: 'GET' | 'POST', url: string, body?: unknown) => signed(app, { method, url, body })

    await rig.channel({ key: 'ok-partner', models: [MODEL] })
    // $2 / 1M prompt tokens, $8 / 1M completion tokens
    await rig.price(MODEL, { input_per_1m: '2', output_per_1m: '8' })
    const expectedCost = Math.ceil(((FAKE_USAGE.prompt_tokens * 2 + FAKE_USAGE.completion_tokens * 8) / 1e6) * 500_000)

    t.equal((await call('POST', '/api/user/external/sync', { external_user_id: 'p-1' })).statusCode, 201)

    t.test('POST /token → 201 with the whole key, valid 365 days by default', async (t) => {
      const res = await call('POST', '/api/user/external/token', { external_user_id: 'p-1' })
      t.equal(res.statusCode, 201, res.body)
      const token = res.json()
      t.match(token.key, /^sk-[A-Za-z0-9]{48}$/)
      t.equal(token.name, 'partner key')
      t.equal(token.unlimited_quota, true)
      const lifetime = Date.parse(token.expires_at) - Date.parse(token.created_at)
      t.ok(Math.abs(lifetime - 365 * DAY_MS) < 5_000, `lifetime ${lifetime}`)
      const user = await call('GET', '/api/user/external/p-1')
      t.equal(user.json().token_count, 1)
    })

    t.test('POST /token honours name, expiry, quota limit and models', async (t) => {
      const res = await call('POST', '/api/user/external/token', {
        external_user_id: 'p-1',
        name: 'monthly',
        expires_in_days: 30,
        unlimited_quota: false,
        remain_quota: 1000,
        models: [MODEL],
      })
      t.equal(res.statusCode, 201, res.body)
      t.match(res.json(), { name: 'monthly', unlimited_quota: false, remain_quota: 1000, models: [MODEL] })
      const lifetime = Date.parse(res.json().expires_at) - Date.parse(res.json().created_at)
      t.ok(Math.abs(lifetime - 30 * DAY_MS) < 5_000)
    })

    t.test('POST /token refusals', async (t) => {
      const unknown = await call('POST', '/api/user/external/token', { external_user_id: 'nobody' })
      t.equal(unknown.statusCode, 404)
      const extra = await call('POST', '/api/user/external/token', { external_user_id: 'p-1', allow_ips: ['1.2.3.4'] })
      t.equal(extra.statusCode, 400)
      t.equal(extra.json().error.param, 'allow_ips')
      const zero = await call('POST', '/api/user/external/token', { external_user_id: 'p-1', expires_in_days: 0 })
      t.equal(zero.statusCode, 400)
      t.equal(zero.json().error.param, 'expires_in_days')
    })

    t.test('from zero to a relayed request: top up, key, relay, stats by model and day', async (t) => {
      await call('POST', '/api/user/external/sync', { external_user_id: 'p-2' })
      const topup = await call('POST', '/api/user/external/topup', { external_user_id: 'p-2', amount_usd: '1', payment_id: 'e2e-1' })
      t.equal(topup.json().quota, 500_000)
      const key = (await call('POST', '/api/user/external/token', { external_user_id: 'p-2' })).json().key as string

      const res = await fetch(`${rig.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] }),
      })
      t.equal(res.status, 200, await res.clone().text())
      t.same(((await res.json()) as { usage: unknown }).usage, FAKE_USAGE)

      const stats = await eventually(
        async () => (await call('GET', '/api/user/external/p-2/stats')).json() as { request_count: number; used_quota: number },
        (s) => s.request_count === 1 && s.used_quota === expectedCost,
      )
      const today = new Date(app.clock.now()).toISOString().slice(0, 10)
      t.same(stats, {
        quota: 500_000 - expectedCost,
        used_quota: expectedCost,
        request_count: 1,
        by_model: [{ model: MODEL, requests: 1, ...pick(FAKE_USAGE), quota: expectedCost }],
        by_day: [{ date: today, requests: 1, quota: expectedCost }],
      })

      const user = (await call('GET', '/api/user/external/p-2')).json()
      t.match(user, { quota: 500_000 - expectedCost, used_quota: expectedCost, used_usd: expectedCost / 500_000 })

      const sameDay = await call('GET', `/api/user/external/p-2/stats?from=${today}&to=${today}`)
      t.equal(sameDay.json().request_count, 1, 'a bare `to` date includes the whole day')
      const tomorrow = new Date(app.clock.now() + DAY_MS).toISOString().slice(0, 10)
      const later = await call('GET', `/api/user/external/p-2/stats?from=${tomorrow}`)
      t.match(later.json(), { quota: 500_000 - expectedCost, used_quota: 0, request_count: 0, by_model: [], by_day: [] })
    })

    t.test('a top-up reaches the relay at once: 429 before, 200 right after', async (t) => {
      await call('POST', '/api/user/external/sync', { external_user_id: 'p-3' })
      const key = (await call('POST', '/api/user/external/token', { external_user_id: 'p-3' })).json().key as string
      const relay = () =>
        fetch(`${rig.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
          body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] }),
        })
      const broke = await relay()
      t.equal(broke.status, 429)
      t.equal(((await broke.json()) as { error: { code: string } }).error.code, 'insufficient_quota')
      const topup = await call('POST', '/api/user/external/topup', { external_user_id: 'p-3', amount_usd: '0.01', payment_id: 'p3-1' })
      t.equal(topup.json().quota, 5000)
      const paid = await relay()
      t.equal(paid.status, 200, await paid.clone().text())
      await paid.arrayBuffer()
    })

    t.test('GET /stats refusals', async (t) => {
      const bad = await call('GET', '/api/user/external/p-1/stats?from=yesterday')
      t.equal(bad.statusCode, 400)
      t.equal(bad.json().error.param, 'from')
      const reversed = await call('GET', '/api/user/external/p-1/stats?from=2026-02-01&to=2026-01-01')
      t.equal(reversed.statusCode, 400)
      const extra = await call('GET', '/api/user/external/p-1/stats?model=x')
      t.equal(extra.statusCode, 400)
      const unknown = await call('GET', '/api/user/external/nobody/stats')
      t.equal(unknown.statusCode, 404)
    })
  })
}

function pick(usage: typeof FAKE_USAGE) {
  return { prompt_tokens: usage.prompt_tokens, completion_tokens: usage.completion_tokens }
}
