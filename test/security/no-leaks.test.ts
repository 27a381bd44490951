// Secrets never leave the server whole (CONTRACT §2, §7): a representative run of the gateway — logins good and
// bad, JWT use (header and WebSocket `?token=`), channels created and tested, relays that succeed, stream and fail
// with upstream errors quoting the key, personal APIs, the signed partner API — with the production logger (its
// redaction included, at `trace`) writing to a captured stream. No log line, no response body and no response
// header may hold a relay key, channel key, personal API key, password, JWT, signing secret or a `?key=` URL;
// the one response that issues a secret (a new key, a login) may hold that secret only.
import { randomBytes } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { openSocket } from '../chat/support.js'
import { signed } from '../external/partner-client.js'
import { sqliteBackend } from '../support/backends.js'
import { ADMIN, TEST_ENCRYPTION_KEY, bearer, buildApp } from '../support/build-app.js'
import { startFakeUpstream } from '../support/fake-upstream.js'

const JWT_SECRET = 'test-jwt-secret-0123456789abcdef' // set by buildApp
const EXTERNAL_SECRET = `partner-secret-${randomBytes(12).toString('hex')}`
const CHANNEL_KEY = `ok-chan-${randomBytes(20).toString('hex')}`
const ECHO_KEY = `echo-chan-${randomBytes(20).toString('hex')}`
const PERSONAL_KEY = `ok-mine-${randomBytes(20).toString('hex')}`
const PERSONAL_ECHO_KEY = `echo-mine-${randomBytes(20).toString('hex')}`
const USER_PASSWORD = `pw-${randomBytes(10).toString('hex')}`
const WRONG_PASSWORD = `wrong-${randomBytes(10).toString('hex')}`

interface Exchange {
  what: string
  status: number
  text: string
}

