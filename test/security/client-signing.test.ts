// CLIENT_SIGNING_SECRET (CONTRACT §1): session-authenticated /api requests, and the chat WebSocket's upgrade, carry
// the partner API's signature (§5) made with this secret, verified by the same implementation, with nonces of
// their own. Without the secret nothing changes.
import { randomBytes } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import websocket from '@fastify/websocket'
import Fastify, { type FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import WebSocket from 'ws'
import app, { serverOptions } from '../../src/app.js'
import { ManualClock } from '../../src/clock.js'
import { loadConfig } from '../../src/config.js'
import { canonicalString, sign } from '../../src/security/request-signature.js'
import { backends, type Backend } from '../support/backends.js'
import { ADMIN, TEST_ENCRYPTION_KEY, bearer, buildApp, login } from '../support/build-app.js'

const CLIENT_SECRET = 'client-signing-test-secret-0001'
const PARTNER_SECRET = 'partner-signing-test-secret-0001'
const NOW = Date.parse('2026-02-01T00:00:00Z')

interface Signing {
  secret?: string
  timestamp?: string
  nonce?: string
  /** the body signed, when it differs from the one sent */
  signedBody?: string
  signature?: string
}

const freshNonce = () => randomBytes(12).toString('hex')

/** The three headers for a request, as a client computes them. */
function signatureHeaders(method: string, url: string, body: string, s: Signing = {}): Record<string, string> {
  const timestamp = s.timestamp ?? String(Math.floor(NOW / 1000))
  const nonce = s.nonce ?? freshNonce()
  const q = url.indexOf('?')
  const canonical = canonicalString({
    method,
    path: q === -1 ? url : url.slice(0, q),
    query: q === -1 ? undefined : url.slice(q + 1),
    timestamp,
    nonce,
    body: s.signedBody ?? body,
  })
  return { 'x-timestamp': timestamp, 'x-nonce': nonce, 'x-signature': s.signature ?? sign(s.secret ?? CLIENT_SECRET, canonical) }
}

function send(app: FastifyInstance, session: string | null, method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, body?: unknown, s?: Signing | false) {
  const text = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body)
  const headers: Record<string, string> = {
    ...(session ? bearer(session) : {}),
    ...(s === false ? {} : signatureHeaders(method, url, text, s)),
    ...(text ? { 'content-type': 'application/json' } : {}),
  }
  return app.inject({ method, url, headers, payload: text || undefined })
}

/**
 * The gateway with both secrets set, plus a WebSocket route behind `requireUser` as the chat's /ws/chat is
 * mounted (the chat is not part of this suite), listening on 127.0.0.1.
 */
async function buildWithWebSocket(t: Test, backend: Backend, clock: ManualClock) {
  const provisioned = await backend.provision()
  const config = loadConfig({
    DATABASE_URL: provisioned.databaseUrl,
    REDIS_URL: provisioned.redisUrl,
    JWT_SECRET: 'test-jwt-secret-0123456789abcdef',
    ENCRYPTION_KEY: TEST_ENCRYPTION_KEY,
    ADMIN_USERNAME: ADMIN.username,
    ADMIN_PASSWORD: ADMIN.password,
    LOG_LEVEL: 'silent',
    CLIENT_SIGNING_SECRET: CLIENT_SECRET,
    EXTERNAL_API_SECRET: PARTNER_SECRET,
  })
  const fastify = Fastify(serverOptions(config, false))
  await fastify.register(app, { config, clock, cachePrefix: provisioned.cachePrefix })
  await fastify.register(websocket)
  fastify.register(async (scope) => {
    scope.get('/ws/test', { websocket: true, onRequest: scope.requireUser }, (socket) => {
      socket.send(JSON.stringify({ type: 'ready' }))
    })
  })
  await fastify.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(async () => {
    await fastify.close()
    await provisioned.drop()
  })
  return { app: fastify, url: `ws://127.0.0.1:${(fastify.server.address() as AddressInfo).port}/ws/test` }
}

/** The first frame, or the HTTP status the upgrade was refused with. */
function connect(url: string, headers: Record<string, string>): Promise<{ frame?: string; status?: number; body?: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers })
    ws.once('message', (data) => {
      resolve({ frame: String(data) })
      ws.close()
    })
    ws.once('unexpected-response', (_req, res) => {
      let body = ''
      res.on('data', (chunk: Buffer) => (body += chunk))
      res.on('end', () => resolve({ status: res.statusCode, body }))
    })
    ws.once('error', reject)
  })
}

