// CONTRACT §3's error table, row by row, over real HTTP.
import t from 'tap'
import { backends } from '../support/backends.js'
import { bearer, login } from '../support/build-app.js'
import { chat, post, startRig } from './fixture.js'

const MB = 1024 * 1024

async function errorOf(res: Response): Promise<{ status: number; code: unknown; type: unknown; param: unknown; retry: string | null }> {
  const body = (await res.json()) as { error: { code: unknown; type: unknown; param: unknown } }
  return { status: res.status, code: body.error.code, type: body.error.type, param: body.error.param, retry: res.headers.get('x-should-retry') }
}

for (const backend of backends()) {
  t.test(backend.name, async (t) => {
    const rig = await startRig(t, backend, { env: { BODY_LIMIT_BYTES: String(MB) } })
    await rig.channel({ key: 'ok-errors', models: ['gpt-4o-mini', 'unpriced-model'] })
    const { key } = await rig.token()

    t.test('no, malformed or unknown key → 401 invalid_api_key', async (t) => {
      const none = await fetch(`${rig.url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify(chat('gpt-4o-mini')), headers: { 'content-type': 'application/json' } })
      t.match(await errorOf(none), { status: 401, code: 'invalid_api_key', type: 'authentication_error', retry: 'false' })
      t.match(await errorOf(await post(rig, '/v1/chat/completions', 'junk', chat('gpt-4o-mini'))), { status: 401, code: 'invalid_api_key' })
      const unknown = `sk-${'a'.repeat(48)}`
      t.match(await errorOf(await post(rig, '/v1/chat/completions', unknown, chat('gpt-4o-mini'))), { status: 401, code: 'invalid_api_key' })
    })

    t.test('a bad key is refused before its body is read: broken JSON still gets 401', async (t) => {
      t.match(await errorOf(await post(rig, '/v1/chat/completions', 'junk', '{"model":')), { status: 401, code: 'invalid_api_key' })
    })

    t.test('disabled token → 401 token_disabled', async (t) => {
      const token = await rig.token()
      const patch = await rig.app.inject({ method: 'PATCH', url: `/api/token/${token.id}`, headers: bearer(rig.adminSession), payload: { status: 'disabled' } })
      t.equal(patch.statusCode, 200)
      t.match(await errorOf(await post(rig, '/v1/chat/completions', token.key, chat('gpt-4o-mini'))), { status: 401, code: 'token_disabled' })
    })

    t.test('expired token → 401 token_expired', async (t) => {
      const token = await rig.token()
      const patch = await rig.app.inject({
        method: 'PATCH', url: `/api/token/${token.id}`, headers: bearer(rig.adminSession), payload: { expires_at: new Date(Date.now() - 60_000).toISOString() },
      })
      t.equal(patch.statusCode, 200, patch.body)
      t.match(await errorOf(await post(rig, '/v1/chat/completions', token.key, chat('gpt-4o-mini'))), { status: 401, code: 'token_expired' })
    })

    t.test("token's own quota used up → 429 insufficient_quota", async (t) => {
      const token = await rig.token({ unlimited_quota: false, remain_quota: 0 })
      t.match(await errorOf(await post(rig, '/v1/chat/completions', token.key, chat('gpt-4o-mini'))), { status: 429, code: 'insufficient_quota', type: 'insufficient_quota' })
    })

    t.test("user's quota below the reservation → 429 insufficient_quota; disabled user → 403 user_disabled", async (t) => {
      const reg = await rig.app.inject({ method: 'POST', url: '/api/auth/register', payload: { username: 'poor', password: 'poor-password' } })
      t.equal(reg.statusCode, 201)
      const session = await login(rig.app, 'poor', 'poor-password')
      const made = await rig.app.inject({ method: 'POST', url: '/api/token', headers: bearer(session), payload: { name: 'mine' } })
      t.equal(made.statusCode, 201)
      const poorKey = (made.json() as { key: string }).key
      t.match(await errorOf(await post(rig, '/v1/chat/completions', poorKey, chat('gpt-4o-mini'))), { status: 429, code: 'insufficient_quota' })
      t.equal(rig.upstream.countFor('ok-errors'), 0, 'nothing was forwarded')

      const userId = (reg.json() as { id: number }).id
      const disable = await rig.app.inject({ method: 'PATCH', url: `/api/user/${userId}`, headers: bearer(rig.adminSession), payload: { status: 'disabled' } })
      t.equal(disable.statusCode, 200, disable.body)
      t.match(await errorOf(await post(rig, '/v1/chat/completions', poorKey, chat('gpt-4o-mini'))), { status: 403, code: 'user_disabled', retry: 'false' })
    })

    t.test('model outside the token list → 403 model_not_allowed', async (t) => {
      const token = await rig.token({ models: ['gpt-4o'] })
      t.match(await errorOf(await post(rig, '/v1/chat/completions', token.key, chat('gpt-4o-mini'))), { status: 403, code: 'model_not_allowed', type: 'permission_error' })
    })

    t.test('client IP outside allow_ips → 403 ip_not_allowed', async (t) => {
      const token = await rig.token({ allow_ips: ['10.1.2.0/24'] })
      t.match(await errorOf(await post(rig, '/v1/chat/completions', token.key, chat('gpt-4o-mini'))), { status: 403, code: 'ip_not_allowed' })
      const allowed = await rig.token({ allow_ips: ['127.0.0.1'] })
      t.equal((await post(rig, '/v1/chat/completions', allowed.key, chat('gpt-4o-mini'))).status, 200)
    })

    t.test('broken JSON, missing model, messages not an array → 400 invalid_request', async (t) => {
      t.match(await errorOf(await post(rig, '/v1/chat/completions', key, '{"model": "gpt-4o-mini",')), { status: 400, code: 'invalid_request', type: 'invalid_request_error' })
      t.match(await errorOf(await post(rig, '/v1/chat/completions', key, { messages: [] })), { status: 400, code: 'invalid_request', param: 'model' })
      t.match(await errorOf(await post(rig, '/v1/chat/completions', key, { model: 'gpt-4o-mini', messages: 'hi' })), { status: 400, param: 'messages' })
      t.match(await errorOf(await post(rig, '/v1/embeddings', key, { model: 7, input: 'x' })), { status: 400, param: 'model' })
      t.match(await errorOf(await post(rig, '/v1/chat/completions', key, '[1,2]')), { status: 400, code: 'invalid_request' })
    })

    t.test('a 2 MB body over a 1 MB limit → 413 body_too_large', async (t) => {
      const big = chat('gpt-4o-mini', { messages: [{ role: 'user', content: 'x'.repeat(2 * MB) }] })
      t.match(await errorOf(await post(rig, '/v1/chat/completions', key, big)), { status: 413, code: 'body_too_large', type: 'invalid_request_error' })
    })

    t.test('a model without any price → 400 model_price_unset', async (t) => {
      t.match(await errorOf(await post(rig, '/v1/chat/completions', key, chat('unpriced-model'))), { status: 400, code: 'model_price_unset' })
    })

    t.test('no enabled channel serves the model → 500 no_available_channel, not to be retried', async (t) => {
      await rig.price('nobody-serves-this')
      const res = await post(rig, '/v1/chat/completions', key, chat('nobody-serves-this'))
      t.match(await errorOf(res), { status: 500, code: 'no_available_channel', retry: 'false' })
    })

    t.test('x-request-id: echoed to the client and forwarded upstream; the upstream id kept apart', async (t) => {
      const res = await post(rig, '/v1/chat/completions', key, chat('gpt-4o-mini'), { 'x-request-id': 'client-req-42' })
      t.equal(res.status, 200)
      t.equal(res.headers.get('x-request-id'), 'client-req-42')
      t.equal(res.headers.get('x-upstream-request-id'), 'req_fake_upstream')
      t.equal(rig.upstream.lastFor('ok-errors')?.headers['x-request-id'], 'client-req-42')
      t.equal(rig.upstream.lastFor('ok-errors')?.headers.authorization, 'Bearer ok-errors', 'the channel key replaced the relay key')
      const generated = await post(rig, '/v1/chat/completions', key, chat('gpt-4o-mini'))
      t.match(generated.headers.get('x-request-id'), /^[0-9a-f-]{36}$/)
      t.equal(rig.upstream.lastFor('ok-errors')?.headers['x-request-id'], generated.headers.get('x-request-id'))
      await generated.text()
    })

    t.test('unknown fields travel to the upstream untouched', async (t) => {
      const res = await post(rig, '/v1/chat/completions', key, chat('gpt-4o-mini', { temperature: 0.3, vendor_extension: { a: [1, 2] } }))
      t.equal(res.status, 200)
      await res.text()
      t.match(rig.upstream.lastFor('ok-errors')?.body, { temperature: 0.3, vendor_extension: { a: [1, 2] } })
    })
  })
}