t.test('no secret in any log line, response body or header', async (t) => {
  const lines: string[] = []
  const { app } = await buildApp(t, sqliteBackend, {
    env: { EXTERNAL_API_SECRET: EXTERNAL_SECRET, PERSONAL_API_ALLOW_PRIVATE: 'true', CHANNEL_PROBE_INTERVAL_S: '0' },
    logStream: { write: (line) => void lines.push(line) },
  })
  const upstream = await startFakeUpstream()
  t.teardown(() => upstream.close())
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.server.closeAllConnections())
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`

  /** Every answer seen, and which secrets each one was allowed to carry (the one it issued). */
  const exchanges: Exchange[] = []
  const allowed = new Map<Exchange, string[]>()
  const record = (what: string, status: number, headers: Record<string, unknown>, body: string, issues: string[] = []): Exchange => {
    // `x-mock-key` is the fake upstream's own echo of the key it was sent, so tests can see which channel answered;
    // no real upstream sends one (the relay passes the upstream's other headers on, as OpenAI's clients expect).
    const { 'x-mock-key': _fakeEcho, ...real } = headers
    const exchange = { what, status, text: `${JSON.stringify(real)}\n${body}` }
    exchanges.push(exchange)
    allowed.set(exchange, issues)
    return exchange
  }
  const call = async (what: string, opts: { method: string; url: string; headers?: Record<string, string>; payload?: unknown }, issues: (body: string) => string[] = () => []) => {
    const res = await app.inject({ method: opts.method as 'GET', url: opts.url, headers: opts.headers, payload: opts.payload as object })
    record(what, res.statusCode, res.headers, res.body, issues(res.body))
    return res
  }
  const relay = async (what: string, key: string, body: unknown, path = '/v1/chat/completions') => {
    const res = await fetch(`${base}${path}`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })
    const text = await res.text()
    record(what, res.status, Object.fromEntries(res.headers), text)
    return { status: res.status, text }
  }

  // Sessions: a good login, a wrong password, an unknown user, a registration and the new user's login.
  const login = await call('login', { method: 'POST', url: '/api/auth/login', payload: { username: ADMIN.username, password: ADMIN.password } }, (b) => [JSON.parse(b).access_token])
  t.equal(login.statusCode, 200)
  const adminJwt = (login.json() as { access_token: string }).access_token
  const admin = bearer(adminJwt)
  t.equal((await call('wrong password', { method: 'POST', url: '/api/auth/login', payload: { username: ADMIN.username, password: WRONG_PASSWORD } })).statusCode, 401)
  t.equal((await call('unknown user', { method: 'POST', url: '/api/auth/login', payload: { username: 'nobody-here', password: WRONG_PASSWORD } })).statusCode, 401)
  t.equal((await call('register', { method: 'POST', url: '/api/auth/register', payload: { username: 'leaky', password: USER_PASSWORD } })).statusCode, 201)
  const userLogin = await call('user login', { method: 'POST', url: '/api/auth/login', payload: { username: 'leaky', password: USER_PASSWORD } }, (b) => [JSON.parse(b).access_token])
  const userJwt = (userLogin.json() as { access_token: string }).access_token
  const user = bearer(userJwt)
  t.equal((await call('JWT use', { method: 'GET', url: '/api/user/self', headers: user })).statusCode, 200)
  t.equal((await call('tampered JWT', { method: 'GET', url: '/api/user/self', headers: bearer(`${userJwt}x`) })).statusCode, 401)
  const password = await call('password change, wrong old', { method: 'PUT', url: '/api/user/self/password', headers: user, payload: { old_password: WRONG_PASSWORD, new_password: `${USER_PASSWORD}-new` } })
  t.equal(password.statusCode, 401)
  const self = (await app.inject({ method: 'GET', url: '/api/user/self', headers: admin })).json() as { id: number }
  await call('grant', { method: 'POST', url: `/api/user/${self.id}/quota`, headers: admin, payload: { delta: 100_000_000, remark: 'leaks' } })

  // Chat WebSocket authorised by ?token= (browsers cannot set headers).
  const wsUrl = `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}/ws/chat`
  const socket = await openSocket(t, `${wsUrl}?token=${encodeURIComponent(userJwt)}`)
  t.same(await socket.next(), { type: 'ready' })
  await socket.close()

  // Channels: created, listed, tested (an upstream that quotes the key it refused included).
  const model = 'leak-model'
  await call('price', { method: 'PUT', url: `/api/pricing/${model}`, headers: admin, payload: { input_per_1m: '1', output_per_1m: '2' } })
  const ok = await call('channel create', { method: 'POST', url: '/api/channel', headers: admin, payload: { name: 'ok', key: CHANNEL_KEY, base_url: upstream.url, models: [model] } })
  t.equal(ok.statusCode, 201)
  const okId = (ok.json() as { id: number }).id
  const echo = await call('echo channel create', { method: 'POST', url: '/api/channel', headers: admin, payload: { name: 'echo', key: ECHO_KEY, base_url: upstream.url, models: [model], priority: 10 } })
  const echoId = (echo.json() as { id: number }).id
  const tested = await call('channel test', { method: 'POST', url: `/api/channel/${okId}/test`, headers: admin, payload: {} })
  t.match(tested.json(), { ok: true })
  const echoTest = await call('echo channel test', { method: 'POST', url: `/api/channel/${echoId}/test`, headers: admin, payload: {} })
  t.match(echoTest.json(), { ok: false, status: 401 })
  t.match((echoTest.json() as { message: string }).message, /\[redacted\]/, "the upstream's quote of the key is cut out")
  await call('channel list', { method: 'GET', url: '/api/channel', headers: admin })

  // Relay keys: issued once, then used: the echo channel answers 401 quoting its key, the request moves on.
  const token = await call('token create', { method: 'POST', url: '/api/token', headers: admin, payload: { name: 'leaks' } }, (b) => [JSON.parse(b).key])
  const relayKey = (token.json() as { key: string }).key
  await call('token list', { method: 'GET', url: '/api/token', headers: admin })
  const first = await relay('relay, echo channel then ok channel', relayKey, { model, messages: [{ role: 'user', content: 'hi' }] })
  t.equal(first.status, 200)
  await call('auto-disabled channel', { method: 'GET', url: `/api/channel/${echoId}`, headers: admin })
  t.equal((await relay('relay stream', relayKey, { model, stream: true, messages: [{ role: 'user', content: 'hi' }] })).status, 200)
  await call('disable the ok channel', { method: 'PATCH', url: `/api/channel/${okId}`, headers: admin, payload: { status: 'disabled' } })
  await call('re-enable the echo channel', { method: 'PATCH', url: `/api/channel/${echoId}`, headers: admin, payload: { status: 'enabled' } })
  const lone = await relay('relay, lone echo channel', relayKey, { model, messages: [{ role: 'user', content: 'hi' }] })
  t.equal(lone.status, 401, "the upstream's 401 reaches the client…")
  t.match(lone.text, /\[redacted\]/, '…with the key it quoted cut out')
  t.equal((await relay('relay, unknown key', `${relayKey.slice(0, -4)}zzzz`, { model, messages: [] })).status, 401)
  await call('usage log', { method: 'GET', url: '/api/log', headers: admin })

  // A Gemini channel, when the adapter is installed: its key goes in a header, never in a URL.
  const gemini = await call('gemini channel', { method: 'POST', url: '/api/channel', headers: admin, payload: { type: 'gemini', name: 'g', key: `AIza${randomBytes(18).toString('hex')}`, base_url: upstream.url, models: ['leak-gemini'] } })
  if (gemini.statusCode === 201) {
    await call('price', { method: 'PUT', url: '/api/pricing/leak-gemini', headers: admin, payload: { input_per_1m: '1', output_per_1m: '2' } })
    await relay('relay to gemini', relayKey, { model: 'leak-gemini', messages: [{ role: 'user', content: 'hi' }] })
    t.notOk(upstream.requests.some((r) => /[?&]key=/.test(r.path)), 'no upstream URL carried ?key=')
  }

  // Personal APIs: created, listed, tested (one whose upstream quotes the key), and relayed through.
  const mine = await call('personal api create', { method: 'POST', url: '/api/user/self/apis', headers: user, payload: { name: 'mine', base_url: upstream.url, key: PERSONAL_KEY, model: 'my-model' } })
  t.equal(mine.statusCode, 201)
  const mineId = (mine.json() as { id: number }).id
  const mineEcho = await call('personal echo create', { method: 'POST', url: '/api/user/self/apis', headers: user, payload: { name: 'echo', base_url: upstream.url, key: PERSONAL_ECHO_KEY, model: 'my-model' } })
  const mineEchoId = (mineEcho.json() as { id: number }).id
  await call('personal api list', { method: 'GET', url: '/api/user/self/apis', headers: user })
  t.match((await call('personal api test', { method: 'POST', url: `/api/user/self/apis/${mineId}/test`, headers: user, payload: {} })).json(), { ok: true })
  await call('personal echo test', { method: 'POST', url: `/api/user/self/apis/${mineEchoId}/test`, headers: user, payload: {} })
  const bound = await call('bound token create', { method: 'POST', url: '/api/token', headers: user, payload: { name: 'mine', personal_api_id: mineId } }, (b) => [JSON.parse(b).key])
  t.equal(bound.statusCode, 201)
  if (bound.statusCode === 201) {
    const boundKey = (bound.json() as { key: string }).key
    t.equal((await relay('relay through a personal api', boundKey, { model: 'my-model', messages: [{ role: 'user', content: 'hi' }] })).status, 200)
    const boundEcho = await call('bound echo token', { method: 'POST', url: '/api/token', headers: user, payload: { name: 'echo', personal_api_id: mineEchoId } }, (b) => [JSON.parse(b).key])
    await relay('relay through an echoing personal api', (boundEcho.json() as { key: string }).key, { model: 'my-model', messages: [{ role: 'user', content: 'hi' }] })
  }

  // The partner API, signed with EXTERNAL_API_SECRET; and one request signed with a wrong secret.
  const sync = await signed(app, { method: 'POST', url: '/api/user/external/sync', body: { external_user_id: 'ext-leak-1' }, secret: EXTERNAL_SECRET })
  record('partner sync', sync.statusCode, sync.headers, sync.body)
  t.equal(sync.statusCode, 201)
  const topup = await signed(app, { method: 'POST', url: '/api/user/external/topup', body: { external_user_id: 'ext-leak-1', amount_usd: '1.5', payment_id: 'pay-leak-1' }, secret: EXTERNAL_SECRET })
  record('partner topup', topup.statusCode, topup.headers, topup.body)
  t.equal(topup.statusCode, 200)
  const external = await signed(app, { method: 'POST', url: '/api/user/external/token', body: { external_user_id: 'ext-leak-1' }, secret: EXTERNAL_SECRET })
  record('partner token', external.statusCode, external.headers, external.body, [JSON.parse(external.body).key])
  const externalKey = (external.json() as { key: string }).key
  const forged = await signed(app, { method: 'POST', url: '/api/user/external/sync', body: { external_user_id: 'ext-leak-2' }, secret: 'not-the-secret' })
  record('partner forged', forged.statusCode, forged.headers, forged.body)
  t.equal(forged.statusCode, 401)

  await call('logout', { method: 'POST', url: '/api/auth/logout', headers: user })
  t.equal((await call('revoked JWT', { method: 'GET', url: '/api/user/self', headers: user })).statusCode, 401)

  await app.close()
  const secrets: Record<string, string> = {
    'admin password': ADMIN.password,
    'user password': USER_PASSWORD,
    'wrong password': WRONG_PASSWORD,
    'admin JWT': adminJwt,
    'admin JWT signature': adminJwt.split('.')[2]!,
    'user JWT': userJwt,
    'user JWT signature': userJwt.split('.')[2]!,
    'relay key': relayKey,
    'relay key body': relayKey.slice(3),
    'partner-issued key': externalKey,
    'channel key': CHANNEL_KEY,
    'echoed channel key': ECHO_KEY,
    'personal API key': PERSONAL_KEY,
    'echoed personal API key': PERSONAL_ECHO_KEY,
    'partner secret': EXTERNAL_SECRET,
    'JWT secret': JWT_SECRET,
    'encryption key': TEST_ENCRYPTION_KEY,
  }

  t.ok(lines.length > 50, `the run was logged (${lines.length} lines)`)
  t.ok(lines.some((line) => line.includes('channel auto-disabled')), 'including the upstream 401 that disabled a channel')
  for (const [name, secret] of Object.entries(secrets)) {
    const inLogs = lines.filter((line) => line.includes(secret))
    t.same(inLogs, [], `${name}: in no log line`)
    // A response that issued a secret may hold it (and so any part of it, like a JWT's signature); nothing else.
    const issuedHere = (e: Exchange) => (allowed.get(e) ?? []).some((issued) => issued.includes(secret))
    const inAnswers = exchanges.filter((e) => e.text.includes(secret) && !issuedHere(e)).map((e) => e.what)
    t.same(inAnswers, [], `${name}: in no response, but the one that issued it`)
  }
  t.same(lines.filter((line) => /[?&]key=/.test(line)), [], 'no ?key= in any log line')
  t.same(exchanges.filter((e) => /[?&]key=/.test(e.text)).map((e) => e.what), [], 'nor in any response')
  t.comment(`gemini channel: ${gemini.statusCode === 201 ? 'relayed through' : `not available (${gemini.statusCode})`}`)
})
