// Issue 9 item 5: JSON nested deeper than 64 levels is 400 `invalid_request` on every JSON route (CONTRACT §3).
// Before: 65 and 1,000 levels were accepted, a partner `external_data` of 100,000 levels answered 500 and a relay
// body of 5,000–10,000 levels 502. One parser for the whole app now refuses them, keeping fastify's 413 / 400
// answers and its `__proto__` protection.
import t from 'tap'
import { MAX_JSON_DEPTH, parseJsonBody } from '../../src/infra/json-body.js'
import { ledger } from '../billing/fixtures.js'
import { PARTNER_ENV, signed } from '../external/partner-client.js'
import { chat, post, startRig } from '../relay/fixture.js'
import { backends } from '../support/backends.js'
import { bearer } from '../support/build-app.js'

const MB = 1024 * 1024

/** A JSON text of exactly `depth` levels: nested arrays, innermost empty. */
const arrays = (depth: number) => '['.repeat(depth) + ']'.repeat(depth)
/** A JSON object text of exactly `depth` levels: `{"a":{"a":…1…}}`. */
const objects = (depth: number) => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth)

const TOO_DEEP = /JSON nested deeper than 64 levels/

t.test('parseJsonBody: the depth limit, counted the way a reader counts brackets', async (t) => {
  t.equal(MAX_JSON_DEPTH, 64)
  t.doesNotThrow(() => parseJsonBody(arrays(64)))
  t.doesNotThrow(() => parseJsonBody(objects(64)))
  t.throws(() => parseJsonBody(arrays(65)), { statusCode: 400, code: 'invalid_request', message: TOO_DEEP })
  t.throws(() => parseJsonBody(objects(65)), { statusCode: 400, code: 'invalid_request', message: TOO_DEEP })
  t.throws(() => parseJsonBody(arrays(1_000_000)), { statusCode: 400, message: TOO_DEEP })
  // Brackets inside strings are text, not nesting.
  t.same(parseJsonBody(JSON.stringify({ text: '['.repeat(500) })), { text: '['.repeat(500) })
  // Width is not depth.
  t.doesNotThrow(() => parseJsonBody(JSON.stringify(Array.from({ length: 10_000 }, () => [[{ a: [1] }]]))))
})

t.test('parseJsonBody keeps what fastify\'s parser did: empty / broken → 400, BOM tolerated, poisoning refused', async (t) => {
  for (const text of ['', '{', '{"a":1', 'nope', '\ufeff']) {
    t.throws(() => parseJsonBody(text), { statusCode: 400, code: 'invalid_request', message: 'request body is not valid JSON' }, JSON.stringify(text))
  }
  t.same(parseJsonBody('\ufeff{"a":1}'), { a: 1 })
  t.equal(parseJsonBody('3'), 3)
  t.throws(() => parseJsonBody('{"a":[{"__proto__":{"admin":true}}]}'), { statusCode: 400, message: /'__proto__'/ })
  t.throws(() => parseJsonBody('{"constructor":{"prototype":{"admin":true}}}'), { statusCode: 400, message: /'constructor'/ })
  // As with secure-json-parse, a `constructor` without a `prototype` is ordinary data.
  t.same(parseJsonBody('{"constructor":"x","b":{"constructor":{}}}'), { constructor: 'x', b: { constructor: {} } })
})

