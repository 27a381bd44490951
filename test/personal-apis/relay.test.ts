// Personal APIs in use (CONTRACT §7): the test call, relay keys bound to one (the official OpenAI SDK through the
// gateway, cost 0, logged), invalidation when the personal API changes or goes, and the connect-time address check
// of a second instance that does not allow private addresses. All upstreams listen on 127.0.0.1.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import OpenAI from 'openai'
import t from 'tap'
import { backends } from '../support/backends.js'
import { bearer, buildApp, login } from '../support/build-app.js'
import { ANTHROPIC_TEXT, startFakeAnthropic } from '../support/fake-anthropic.js'
import { startFakeUpstream } from '../support/fake-upstream.js'
import { eventually, makeToken, makeUser } from '../tokens/support.js'

const APIS = '/api/user/self/apis'
const ALLOW = { PERSONAL_API_ALLOW_PRIVATE: 'true' }

interface Redirector {
  url: string
  close(): Promise<void>
}

/** An upstream that only ever redirects (to `location`). */
async function redirector(location: string): Promise<Redirector> {
  const server = http.createServer((req, res) => {
    req.resume()
    res.writeHead(302, { location, 'content-type': 'text/plain' })
    res.end('moved')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

for (const backend of backends()) {
  t.test(backend.name, async (t) => {
    const upstream = await startFakeUpstream({ chunks: 3 })
    t.teardown(() => upstream.close())
    const first = await buildApp(t, backend, { env: ALLOW })
    const { app } = first
    await app.listen({ port: 0, host: '127.0.0.1' })
    t.teardown(() => app.server.closeAllConnections())
    const gateway = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
    const admin = bearer(await login(app))
    const alice = await makeUser(app, 'alice')
    const bob = await makeUser(app, 'bob')
    const grant = await app.inject({ method: 'POST', url: `/api/user/${alice.id}/quota`, headers: admin, payload: { delta: 1000, remark: 'test' } })
    t.equal(grant.statusCode, 200, grant.body)

    const personalKey = 'ok-alice-personal-key-0123456789'
    const createApi = async (headers: Record<string, string>, payload: Record<string, unknown>) => {
      const res = await app.inject({ method: 'POST', url: APIS, headers, payload: { model: 'my-model', ...payload } })
      if (res.statusCode !== 201) throw new Error(`personal API create failed: ${res.statusCode} ${res.body}`)
      return res.json() as { id: number }
    }
    const api = await createApi(alice.headers, { name: 'home', base_url: upstream.url, key: personalKey })
    const self = async (headers: Record<string, string>) => (await app.inject({ method: 'GET', url: '/api/user/self', headers })).json()

    t.test('the test call: one token through the guarded dispatcher, with the key as Bearer', async (t) => {
      const res = await app.inject({ method: 'POST', url: `${APIS}/${api.id}/test`, headers: alice.headers })
      t.equal(res.statusCode, 200, res.body)
      t.match(res.json(), { ok: true, status: 200, message: 'ok (model my-model)' })
      t.type(res.json().latency_ms, 'number')
      const sent = upstream.lastFor(personalKey)
      t.match(sent, { path: '/v1/chat/completions', body: { model: 'my-model', max_tokens: 1, stream: false } })
      t.equal(sent?.headers.authorization, `Bearer ${personalKey}`)
      const other = await app.inject({ method: 'POST', url: `${APIS}/${api.id}/test`, headers: alice.headers, payload: { model: 'other-model' } })
      t.equal(upstream.lastFor(personalKey)?.body && (upstream.lastFor(personalKey)!.body as { model: string }).model, 'other-model')
      t.equal(other.json().ok, true)
    })

    t.test('a failing test reports the upstream status; the message never carries the key', async (t) => {
      const badKey = 'bad-alice-key-0123456789abcdefghij'
      const bad = await createApi(alice.headers, { name: 'bad', base_url: upstream.url, key: badKey })
      const res = await app.inject({ method: 'POST', url: `${APIS}/${bad.id}/test`, headers: alice.headers })
      t.equal(res.statusCode, 200)
      t.match(res.json(), { ok: false, status: 401, message: 'Incorrect API key provided.' })
      t.notOk(res.body.includes(badKey))
      const unreachable = await createApi(alice.headers, { name: 'down', base_url: 'http://127.0.0.1:1', key: 'ok-whatever-key-0000' })
      const down = await app.inject({ method: 'POST', url: `${APIS}/${unreachable.id}/test`, headers: alice.headers })
      t.match(down.json(), { ok: false, status: 502, message: /^upstream unreachable/ })
    })

    t.test('a redirect is not followed, by the test call or the relay', async (t) => {
      const target = await startFakeUpstream()
      t.teardown(() => target.close())
      const redirect = await redirector(`${target.url}/v1/chat/completions`)
      t.teardown(() => redirect.close())
      const moved = await createApi(alice.headers, { name: 'moved', base_url: redirect.url, key: 'ok-moved-key-000000' })
      const res = await app.inject({ method: 'POST', url: `${APIS}/${moved.id}/test`, headers: alice.headers })
      t.match(res.json(), { ok: false, status: 302, message: /redirects are not followed/ })
      const { key } = await makeToken(app, alice.headers, { personal_api_id: moved.id })
      const relayed = await fetch(`${gateway}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'my-model', messages: [{ role: 'user', content: 'hi' }] }),
        redirect: 'manual',
      })
      await relayed.arrayBuffer()
      t.not(relayed.status, 200)
      t.equal(target.requests.length, 0, 'the redirect target was never reached')
    })

    t.test('binding a relay key: own personal APIs only; shown in the token view', async (t) => {
      const res = await app.inject({ method: 'POST', url: '/api/token', headers: alice.headers, payload: { name: 'bound', personal_api_id: api.id } })
      t.equal(res.statusCode, 201, res.body)
      t.equal(res.json().personal_api_id, api.id)
      const got = await app.inject({ method: 'GET', url: `/api/token/${res.json().id}`, headers: alice.headers })
      t.equal(got.json().personal_api_id, api.id)
      const plain = await makeToken(app, alice.headers)
      t.equal((await app.inject({ method: 'GET', url: `/api/token/${plain.id}`, headers: alice.headers })).json().personal_api_id, null)

      const stolen = await app.inject({ method: 'POST', url: '/api/token', headers: bob.headers, payload: { name: 'x', personal_api_id: api.id } })
      t.equal(stolen.statusCode, 404, "another user's personal API is not found")
      t.match(stolen.json().error, { code: 'not_found', param: 'personal_api_id' })
      const missing = await app.inject({ method: 'POST', url: '/api/token', headers: alice.headers, payload: { name: 'x', personal_api_id: 999999 } })
      t.equal(missing.statusCode, 404)
      for (const bad of [0, 'abc', -1, 1.5]) {
        const r = await app.inject({ method: 'POST', url: '/api/token', headers: alice.headers, payload: { name: 'x', personal_api_id: bad } })
        t.equal(r.statusCode, 400, JSON.stringify(bad))
        t.equal(r.json().error.param, 'personal_api_id')
      }
      const bobToken = await makeToken(app, bob.headers)
      const patch = await app.inject({ method: 'PATCH', url: `/api/token/${bobToken.id}`, headers: bob.headers, payload: { personal_api_id: api.id } })
      t.equal(patch.statusCode, 404)
      t.equal((await app.inject({ method: 'GET', url: `/api/token/${bobToken.id}`, headers: bob.headers })).json().personal_api_id, null, 'unchanged')
      const bind = await app.inject({ method: 'PATCH', url: `/api/token/${plain.id}`, headers: alice.headers, payload: { personal_api_id: api.id } })
      t.equal(bind.json().personal_api_id, api.id)
      const unbind = await app.inject({ method: 'PATCH', url: `/api/token/${plain.id}`, headers: alice.headers, payload: { personal_api_id: null } })
      t.equal(unbind.json().personal_api_id, null)
    })

    t.test('the OpenAI SDK through a bound key: answered by the personal API, logged at quota 0, balance unchanged', async (t) => {
      const { key } = await makeToken(app, alice.headers, { personal_api_id: api.id })
      const before = await self(alice.headers)
      const client = new OpenAI({ apiKey: key, baseURL: `${gateway}/v1`, maxRetries: 0 })
      const { data: completion, response } = await client.chat.completions
        .create({ model: 'any-model-of-mine', messages: [{ role: 'user', content: 'Say hello' }] })
        .withResponse()
      t.equal(completion.choices[0]?.message.content, 'Hello from mock upstream.')
      const sent = upstream.lastFor(personalKey)
      t.equal(sent?.headers.authorization, `Bearer ${personalKey}`, "the user's own key went upstream, not the relay key")
      t.match(sent?.body, { model: 'any-model-of-mine' })

      const stream = await client.chat.completions.create({ model: 'any-model-of-mine', messages: [{ role: 'user', content: 'hi' }], stream: true })
      let text = ''
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? ''
      t.equal(text, 'w0 w1 w2 ')

      const requestId = response.headers.get('x-request-id')
      const logs = async () => (await app.inject({ method: 'GET', url: '/api/log/self', headers: alice.headers })).json().data as Array<Record<string, unknown>>
      t.ok(await eventually(async () => (await logs()).some((r) => r.request_id === requestId), 3000), 'the usage-log row is written')
      const row = (await logs()).find((r) => r.request_id === requestId)!
      t.match(row, { status: 200, quota: 0, model: 'any-model-of-mine', prompt_tokens: 10, completion_tokens: 20 })
      // No gateway channel is named. (Today the row carries the synthetic negative id; null is the target: see README.)
      t.ok(row.channel_id === null || Number(row.channel_id) < 0, `channel_id ${String(row.channel_id)} names no gateway channel`)
      const after = await self(alice.headers)
      t.equal(after.quota, before.quota, 'balance unchanged')
      t.equal(after.used_quota, before.used_quota)
    })

    t.test('a bound key works for a user with no balance (their provider is paid, not the gateway)', async (t) => {
      const bobApi = await createApi(bob.headers, { name: 'bobs', base_url: upstream.url, key: 'ok-bob-personal-key-000000' })
      t.equal((await self(bob.headers)).quota, 0)
      const { key } = await makeToken(app, bob.headers, { personal_api_id: bobApi.id })
      const client = new OpenAI({ apiKey: key, baseURL: `${gateway}/v1`, maxRetries: 0 })
      const completion = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }] })
      t.equal(completion.choices[0]?.message.content, 'Hello from mock upstream.')
      t.equal(upstream.countFor('ok-bob-personal-key-000000'), 1)
      // Nor does a limited key's own quota gate it.
      const limited = await makeToken(app, bob.headers, { personal_api_id: bobApi.id, unlimited_quota: false, remain_quota: 0 })
      const viaLimited = new OpenAI({ apiKey: limited.key, baseURL: `${gateway}/v1`, maxRetries: 0 })
      await viaLimited.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }] })
      t.equal(upstream.countFor('ok-bob-personal-key-000000'), 2)
    })

    t.test('a changed personal API reaches bound keys at once; a deleted one refuses them (never a fallback)', async (t) => {
      const mine = await createApi(alice.headers, { name: 'rotating', base_url: upstream.url, key: 'ok-rotate-old-0000000' })
      const { key } = await makeToken(app, alice.headers, { personal_api_id: mine.id })
      const ask = () =>
        fetch(`${gateway}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }),
        })
      t.equal((await ask()).status, 200)
      t.equal(upstream.countFor('ok-rotate-old-0000000'), 1, 'cached with the old key')
      await app.inject({ method: 'PATCH', url: `${APIS}/${mine.id}`, headers: alice.headers, payload: { key: 'ok-rotate-new-0000000' } })
      t.ok(
        await eventually(async () => {
          const res = await ask()
          await res.arrayBuffer()
          return upstream.countFor('ok-rotate-new-0000000') > 0
        }, 2000),
        'the new key is used',
      )

      const del = await app.inject({ method: 'DELETE', url: `${APIS}/${mine.id}`, headers: alice.headers })
      t.equal(del.statusCode, 204)
      let last: Response | undefined
      t.ok(
        await eventually(async () => {
          last = await ask()
          return last.status === 403
        }, 2000),
      )
      t.match(await last!.json(), { error: { code: 'personal_api_not_found', type: 'permission_error' } })
    })

    t.test('an anthropic personal API is spoken to in its own format (the request and answer converted)', async (t) => {
      const fake = await startFakeAnthropic()
      t.teardown(() => fake.close())
      const anth = await createApi(alice.headers, { name: 'claude', base_url: fake.url, key: 'ok-anthropic-key-00000', type: 'anthropic' })
      const { key } = await makeToken(app, alice.headers, { personal_api_id: anth.id })
      const res = await fetch(`${gateway}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }),
      })
      t.equal(res.status, 200)
      t.match(await res.json(), { object: 'chat.completion', choices: [{ message: { content: ANTHROPIC_TEXT } }] })
      t.match(fake.lastFor('ok-anthropic-key-00000'), { path: '/v1/messages', body: { model: 'm', max_tokens: 4096 } })
      const test = await app.inject({ method: 'POST', url: `${APIS}/${anth.id}/test`, headers: alice.headers })
      t.match(test.json(), { ok: true, status: 200 })
      t.equal(fake.lastFor('ok-anthropic-key-00000')?.body.max_tokens, 1, 'the test is a one-token Messages call')
    })

    t.test('connect time: an instance without PERSONAL_API_ALLOW_PRIVATE refuses what another saved (400 address_not_allowed)', async (t) => {
      const port = new URL(upstream.url).port
      // Saved while private addresses were allowed: a name (`localhost`, resolved when connecting) and a literal.
      const byName = await createApi(alice.headers, { name: 'by-name', base_url: `https://localhost:${port}`, key: 'ok-by-name-key-0000000' })
      const byName2 = await createApi(alice.headers, { name: 'literal', base_url: upstream.url, key: 'ok-literal-key-0000000' })
      const strict = await buildApp(t, backend, { share: first })
      const strictAlice = bearer(await login(strict.app, 'alice', 'alice-password'))
      for (const target of [byName, byName2]) {
        const test = await strict.app.inject({ method: 'POST', url: `${APIS}/${target.id}/test`, headers: strictAlice })
        t.equal(test.statusCode, 400, test.body)
        t.match(test.json(), { error: { code: 'address_not_allowed', type: 'invalid_request_error' } })

        const { key } = await makeToken(strict.app, strictAlice, { personal_api_id: target.id })
        const relayed = await strict.app.inject({
          method: 'POST',
          url: '/v1/chat/completions',
          headers: { authorization: `Bearer ${key}` },
          payload: { model: 'm', messages: [{ role: 'user', content: 'hi' }] },
        })
        t.equal(relayed.statusCode, 400, relayed.body)
        t.match(relayed.json(), { error: { code: 'address_not_allowed' } })
      }
      t.equal(upstream.countFor('ok-by-name-key-0000000') + upstream.countFor('ok-literal-key-0000000'), 0, 'the upstream was never reached')
    })
  })
}
