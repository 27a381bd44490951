import t from 'tap'
import { eq } from 'drizzle-orm'
import { hashRelayKey } from '../../src/security/secrets.js'
import { backends } from '../support/backends.js'
import { bearer, buildApp, login } from '../support/build-app.js'
import { makeToken, makeUser } from './support.js'

for (const backend of backends()) {
  t.test(backend.name, async (t) => {
    const { app } = await buildApp(t, backend)
    const admin = bearer(await login(app))
    const alice = await makeUser(app, 'alice')
    const bob = await makeUser(app, 'bob')

    t.test('POST → 201 with the whole key once; GET shows it masked; the DB holds only its hash', async (t) => {
      const res = await app.inject({ method: 'POST', url: '/api/token', headers: alice.headers, payload: { name: 'laptop' } })
      t.equal(res.statusCode, 201, res.body)
      const created = res.json()
      t.match(created.key, /^sk-[A-Za-z0-9]{48}$/)
      t.same(Object.keys(created).sort(), [
        'accessed_at', 'allow_ips', 'created_at', 'expired', 'expires_at', 'group', 'id', 'key', 'models', 'name',
        'personal_api_id', 'rate_limit_rpm', 'remain_quota', 'request_count', 'status', 'unlimited_quota', 'used_quota', 'user_id',
      ])
      t.match(created, { user_id: alice.id, name: 'laptop', status: 'enabled', expired: false, unlimited_quota: true, models: [], allow_ips: [], group: null })
      const lifetimeDays = (Date.parse(created.expires_at) - Date.parse(created.created_at)) / 86_400_000
      t.ok(lifetimeDays > 364.9 && lifetimeDays < 365.1, 'expires in one year by default')

      const masked = `${created.key.slice(0, 5)}...${created.key.slice(-4)}`
      const get = await app.inject({ method: 'GET', url: `/api/token/${created.id}`, headers: alice.headers })
      t.equal(get.json().key, masked)
      t.notOk(get.body.includes(created.key))
      const list = await app.inject({ method: 'GET', url: '/api/token', headers: alice.headers })
      t.notOk(list.body.includes(created.key))
      t.equal(list.json().data[0].key, masked)

      const rows = await app.db.db.select().from(app.db.t.tokens).where(eq(app.db.t.tokens.id, created.id))
      t.equal(rows[0]!.keyHash, hashRelayKey(created.key))
      t.notOk(JSON.stringify(rows[0]).includes(created.key.slice(3)), 'the key is nowhere in the row')
    })

    t.test('create takes expiry, quota, models, allow_ips; null expires_at means never', async (t) => {
      const res = await app.inject({
        method: 'POST', url: '/api/token', headers: alice.headers,
        payload: { name: 'ci', expires_at: null, unlimited_quota: false, remain_quota: 500, models: ['gpt-4o'], allow_ips: ['10.0.0.0/8', '::1'] },
      })
      t.equal(res.statusCode, 201, res.body)
      t.match(res.json(), { expires_at: null, unlimited_quota: false, remain_quota: 500, models: ['gpt-4o'], allow_ips: ['10.0.0.0/8', '::1'] })
    })

    t.test('validation: missing name, bad allow_ips, bad expires_at, unknown field → 400 with param', async (t) => {
      const cases: Array<[Record<string, unknown>, string]> = [
        [{}, 'name'],
        [{ name: '' }, 'name'],
        [{ name: 'x', allow_ips: ['10.0.0.300'] }, 'allow_ips'],
        [{ name: 'x', allow_ips: ['10.0.0.0/33'] }, 'allow_ips'],
        [{ name: 'x', expires_at: 'tomorrow' }, 'expires_at'],
        [{ name: 'x', remain_quota: -1 }, 'remain_quota'],
        [{ name: 'x', user_id: 1 }, 'user_id'],
        // Regression: body coercion once read these as null, i.e. "never expires" and "no limit".
        [{ name: 'x', expires_at: '' }, 'expires_at'],
        [{ name: 'x', rate_limit_rpm: 0 }, 'rate_limit_rpm'],
        [{ name: 'x', remain_quota: '100' }, 'remain_quota'],
      ]
      for (const [payload, param] of cases) {
        const res = await app.inject({ method: 'POST', url: '/api/token', headers: alice.headers, payload })
        t.equal(res.statusCode, 400, JSON.stringify(payload))
        t.match(res.json().error, { code: 'invalid_request', param }, JSON.stringify(payload))
      }
    })

    t.test('a user may name only their own group; admins any', async (t) => {
      const other = await app.inject({ method: 'POST', url: '/api/token', headers: alice.headers, payload: { name: 'g', group: 'vip' } })
      t.equal(other.statusCode, 403)
      t.equal(other.json().error.code, 'group_not_allowed')
      const own = await app.inject({ method: 'POST', url: '/api/token', headers: alice.headers, payload: { name: 'g', group: 'default' } })
      t.equal(own.statusCode, 201)
      const byAdmin = await app.inject({ method: 'POST', url: '/api/token', headers: admin, payload: { name: 'g', group: 'vip' } })
      t.equal(byAdmin.statusCode, 201)
      t.equal(byAdmin.json().group, 'vip')
      const patch = await app.inject({ method: 'PATCH', url: `/api/token/${own.json().id}`, headers: alice.headers, payload: { group: 'vip' } })
      t.equal(patch.statusCode, 403)
    })

    t.test("isolation: another user's token is a 404 to read, change or delete", async (t) => {
      const token = await makeToken(app, alice.headers, { name: 'private' })
      for (const method of ['GET', 'PATCH', 'DELETE'] as const) {
        const res = await app.inject({
          method, url: `/api/token/${token.id}`, headers: bob.headers, ...(method === 'PATCH' ? { payload: { name: 'stolen' } } : {}),
        })
        t.equal(res.statusCode, 404, method)
        t.equal(res.json().error.code, 'not_found')
      }
      const bobList = await app.inject({ method: 'GET', url: '/api/token', headers: bob.headers })
      t.equal(bobList.json().total, 0)
      const stillThere = await app.inject({ method: 'GET', url: `/api/token/${token.id}`, headers: alice.headers })
      t.equal(stillThere.json().name, 'private')
    })

    t.test("admins see every token and filter with ?user_id=; a user's user_id filter shows only their own", async (t) => {
      await makeToken(app, bob.headers, { name: 'bob-1' })
      const all = await app.inject({ method: 'GET', url: '/api/token?page_size=100', headers: admin })
      const owners = new Set(all.json().data.map((tok: { user_id: number }) => tok.user_id))
      t.ok(owners.has(alice.id) && owners.has(bob.id))
      const onlyBob = await app.inject({ method: 'GET', url: `/api/token?user_id=${bob.id}`, headers: admin })
      t.equal(onlyBob.json().total, 1)
      t.equal(onlyBob.json().data[0].name, 'bob-1')
      const adminGet = await app.inject({ method: 'GET', url: `/api/token/${onlyBob.json().data[0].id}`, headers: admin })
      t.equal(adminGet.statusCode, 200)
      const bobPeeks = await app.inject({ method: 'GET', url: `/api/token?user_id=${alice.id}`, headers: bob.headers })
      t.same(bobPeeks.json().data.map((tok: { user_id: number }) => tok.user_id), [bob.id])
    })

    t.test('PATCH changes fields and status; DELETE → 204 then 404 (soft delete)', async (t) => {
      const token = await makeToken(app, alice.headers, { name: 'temp' })
      const patch = await app.inject({
        method: 'PATCH', url: `/api/token/${token.id}`, headers: alice.headers,
        payload: { name: 'renamed', status: 'disabled', models: ['a', 'b'], expires_at: '2030-01-01T00:00:00.000Z' },
      })
      t.equal(patch.statusCode, 200, patch.body)
      t.match(patch.json(), { name: 'renamed', status: 'disabled', models: ['a', 'b'], expires_at: '2030-01-01T00:00:00.000Z' })
      t.equal((await app.inject({ method: 'PATCH', url: `/api/token/${token.id}`, headers: alice.headers, payload: { status: 'auto' } })).statusCode, 400)
      const del = await app.inject({ method: 'DELETE', url: `/api/token/${token.id}`, headers: alice.headers })
      t.equal(del.statusCode, 204)
      t.equal((await app.inject({ method: 'GET', url: `/api/token/${token.id}`, headers: alice.headers })).statusCode, 404)
      t.equal((await app.inject({ method: 'DELETE', url: `/api/token/${token.id}`, headers: alice.headers })).statusCode, 404)
      const rows = await app.db.db.select().from(app.db.t.tokens).where(eq(app.db.t.tokens.id, token.id))
      t.ok(rows[0]!.deletedAt, 'the row stays, marked deleted')
    })

    t.test('no session → 401', async (t) => {
      t.equal((await app.inject({ method: 'GET', url: '/api/token' })).statusCode, 401)
    })

    t.test('app.tokens.create is usable without HTTP (partner API) and honours expiresInDays', async (t) => {
      const { token, key } = await app.tokens.create(bob.id, { expiresInDays: 7 })
      t.equal(token.key, key)
      t.equal(token.name, 'default')
      const days = (Date.parse(token.expires_at!) - Date.parse(token.created_at)) / 86_400_000
      t.ok(days > 6.99 && days < 7.01)
    })
  })
}