for (const backend of backends()) {
  t.test(`${backend.name}: JSON nested deeper than 64 levels → 400 on every JSON route`, async (t) => {
    const rig = await startRig(t, backend, { env: { ...PARTNER_ENV, BODY_LIMIT_BYTES: String(MB) } })
    const { app } = rig
    const admin = bearer(rig.adminSession)
    const adminId = (await app.inject({ method: 'GET', url: '/api/user/self', headers: admin })).json().id as number
    const json = { ...admin, 'content-type': 'application/json' }
    const sync = (id: string, data: string) =>
      signed(app, { method: 'POST', url: '/api/user/external/sync', body: `{"external_user_id":"${id}","external_data":${data}}` })

    t.test('management route: 64 levels reach validation, 65 are refused by the parser', async (t) => {
      const at64 = await app.inject({ method: 'POST', url: '/api/token', headers: json, payload: `{"name":"deep","models":${arrays(63)}}` })
      t.equal(at64.statusCode, 400)
      t.equal(at64.json().error.param, 'models.0', 'the schema, not the parser, refused the 64-level body')
      for (const depth of [65, 1_000, 100_000]) {
        const res = await app.inject({ method: 'POST', url: '/api/token', headers: json, payload: `{"name":"deep","models":${arrays(depth - 1)}}` })
        t.equal(res.statusCode, 400, `${depth} levels`)
        t.match(res.json().error, { code: 'invalid_request', type: 'invalid_request_error', message: TOO_DEEP })
      }
      const self = await app.inject({ method: 'PATCH', url: '/api/user/self', headers: json, payload: `{"email":${objects(80)}}` })
      t.equal(self.statusCode, 400)
      t.match(self.json().error.message, TOO_DEEP)
    })

    t.test('management route: body limit, empty and broken bodies and __proto__ answer as before', async (t) => {
      const big = await app.inject({ method: 'POST', url: '/api/token', headers: json, payload: `{"name":"${'x'.repeat(MB)}"}` })
      t.equal(big.statusCode, 413)
      t.equal(big.json().error.code, 'body_too_large')
      const empty = await app.inject({ method: 'POST', url: '/api/token', headers: json, payload: '' })
      t.equal(empty.statusCode, 400)
      t.equal(empty.json().error.code, 'invalid_request')
      const broken = await app.inject({ method: 'POST', url: '/api/token', headers: json, payload: '{"name":' })
      t.equal(broken.statusCode, 400)
      t.equal(broken.json().error.message, 'request body is not valid JSON')
      const poisoned = await app.inject({ method: 'POST', url: '/api/token', headers: json, payload: '{"name":"p","__proto__":{"unlimited_quota":false}}' })
      t.equal(poisoned.statusCode, 400)
      t.equal(poisoned.json().error.code, 'invalid_request')
    })

    t.test('partner sync: a body nested 65 or 100,000 levels → 400, no user made', async (t) => {
      for (const depth of [65, 100_000]) {
        const res = await sync(`deep-${depth}`, objects(depth - 1))
        t.equal(res.statusCode, 400, `${depth} levels: ${res.body.slice(0, 200)}`)
        t.match(res.json().error, { code: 'invalid_request', message: TOO_DEEP })
        const get = await signed(app, { method: 'GET', url: `/api/user/external/deep-${depth}` })
        t.equal(get.statusCode, 404)
      }
    })

    // Found on the way: MariaDB's JSON column refuses values nested deeper than 32 levels (as it counts them),
    // so a 40-level external_data answered 500 there and 201 on SQLite.
    t.test('partner sync: external_data is stored up to 31 levels on every backend; deeper → 400 naming it', async (t) => {
      const ok = await sync('deep-31', objects(31))
      t.equal(ok.statusCode, 201, ok.body)
      const okArrays = await sync('deep-31-arrays', `{"list":${arrays(30)}}`)
      t.equal(okArrays.statusCode, 201, okArrays.body)
      for (const data of [objects(32), `{"list":${arrays(31)}}`, objects(63)]) {
        const res = await sync('deep-32', data)
        t.equal(res.statusCode, 400, res.body)
        t.match(res.json().error, { code: 'invalid_request', param: 'external_data', message: /nested deeper than 31 levels/ })
      }
      t.equal((await signed(app, { method: 'GET', url: '/api/user/external/deep-32' })).statusCode, 404)
    })

    t.test('/v1/chat/completions: 64 levels are relayed; 65 and 10,000 levels → 400, nothing upstream, ledger unchanged', async (t) => {
      await rig.channel({ key: 'ok-deep-json', models: ['deep-json-model'] })
      await rig.price('deep-json-model')
      const { key } = await rig.token()
      // root object (1) → messages (2) → message (3) → content (the rest)
      const body = (depth: number) => `{"model":"deep-json-model","messages":[{"role":"user","content":${arrays(depth - 3)}}]}`

      const accepted = await post(rig, '/v1/chat/completions', key, body(64))
      t.equal(accepted.status, 200, await accepted.clone().text())
      await accepted.text()
      t.ok(rig.upstream.lastFor('ok-deep-json'), 'the 64-level body reached the upstream')

      // Let the accepted request settle before taking the ledger.
      await new Promise((resolve) => setTimeout(resolve, 200))
      const before = await ledger(app, adminId)
      const upstreamBefore = rig.upstream.requests.length
      for (const depth of [65, 5_000, 10_000]) {
        const res = await post(rig, '/v1/chat/completions', key, body(depth))
        t.equal(res.status, 400, `${depth} levels`)
        t.match(((await res.json()) as { error: unknown }).error, { code: 'invalid_request', type: 'invalid_request_error', message: TOO_DEEP })
      }
      const stream = await post(rig, '/v1/chat/completions', key, chat('deep-json-model', { stream: true, tools: JSON.parse(arrays(70)) }))
      t.equal(stream.status, 400)
      await stream.text()
      await new Promise((resolve) => setTimeout(resolve, 100))
      t.equal(rig.upstream.requests.length, upstreamBefore, 'nothing reached the upstream')
      t.same(await ledger(app, adminId), before, 'no reservation, no usage row')
    })
  })
}
