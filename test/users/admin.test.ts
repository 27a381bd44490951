import t from 'tap'
import { INVALIDATE } from '../../src/relay/seams.js'
import { backends } from '../support/backends.js'
import { ADMIN, bearer, buildApp, login } from '../support/build-app.js'
import { eventually, registerUser, whoAmI } from './support.js'

for (const backend of backends()) {
  t.test(backend.name, async (t) => {
    const { app } = await buildApp(t, backend)
    const root = await login(app)
    const rootId = (await app.inject({ method: 'GET', url: '/api/user/self', headers: bearer(root) })).json().id as number
    const invalidated: string[] = []
    await app.cache.subscribe(INVALIDATE.user, (message) => invalidated.push(message))
    const admin = (method: 'GET' | 'PATCH' | 'DELETE', url: string, payload?: Record<string, unknown>, token = root) =>
      app.inject({ method, url, headers: bearer(token), ...(payload ? { payload } : {}) })

    const rita = await registerUser(app, 'rita', { email: 'rita@corp.example' })
    const sam = await registerUser(app, 'sam', { email: 'sam@home.example' })
    const tom = await registerUser(app, 'tom_100', { email: 'tom@corp.example' })
    await app.usersRepo.update(sam.id, { externalUserId: 'partner-4711' })

    t.test('GET /api/user lists users paged, newest first, with admin fields', async (t) => {
      const all = await admin('GET', '/api/user')
      t.equal(all.statusCode, 200)
      t.match(all.json(), { total: 4, page: 1, page_size: 20 })
      t.same(all.json().data.map((u: { username: string }) => u.username), ['tom_100', 'sam', 'rita', 'root'])
      t.match(all.json().data[3], { is_root: true, role: 'admin', external_user_id: null })
      const page2 = await admin('GET', '/api/user?page=2&page_size=3')
      t.match(page2.json(), { total: 4, page: 2, page_size: 3 })
      t.same(page2.json().data.map((u: { username: string }) => u.username), ['root'])
      t.equal((await admin('GET', '/api/user?page_size=101')).statusCode, 400)
      t.equal((await admin('GET', '/api/user?page=0')).statusCode, 400)
    })

    t.test('?keyword= matches username, email and external id; wildcards are literal', async (t) => {
      const names = async (keyword: string) =>
        (await admin('GET', `/api/user?keyword=${encodeURIComponent(keyword)}`)).json().data.map((u: { username: string }) => u.username)
      t.same(await names('rit'), ['rita'])
      t.same(await names('corp.example'), ['tom_100', 'rita'])
      t.same(await names('4711'), ['sam'])
      t.same(await names('%'), [])
      t.same(await names('to_'), [], '`_` is not a wildcard')
      t.same(await names('_'), ['tom_100'])
      const counted = await admin('GET', '/api/user?keyword=corp')
      t.equal(counted.json().total, 2)
    })

    t.test('GET /api/user/:id → the user; unknown → 404; not a number → 400', async (t) => {
      const one = await admin('GET', `/api/user/${rita.id}`)
      t.equal(one.statusCode, 200)
      t.match(one.json(), { id: rita.id, username: 'rita', email: 'rita@corp.example', is_root: false })
      t.notOk('password_hash' in one.json())
      t.equal((await admin('GET', '/api/user/99999')).statusCode, 404)
      t.equal((await admin('GET', '/api/user/abc')).statusCode, 400)
    })

    t.test('disable → sessions 403 user_disabled, login refused, relay told; re-enable → works again', async (t) => {
      invalidated.length = 0
      const off = await admin('PATCH', `/api/user/${rita.id}`, { status: 'disabled' })
      t.equal(off.statusCode, 200)
      t.equal(off.json().status, 'disabled')
      t.ok(await eventually(invalidated, String(rita.id)), 'relay caches told within 1 s')
      const refused = await app.inject({ method: 'GET', url: '/api/user/self', headers: bearer(rita.token) })
      t.equal(refused.statusCode, 403)
      t.equal(refused.json().error.code, 'user_disabled')
      const loginRes = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'rita', password: rita.password } })
      t.equal(loginRes.statusCode, 403)

      const on = await admin('PATCH', `/api/user/${rita.id}`, { status: 'enabled' })
      t.equal(on.statusCode, 200)
      t.equal(on.json().status, 'enabled')
      t.equal(await whoAmI(app, rita.token), 200)
    })

    t.test('promote to admin and change group; demote again', async (t) => {
      const up = await admin('PATCH', `/api/user/${tom.id}`, { role: 'admin', group: 'vip' })
      t.equal(up.statusCode, 200)
      t.match(up.json(), { role: 'admin', group: 'vip' })
      t.equal((await admin('GET', '/api/user', undefined, tom.token)).statusCode, 200)
      const down = await admin('PATCH', `/api/user/${tom.id}`, { role: 'user' })
      t.equal(down.json().role, 'user')
      t.equal((await admin('GET', '/api/user', undefined, tom.token)).statusCode, 403)
    })

    t.test('PATCH validates strictly: unknown fields and bad values → 400', async (t) => {
      for (const payload of [{ quota: 5 }, { role: 'root' }, { status: 'auto_disabled' }, { group: 'has space' }, { is_root: true }]) {
        t.equal((await admin('PATCH', `/api/user/${tom.id}`, payload)).statusCode, 400, JSON.stringify(payload))
      }
      t.equal((await admin('PATCH', '/api/user/99999', { group: 'x' })).statusCode, 404)
    })

    t.test('root can be neither demoted, disabled nor deleted → 403 root_protected', async (t) => {
      const other = await registerUser(app, 'ursula')
      await admin('PATCH', `/api/user/${other.id}`, { role: 'admin' })
      const byOther = await login(app, 'ursula', other.password)
      for (const res of [
        await admin('PATCH', `/api/user/${rootId}`, { role: 'user' }, byOther),
        await admin('PATCH', `/api/user/${rootId}`, { status: 'disabled' }, byOther),
        await admin('DELETE', `/api/user/${rootId}`, undefined, byOther),
      ]) {
        t.equal(res.statusCode, 403)
        t.equal(res.json().error.code, 'root_protected')
      }
      t.equal((await admin('PATCH', `/api/user/${rootId}`, { group: 'staff' })).statusCode, 200, 'other changes are fine')
      t.equal(await whoAmI(app, root), 200)
    })

    t.test('an admin cannot demote, disable or delete themselves → 403 self_protected', async (t) => {
      const vera = await registerUser(app, 'vera')
      await admin('PATCH', `/api/user/${vera.id}`, { role: 'admin' })
      const self = await login(app, 'vera', vera.password)
      for (const res of [
        await admin('PATCH', `/api/user/${vera.id}`, { role: 'user' }, self),
        await admin('PATCH', `/api/user/${vera.id}`, { status: 'disabled' }, self),
        await admin('DELETE', `/api/user/${vera.id}`, undefined, self),
      ]) {
        t.equal(res.statusCode, 403)
        t.equal(res.json().error.code, 'self_protected')
      }
    })

    t.test('DELETE → 204: hidden (404), login refused, sessions refused, tokens disabled, relay told', async (t) => {
      const walt = await registerUser(app, 'walt')
      const now = new Date()
      const { db, t: tables } = app.db
      await db.insert(tables.tokens).values({
        userId: walt.id, name: 'k', keyHash: `h-${walt.id}`, keyMask: 'sk-ab...wxyz', models: [], allowIps: [], createdAt: now, updatedAt: now,
      })
      invalidated.length = 0
      t.equal((await admin('DELETE', `/api/user/${walt.id}`)).statusCode, 204)
      t.ok(await eventually(invalidated, String(walt.id)), 'relay caches told within 1 s')
      t.equal((await admin('GET', `/api/user/${walt.id}`)).statusCode, 404)
      t.equal((await admin('DELETE', `/api/user/${walt.id}`)).statusCode, 404)
      t.equal(await whoAmI(app, walt.token), 401)
      const loginRes = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'walt', password: walt.password } })
      t.equal(loginRes.statusCode, 401)
      const tokens = await db.select().from(tables.tokens)
      const walts = tokens.filter((row) => row.userId === walt.id)
      t.equal(walts.length, 1)
      t.ok(walts.every((row) => row.status === 'disabled'))
      const users = await db.select().from(tables.users)
      const row = users.find((u) => u.id === walt.id)
      t.ok(row?.deletedAt, 'the row is kept (usage log keeps pointing at it)')
      t.notOk((await admin('GET', '/api/user?keyword=walt')).json().data.length)
    })

    t.test('a non-admin gets 403 on every admin route, a stranger 401', async (t) => {
      const routes = [
        ['GET', '/api/user'],
        ['GET', `/api/user/${rita.id}`],
        ['PATCH', `/api/user/${rita.id}`, { status: 'disabled' }],
        ['PATCH', `/api/user/${sam.id}`, { role: 'admin' }],
        ['DELETE', `/api/user/${rita.id}`],
      ] as const
      for (const [method, url, payload] of routes) {
        const asUser = await admin(method, url, payload, sam.token)
        t.equal(asUser.statusCode, 403, `${method} ${url}`)
        t.equal(asUser.json().error.code, 'admin_required')
        const anon = await app.inject({ method, url, ...(payload ? { payload } : {}) })
        t.equal(anon.statusCode, 401, `${method} ${url} anonymous`)
      }
      t.equal(await whoAmI(app, rita.token), 200, 'nothing changed')
      t.equal((await app.inject({ method: 'GET', url: '/api/user/self', headers: bearer(sam.token) })).json().role, 'user')
      t.equal(ADMIN.username, 'root')
    })
  })
}