for (const backend of backends()) {
  t.test(`${backend.name}: CLIENT_SIGNING_SECRET set`, async (t) => {
    const clock = new ManualClock(NOW)
    const { app, url: wsUrl } = await buildWithWebSocket(t, backend, clock)
    // Login stays unsigned: it has no session yet.
    const admin = await login(app)

    t.test('signed → 200, with a query and with a body', async (t) => {
      const self = await send(app, admin, 'GET', '/api/user/self')
      t.equal(self.statusCode, 200, self.body)
      t.equal(self.json().username, ADMIN.username)
      const list = await send(app, admin, 'GET', '/api/token?page_size=5&page=1')
      t.equal(list.statusCode, 200, list.body)
      const created = await send(app, admin, 'POST', '/api/token', { name: 'signed key' })
      t.equal(created.statusCode, 201, created.body)
      const deleted = await send(app, admin, 'DELETE', `/api/token/${created.json().id}`)
      t.equal(deleted.statusCode, 204)
    })

    t.test('unsigned → 401 invalid_signature (any session route, admin routes too)', async (t) => {
      for (const [method, url] of [['GET', '/api/user/self'], ['GET', '/api/channel'], ['POST', '/api/auth/logout']] as const) {
        const res = await send(app, admin, method, url, undefined, false)
        t.equal(res.statusCode, 401, url)
        t.match(res.json().error, { code: 'invalid_signature', type: 'authentication_error' }, url)
      }
      const body = await send(app, admin, 'POST', '/api/token', { name: 'unsigned' }, false)
      t.equal(body.statusCode, 401)
      t.equal((await send(app, admin, 'GET', '/api/user/self')).statusCode, 200, 'the session was not revoked by the unsigned logout')
    })

    t.test('bad signature → 401 invalid_signature: wrong secret, partner secret, tampered body, tampered query, malformed', async (t) => {
      const cases: [string, () => ReturnType<typeof send>][] = [
        ['wrong secret', () => send(app, admin, 'GET', '/api/user/self', undefined, { secret: 'not-the-secret' })],
        ['the partner secret', () => send(app, admin, 'GET', '/api/user/self', undefined, { secret: PARTNER_SECRET })],
        ['a body other than the signed one', () => send(app, admin, 'POST', '/api/token', { name: 'sent' }, { signedBody: '{"name":"signed"}' })],
        ['not hex', () => send(app, admin, 'GET', '/api/user/self', undefined, { signature: 'z'.repeat(64) })],
        ['bad nonce', () => send(app, admin, 'GET', '/api/user/self', undefined, { nonce: 'a&b' })],
        ['bad timestamp', () => send(app, admin, 'GET', '/api/user/self', undefined, { timestamp: 'yesterday' })],
      ]
      for (const [name, run] of cases) {
        const res = await run()
        t.equal(res.statusCode, 401, name)
        t.equal(res.json().error.code, 'invalid_signature', name)
      }
      const q = '/api/token?page=1'
      const headers = { ...bearer(admin), ...signatureHeaders('GET', q, '') }
      const tampered = await app.inject({ method: 'GET', url: '/api/token?page=2', headers })
      t.equal(tampered.statusCode, 401)
      const tokens = await send(app, admin, 'GET', '/api/token?page_size=100')
      t.notOk(tokens.json().data.some((k: { name: string }) => k.name === 'sent' || k.name === 'signed'), 'nothing was created')
    })

    t.test('stale timestamp → 401 stale_timestamp, either direction', async (t) => {
      for (const offset of [-301, 301]) {
        const res = await send(app, admin, 'GET', '/api/user/self', undefined, { timestamp: String(Math.floor(NOW / 1000) + offset) })
        t.equal(res.statusCode, 401)
        t.equal(res.json().error.code, 'stale_timestamp')
      }
      const edge = await send(app, admin, 'GET', '/api/user/self', undefined, { timestamp: String(Math.floor(NOW / 1000) - 300) })
      t.equal(edge.statusCode, 200, 'within EXTERNAL_MAX_SKEW_S')
    })

    t.test('reused nonce → 401 nonce_reused; a bad signature does not burn the nonce', async (t) => {
      const nonce = freshNonce()
      const forged = await send(app, admin, 'GET', '/api/user/self', undefined, { nonce, secret: 'forger' })
      t.equal(forged.json().error.code, 'invalid_signature')
      t.equal((await send(app, admin, 'GET', '/api/user/self', undefined, { nonce })).statusCode, 200)
      const replay = await send(app, admin, 'GET', '/api/user/self', undefined, { nonce })
      t.equal(replay.statusCode, 401)
      t.equal(replay.json().error.code, 'nonce_reused')
    })

    t.test('client and partner nonces live apart: one nonce serves one request of each', async (t) => {
      const nonce = freshNonce()
      const url = '/api/user/external/nobody'
      const partner = await app.inject({ method: 'GET', url, headers: signatureHeaders('GET', url, '', { nonce, secret: PARTNER_SECRET }) })
      t.equal(partner.statusCode, 404, 'the partner request passed its signature check')
      t.equal((await send(app, admin, 'GET', '/api/user/self', undefined, { nonce })).statusCode, 200)
    })

    t.test('order: session → signature → body validation', async (t) => {
      const noSession = await send(app, null, 'GET', '/api/user/self', undefined, false)
      t.equal(noSession.json().error.code, 'unauthorized', 'no session is a session error first')
      const invalidBody = { name: 'x', unknown_field: 1 }
      const unsigned = await send(app, admin, 'POST', '/api/token', invalidBody, { secret: 'forger' })
      t.equal(unsigned.statusCode, 401, 'a bad signature is refused before the body is validated')
      const signed = await send(app, admin, 'POST', '/api/token', invalidBody)
      t.equal(signed.statusCode, 400, 'a signed request gets the validation error')
      t.equal(signed.json().error.param, 'unknown_field')
    })

    t.test('login and other unauthenticated routes stay unsigned; the relay (/v1) is not affected', async (t) => {
      const login = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: ADMIN.username, password: ADMIN.password } })
      t.equal(login.statusCode, 200)
      t.equal((await app.inject({ method: 'GET', url: '/api/pricing' })).statusCode, 200)
      const relay = await app.inject({ method: 'GET', url: '/v1/models', headers: { authorization: 'Bearer sk-nope' } })
      t.equal(relay.json().error.code, 'invalid_api_key')
    })

    t.test('a non-admin on an admin route: signed → 403, unsigned → 401', async (t) => {
      const id = await app.usersRepo.create({ username: `u${randomBytes(4).toString('hex')}`, role: 'user' }, { quota: 0, remark: 'test' })
      const { token } = await app.sessions.issue(id)
      t.equal((await send(app, token, 'GET', '/api/channel')).statusCode, 403)
      t.equal((await send(app, token, 'GET', '/api/channel', undefined, false)).statusCode, 401)
      t.equal((await send(app, token, 'POST', '/api/redemption', { name: 'x', amount_usd: 1, count: 1 })).statusCode, 403)
    })

    t.test('a large body over a real socket arrives in many chunks and is verified as it streams', async (t) => {
      const models = Array.from({ length: 900 }, (_, i) => `model-${String(i).padStart(4, '0')}-${'x'.repeat(110)}`)
      const text = JSON.stringify({ name: 'big body', models })
      t.ok(text.length > 100_000)
      const httpUrl = wsUrl.replace('ws://', 'http://').replace('/ws/test', '/api/token')
      const post = (headers: Record<string, string>) =>
        fetch(httpUrl, { method: 'POST', body: text, headers: { ...bearer(admin), 'content-type': 'application/json', ...headers } })
      const ok = await post(signatureHeaders('POST', '/api/token', text))
      t.equal(ok.status, 201)
      t.equal(((await ok.json()) as { models: string[] }).models.length, 900)
      const tampered = await post(signatureHeaders('POST', '/api/token', text.replace('model-0899', 'model-9999')))
      t.equal(tampered.status, 401)
      await tampered.body?.cancel()
    })

    t.test('the WebSocket upgrade behind requireUser: unsigned 401, signed opens, replayed 401', async (t) => {
      const path = '/ws/test'
      const unsigned = await connect(wsUrl, bearer(admin))
      t.equal(unsigned.status, 401)
      t.match(JSON.parse(unsigned.body ?? '{}'), { error: { code: 'invalid_signature' } })
      const headers = { ...bearer(admin), ...signatureHeaders('GET', path, '') }
      const signed = await connect(wsUrl, headers)
      t.same(JSON.parse(signed.frame ?? '{}'), { type: 'ready' })
      const replay = await connect(wsUrl, headers)
      t.equal(replay.status, 401)
      t.match(JSON.parse(replay.body ?? '{}'), { error: { code: 'nonce_reused' } })
    })

    t.test("the chat's own GET /ws/chat: unsigned 401, signed opens with its ready frame", async (t) => {
      const chatUrl = wsUrl.replace('/ws/test', '/ws/chat')
      const unsigned = await connect(chatUrl, bearer(admin))
      t.equal(unsigned.status, 401)
      t.match(JSON.parse(unsigned.body ?? '{}'), { error: { code: 'invalid_signature' } })
      const signed = await connect(chatUrl, { ...bearer(admin), ...signatureHeaders('GET', '/ws/chat', '') })
      t.match(JSON.parse(signed.frame ?? '{}'), { type: 'ready' })
    })
  })

  // A matter of configuration, not of storage: once is enough.
  if (backend.name === 'sqlite+memory') {
    t.test(`${backend.name}: without CLIENT_SIGNING_SECRET nothing changes`, async (t) => {
      const { app } = await buildApp(t, backend)
      const admin = await login(app)
      t.equal((await send(app, admin, 'GET', '/api/user/self', undefined, false)).statusCode, 200)
      const created = await send(app, admin, 'POST', '/api/token', { name: 'plain' }, false)
      t.equal(created.statusCode, 201)
      // Stray signature headers (even wrong ones) are ignored.
      t.equal((await send(app, admin, 'GET', '/api/user/self', undefined, { secret: 'whatever' })).statusCode, 200)
    })
  }
}
