import { readFileSync } from 'node:fs'
import t from 'tap'
import { ManualClock } from '../../src/clock.js'
import { backends } from '../support/backends.js'
import { buildApp } from '../support/build-app.js'
import { PARTNER_ENV, SECRET, freshNonce, signed } from './partner-client.js'

interface Vector {
  name: string
  secret: string
  method: string
  path: string
  query: string
  timestamp: string
  nonce: string
  body: string
  signature: string
}
const vectors = (JSON.parse(readFileSync(new URL('./signature-vectors.json', import.meta.url), 'utf8')) as { vectors: Vector[] }).vectors

// The vectors' timestamp, so the published examples are accepted as they stand.
const VECTOR_TIME_MS = 1767225600 * 1000

for (const backend of backends()) {
  t.test(backend.name, async (t) => {
    const clock = new ManualClock(VECTOR_TIME_MS)
    const { app } = await buildApp(t, backend, { env: PARTNER_ENV, clock })
    const send = (v: Vector) =>
      app.inject({
        method: v.method.toUpperCase() as 'GET' | 'POST',
        url: v.query ? `${v.path}?${v.query}` : v.path,
        headers: {
          'x-timestamp': v.timestamp,
          'x-nonce': v.nonce,
          'x-signature': v.signature,
          ...(v.body ? { 'content-type': 'application/json' } : {}),
        },
        payload: v.body || undefined,
      })
    const vector = (name: string) => {
      const found = vectors.find((v) => v.name === name)
      if (!found) throw new Error(`no vector ${name}`)
      return found
    }

    t.test('the docs\' walkthrough vectors, sent as published, do what the docs say', async (t) => {
      const created = await send(vector('POST sync with a JSON body'))
      t.equal(created.statusCode, 201, created.body)
      t.match(created.json(), { external_user_id: 'u-1001', username: 'ext_u-1001', email: 'lei@example.com', login_type: 'email' })

      const topup = await send(vector('POST top-up with a JSON body'))
      t.equal(topup.statusCode, 200, topup.body)
      t.same(topup.json(), { external_user_id: 'u-1001', payment_id: 'pay_0001', amount_usd: '12.5', added_quota: 6_250_000, quota: 6_250_000, duplicate: false })

      const key = await send(vector('POST token with a JSON body'))
      t.equal(key.statusCode, 201, key.body)
      t.match(key.json(), { name: 'web app', key: /^sk-/ })

      const user = await send(vector('GET without query or body'))
      t.equal(user.statusCode, 200, user.body)
      t.match(user.json(), { quota: 6_250_000, token_count: 1 })

      const stats = await send(vector('GET with an unsorted query'))
      t.equal(stats.statusCode, 200, stats.body)
      t.match(stats.json(), { quota: 6_250_000, used_quota: 0, request_count: 0 })

      const wechat = await send(vector('lower-case method and a non-ASCII UTF-8 body'))
      t.equal(wechat.statusCode, 201, wechat.body)
      t.match(wechat.json(), { external_user_id: 'u-1002', login_type: 'wechat' })
    })

    t.test('every published vector passes the signature check as published', async (t) => {
      // Walkthrough vectors come back nonce_reused (checked only after the signature), the
      // signing-only ones (extra query parameters) then fail validation with 400.
      for (const v of vectors) {
        const res = await send(v)
        t.not(res.statusCode, 200, v.name)
        t.not(res.json().error?.code, 'invalid_signature', v.name)
        t.not(res.json().error?.code, 'stale_timestamp', v.name)
      }
    })

    t.test('a replayed request (same nonce) → 401 nonce_reused', async (t) => {
      const nonce = freshNonce()
      const first = await signed(app, { method: 'GET', url: '/api/user/external/u-1001', nonce })
      t.equal(first.statusCode, 200)
      const again = await signed(app, { method: 'GET', url: '/api/user/external/u-1001', nonce })
      t.equal(again.statusCode, 401)
      t.equal(again.json().error.code, 'nonce_reused')
      t.equal(again.json().error.type, 'authentication_error')
    })

    t.test('a tampered body → 401 invalid_signature, nothing credited', async (t) => {
      const body = { external_user_id: 'u-1001', amount_usd: '1', payment_id: 'tamper-1' }
      const res = await signed(app, {
        method: 'POST',
        url: '/api/user/external/topup',
        body,
        sentBody: JSON.stringify({ ...body, amount_usd: '1000' }),
      })
      t.equal(res.statusCode, 401)
      t.equal(res.json().error.code, 'invalid_signature')
      const list = await signed(app, { method: 'GET', url: '/api/user/external/u-1001/topups' })
      t.notOk(list.json().data.some((row: { payment_id: string }) => row.payment_id === 'tamper-1'))
    })

    t.test('the same JSON re-serialised (other spacing) is not the signed body → 401', async (t) => {
      const body = '{"external_user_id":"u-1001"}'
      const res = await signed(app, { method: 'POST', url: '/api/user/external/sync', body, sentBody: '{"external_user_id": "u-1001"}' })
      t.equal(res.statusCode, 401)
      t.equal(res.json().error.code, 'invalid_signature')
    })

    t.test('a tampered query or path → 401 invalid_signature', async (t) => {
      const nonce = freshNonce()
      const good = await signed(app, { method: 'GET', url: '/api/user/external/u-1001/topups?page=1', nonce })
      const headers = {
        'x-timestamp': String(Math.floor(clock.now() / 1000)),
        'x-nonce': freshNonce(),
        'x-signature': '0'.repeat(64),
      }
      t.equal(good.statusCode, 200)
      const forged = await app.inject({ method: 'GET', url: '/api/user/external/u-1001/topups?page=2', headers })
      t.equal(forged.statusCode, 401)
      t.equal(forged.json().error.code, 'invalid_signature')
    })

    t.test('a wrong secret → 401 invalid_signature', async (t) => {
      const res = await signed(app, { method: 'GET', url: '/api/user/external/u-1001', secret: `${SECRET}-other` })
      t.equal(res.statusCode, 401)
      t.equal(res.json().error.code, 'invalid_signature')
      t.equal(res.headers['x-should-retry'], 'false')
    })

    t.test('missing or malformed headers → 401 invalid_signature', async (t) => {
      const plain = await app.inject({ method: 'GET', url: '/api/user/external/u-1001' })
      t.equal(plain.statusCode, 401)
      t.equal(plain.json().error.code, 'invalid_signature')
      for (const drop of ['x-timestamp', 'x-nonce', 'x-signature']) {
        const res = await signed(app, { method: 'GET', url: '/api/user/external/u-1001', headers: { [drop]: '' } })
        t.equal(res.statusCode, 401, drop)
        t.equal(res.json().error.code, 'invalid_signature', drop)
      }
      const shortNonce = await signed(app, { method: 'GET', url: '/api/user/external/u-1001', nonce: 'short' })
      t.equal(shortNonce.json().error.code, 'invalid_signature')
      const longNonce = await signed(app, { method: 'GET', url: '/api/user/external/u-1001', nonce: 'n'.repeat(65) })
      t.equal(longNonce.json().error.code, 'invalid_signature')
      const ampNonce = await signed(app, { method: 'GET', url: '/api/user/external/u-1001', nonce: 'abcdefgh&page=1' })
      t.equal(ampNonce.json().error.code, 'invalid_signature')
      const msTimestamp = await signed(app, { method: 'GET', url: '/api/user/external/u-1001', timestamp: '1767225600.5' })
      t.equal(msTimestamp.json().error.code, 'invalid_signature')
    })

    t.test('a nonce of exactly 8 and of 64 characters is accepted', async (t) => {
      const eight = await signed(app, { method: 'GET', url: '/api/user/external/u-1001', nonce: `a${freshNonce().slice(0, 7)}` })
      t.equal(eight.statusCode, 200)
      const sixtyFour = await signed(app, { method: 'GET', url: '/api/user/external/u-1001', nonce: freshNonce().padEnd(64, 'x') })
      t.equal(sixtyFour.statusCode, 200)
    })

    t.test('a timestamp beyond EXTERNAL_MAX_SKEW_S either way → 401 stale_timestamp', async (t) => {
      const now = Math.floor(clock.now() / 1000)
      const old = await signed(app, { method: 'GET', url: '/api/user/external/u-1001', timestamp: String(now - 301) })
      t.equal(old.statusCode, 401)
      t.equal(old.json().error.code, 'stale_timestamp')
      const future = await signed(app, { method: 'GET', url: '/api/user/external/u-1001', timestamp: String(now + 301) })
      t.equal(future.json().error.code, 'stale_timestamp')
      const edge = await signed(app, { method: 'GET', url: '/api/user/external/u-1001', timestamp: String(now - 300) })
      t.equal(edge.statusCode, 200)
    })

    t.test('a signed request held back until it is stale is refused (ManualClock)', async (t) => {
      const nonce = freshNonce()
      const timestamp = String(Math.floor(clock.now() / 1000))
      clock.advance(301_000)
      t.teardown(() => clock.set(VECTOR_TIME_MS))
      const res = await signed(app, { method: 'GET', url: '/api/user/external/u-1001', nonce, timestamp })
      t.equal(res.json().error.code, 'stale_timestamp')
    })

    t.test('an unsigned request does not burn the nonce a partner is about to use', async (t) => {
      const nonce = freshNonce()
      const forged = await signed(app, { method: 'GET', url: '/api/user/external/u-1001', nonce, signature: 'f'.repeat(64) })
      t.equal(forged.json().error.code, 'invalid_signature')
      const real = await signed(app, { method: 'GET', url: '/api/user/external/u-1001', nonce })
      t.equal(real.statusCode, 200)
    })

    t.test('broken JSON with a bad signature → 401; correctly signed broken JSON → 400', async (t) => {
      const unsigned = await signed(app, { method: 'POST', url: '/api/user/external/sync', body: '{"a":1}', sentBody: '{not json' })
      t.equal(unsigned.statusCode, 401)
      t.equal(unsigned.json().error.code, 'invalid_signature')
      const broken = await signed(app, { method: 'POST', url: '/api/user/external/sync', body: '{not json' })
      t.equal(broken.statusCode, 400)
      t.equal(broken.json().error.code, 'invalid_request')
    })

    t.test('a body that is not JSON → 415 before anything else', async (t) => {
      const res = await signed(app, { method: 'POST', url: '/api/user/external/sync', body: 'a=1', headers: { 'content-type': 'application/x-www-form-urlencoded' } })
      t.equal(res.statusCode, 415)
    })

    t.test('the guard covers only the partner API', async (t) => {
      const res = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'x', password: 'y' } })
      t.equal(res.statusCode, 401)
      t.equal(res.json().error.code, 'invalid_credentials')
    })
  })

  t.test(`${backend.name}: no EXTERNAL_API_SECRET → 503 external_api_disabled on every route`, async (t) => {
    const { app } = await buildApp(t, backend)
    for (const [method, url] of [['POST', '/api/user/external/sync'], ['POST', '/api/user/external/topup'], ['POST', '/api/user/external/token'], ['GET', '/api/user/external/u-1'], ['GET', '/api/user/external/u-1/stats'], ['GET', '/api/user/external/u-1/topups']] as const) {
      const res = await signed(app, { method, url, body: method === 'POST' ? { external_user_id: 'u-1' } : undefined })
      t.equal(res.statusCode, 503, url)
      t.equal(res.json().error.code, 'external_api_disabled', url)
      t.equal(res.json().error.type, 'api_error')
    }
  })
}
