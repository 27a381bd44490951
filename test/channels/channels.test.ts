import t from 'tap'
import { eq } from 'drizzle-orm'
import { backends } from '../support/backends.js'
import { bearer, buildApp, login } from '../support/build-app.js'
import { startFakeUpstream } from '../support/fake-upstream.js'

async function eventually(check: () => boolean, ms = 1000): Promise<boolean> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() >= deadline) return false
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  return true
}

const SECRET = 'sk-channelsecret-0123456789abcdefWXYZ'

for (const backend of backends()) {
  t.test(backend.name, async (t) => {
    const first = await buildApp(t, backend)
    const { app } = first
    const admin = bearer(await login(app))
    const upstream = await startFakeUpstream()
    t.teardown(() => upstream.close())

    const create = (payload: Record<string, unknown>) => app.inject({ method: 'POST', url: '/api/channel', headers: admin, payload })

    t.test('POST → 201 with defaults and the key masked, never whole', async (t) => {
      const res = await create({ name: 'openai main', key: SECRET })
      t.equal(res.statusCode, 201, res.body)
      const body = res.json()
      t.same(Object.keys(body).sort(), [
        'base_url', 'circuit', 'created_at', 'groups', 'id', 'key', 'model_mapping', 'models', 'name', 'priority',
        'response_time_ms', 'status', 'status_reason', 'type', 'updated_at', 'used_quota', 'weight',
      ])
      t.match(body, {
        type: 'openai', name: 'openai main', base_url: 'https://api.openai.com', key: 'sk-ch...WXYZ', models: [],
        model_mapping: {}, groups: ['default'], priority: 0, weight: 1, status: 'enabled', status_reason: null, circuit: 'closed', used_quota: 0,
      })
      t.notOk(res.body.includes(SECRET))
    })

    t.test('the key is stored encrypted, and decrypted only into the pool', async (t) => {
      const res = await create({ name: 'stored', key: SECRET, models: ['m-stored'] })
      const id = res.json().id as number
      const rows = await app.db.db.select().from(app.db.t.channels).where(eq(app.db.t.channels.id, id))
      t.notOk(rows[0]!.keyEncrypted.includes(SECRET))
      t.match(rows[0]!.keyEncrypted, /^v1:/)
      t.equal(app.channelPool.byId(id)?.key, SECRET)
      t.same(app.channelPool.candidates('default', 'm-stored').map((c) => c.id).includes(id), true)
    })

    t.test('400 invalid_request with param for a missing or empty key or name and a non-http base_url', async (t) => {
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ name: 'no key' }, 'key'],
        [{ name: 'empty key', key: '' }, 'key'],
        [{ key: SECRET }, 'name'],
        [{ name: '', key: SECRET }, 'name'],
        [{ name: 'ftp', key: SECRET, base_url: 'ftp://example.com' }, 'base_url'],
        [{ name: 'weird type', key: SECRET, type: 'nope' }, 'type'],
      ]
      for (const [payload, param] of cases) {
        const res = await create(payload)
        t.equal(res.statusCode, 400, JSON.stringify(payload))
        t.match(res.json().error, { type: 'invalid_request_error', code: 'invalid_request', param })
      }
    })

    t.test('GET list is paged and every key masked', async (t) => {
      const res = await app.inject({ method: 'GET', url: '/api/channel?page=1&page_size=100', headers: admin })
      t.equal(res.statusCode, 200)
      const body = res.json()
      t.match(body, { page: 1, page_size: 100 })
      t.ok(body.total >= 2)
      t.equal(body.data.length, body.total)
      t.notOk(res.body.includes(SECRET))
      for (const channel of body.data) t.equal(channel.key, 'sk-ch...WXYZ')
    })

    t.test('PUT renames, PATCH changes status, both answer the channel', async (t) => {
      const id = (await create({ name: 'before', key: SECRET, models: ['m-put'] })).json().id
      const put = await app.inject({ method: 'PUT', url: `/api/channel/${id}`, headers: admin, payload: { name: 'after' } })
      t.equal(put.statusCode, 200)
      t.match(put.json(), { id, name: 'after', key: 'sk-ch...WXYZ' })
      const patch = await app.inject({ method: 'PATCH', url: `/api/channel/${id}`, headers: admin, payload: { status: 'disabled' } })
      t.equal(patch.statusCode, 200)
      t.equal(patch.json().status, 'disabled')
      t.equal(app.channelPool.byId(id), undefined, 'a disabled channel leaves the pool')
      const get = await app.inject({ method: 'GET', url: `/api/channel/${id}`, headers: admin })
      t.match(get.json(), { name: 'after', status: 'disabled' })
    })

    t.test('DELETE → 204, then 404; unknown and non-integer ids', async (t) => {
      const id = (await create({ name: 'doomed', key: SECRET })).json().id
      const del = await app.inject({ method: 'DELETE', url: `/api/channel/${id}`, headers: admin })
      t.equal(del.statusCode, 204)
      t.equal(del.body, '')
      t.equal((await app.inject({ method: 'GET', url: `/api/channel/${id}`, headers: admin })).statusCode, 404)
      t.equal((await app.inject({ method: 'DELETE', url: `/api/channel/${id}`, headers: admin })).statusCode, 404)
      t.equal((await app.inject({ method: 'PATCH', url: `/api/channel/999999`, headers: admin, payload: { name: 'x' } })).statusCode, 404)
      t.equal((await app.inject({ method: 'GET', url: '/api/channel/abc', headers: admin })).statusCode, 400)
    })

    t.test('non-admins get 403, no session 401', async (t) => {
      await app.inject({ method: 'POST', url: '/api/auth/register', payload: { username: 'plain', password: 'plain-password' } })
      const user = bearer(await login(app, 'plain', 'plain-password'))
      const res = await app.inject({ method: 'GET', url: '/api/channel', headers: user })
      t.equal(res.statusCode, 403)
      const post = await app.inject({ method: 'POST', url: '/api/channel', headers: user, payload: { name: 'x', key: SECRET } })
      t.equal(post.statusCode, 403)
      t.equal((await app.inject({ method: 'GET', url: '/api/channel' })).statusCode, 401)
    })

    t.test('test endpoint: ok- key passes with a one-token request, bad- key reports the upstream 401', async (t) => {
      const good = (await create({ name: 'good', key: 'ok-test-key-0123456789', base_url: upstream.url, models: ['gpt-x'], model_mapping: { 'gpt-x': 'upstream-x' } })).json()
      const res = await app.inject({ method: 'POST', url: `/api/channel/${good.id}/test`, headers: admin, payload: {} })
      t.equal(res.statusCode, 200)
      t.match(res.json(), { ok: true, status: 200, latency_ms: Number, message: String })
      const sent = upstream.lastFor('ok-test-key-0123456789')
      t.match(sent, { path: '/v1/chat/completions', body: { model: 'upstream-x', max_tokens: 1 } })
      t.type((await app.inject({ method: 'GET', url: `/api/channel/${good.id}`, headers: admin })).json().response_time_ms, 'number')

      const bad = (await create({ name: 'bad', key: 'bad-test-key-0123456789', base_url: upstream.url })).json()
      const failed = await app.inject({ method: 'POST', url: `/api/channel/${bad.id}/test`, headers: admin, payload: { model: 'gpt-y' } })
      t.equal(failed.statusCode, 200)
      t.match(failed.json(), { ok: false, status: 401, message: 'Incorrect API key provided.' })
      t.equal(upstream.lastFor('bad-test-key-0123456789')?.body && (upstream.lastFor('bad-test-key-0123456789')!.body as { model: string }).model, 'gpt-y')
      t.equal((await app.inject({ method: 'GET', url: `/api/channel/${bad.id}`, headers: admin })).json().status, 'enabled', 'a failed test changes no status')
    })

    t.test('test endpoint without a body uses the default model; unreachable upstream → ok:false 502', async (t) => {
      const ch = (await create({ name: 'nobody', key: 'ok-unreachable-0123456789', base_url: 'http://127.0.0.1:1' })).json()
      const res = await app.inject({ method: 'POST', url: `/api/channel/${ch.id}/test`, headers: admin })
      t.equal(res.statusCode, 200, res.body)
      t.match(res.json(), { ok: false, status: 502 })
    })

    t.test('a passing test re-enables an auto-disabled channel', async (t) => {
      const ch = (await create({ name: 'flaky', key: 'ok-flaky-key-0123456789', base_url: upstream.url, models: ['m-flaky'] })).json()
      await app.channelPool.autoDisable(ch.id, 'upstream answered 401')
      const disabled = (await app.inject({ method: 'GET', url: `/api/channel/${ch.id}`, headers: admin })).json()
      t.match(disabled, { status: 'auto_disabled', status_reason: 'upstream answered 401' })
      t.equal(app.channelPool.byId(ch.id), undefined)

      const res = await app.inject({ method: 'POST', url: `/api/channel/${ch.id}/test`, headers: admin, payload: {} })
      t.equal(res.json().ok, true)
      const after = (await app.inject({ method: 'GET', url: `/api/channel/${ch.id}`, headers: admin })).json()
      t.match(after, { status: 'enabled', status_reason: null })
      t.equal(app.channelPool.byId(ch.id)?.key, 'ok-flaky-key-0123456789')
    })

    t.test('a manually disabled channel stays disabled after a passing test', async (t) => {
      const ch = (await create({ name: 'off', key: 'ok-off-key-0123456789', base_url: upstream.url })).json()
      await app.inject({ method: 'PATCH', url: `/api/channel/${ch.id}`, headers: admin, payload: { status: 'disabled' } })
      const res = await app.inject({ method: 'POST', url: `/api/channel/${ch.id}/test`, headers: admin, payload: {} })
      t.equal(res.json().ok, true)
      t.equal((await app.inject({ method: 'GET', url: `/api/channel/${ch.id}`, headers: admin })).json().status, 'disabled')
    })

    if (backend.name === 'mysql+redis') {
      t.test('two instances sharing MySQL + Redis: a channel change on one reaches the other pool within 1 s', async (t) => {
        const other = await buildApp(t, backend, { share: first })
        const ch = (await create({ name: 'shared', key: 'ok-shared-key-0123456789', models: ['m-shared'] })).json()
        t.ok(await eventually(() => other.app.channelPool.byId(ch.id) !== undefined), 'created on A, routable on B')
        await other.app.channelPool.autoDisable(ch.id, 'upstream answered 401')
        t.ok(await eventually(() => app.channelPool.byId(ch.id) === undefined), 'auto-disabled on B, gone on A')
      })
    }
  })
}
