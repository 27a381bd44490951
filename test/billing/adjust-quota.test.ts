import t from 'tap'
import { INVALIDATE } from '../../src/relay/seams.js'
import { backends } from '../support/backends.js'
import { bearer, buildApp, login } from '../support/build-app.js'
import { ledger, makeUserWithToken } from './fixtures.js'

for (const backend of backends()) {
  t.test(backend.name, async (t) => {
    const { app } = await buildApp(t, backend)
    const admin = await login(app)
    const adjust = (id: number, payload: object, token = admin) =>
      app.inject({ method: 'POST', url: `/api/user/${id}/quota`, headers: bearer(token), payload })

    t.test('a positive delta adds quota, records an adjustment and announces the change', async (t) => {
      const { userId } = await makeUserWithToken(app, { quota: 100 })
      const announced: string[] = []
      await app.cache.subscribe(INVALIDATE.user, (id) => announced.push(id))
      const res = await adjust(userId, { delta: 500, remark: 'goodwill' })
      t.equal(res.statusCode, 200, res.body)
      t.match(res.json(), { id: userId, quota: 600, used_quota: 0 })
      t.match(await ledger(app, userId), { quota: 600, topups: 600 })
      const { db, t: tables } = app.db
      const { and, eq } = await import('drizzle-orm')
      const rows = await db.select().from(tables.topups).where(and(eq(tables.topups.userId, userId), eq(tables.topups.kind, 'adjustment')))
      t.equal(rows.length, 1)
      t.match(rows[0], { quota: 500, remark: 'goodwill' })
      t.type(rows[0]!.createdBy, 'number')
      // publish is asynchronous on Redis
      for (let i = 0; i < 50 && !announced.includes(String(userId)); i++) await new Promise((r) => setTimeout(r, 10))
      t.ok(announced.includes(String(userId)))
    })

    t.test('a negative delta takes quota away, down to exactly zero', async (t) => {
      const { userId } = await makeUserWithToken(app, { quota: 300 })
      const res = await adjust(userId, { delta: -300, remark: 'chargeback' })
      t.equal(res.statusCode, 200)
      t.equal(res.json().quota, 0)
      t.match(await ledger(app, userId), { quota: 0, topups: 0 })
    })

    t.test('a negative delta below zero → 400 quota_below_zero and nothing changes', async (t) => {
      const { userId } = await makeUserWithToken(app, { quota: 300 })
      const res = await adjust(userId, { delta: -301, remark: 'too much' })
      t.equal(res.statusCode, 400)
      t.equal(res.json().error.code, 'quota_below_zero')
      t.equal(res.json().error.param, 'delta')
      t.match(await ledger(app, userId), { quota: 300, topups: 300 })
    })

    t.test('bad bodies → 400; unknown user → 404; non-admin → 403', async (t) => {
      const { userId } = await makeUserWithToken(app, { quota: 0 })
      for (const payload of [{ delta: 0, remark: 'x' }, { delta: 1.5, remark: 'x' }, { delta: 5 }, { delta: 5, remark: '' }, { delta: 5, remark: 'x', extra: 1 }]) {
        const res = await adjust(userId, payload)
        t.equal(res.statusCode, 400, JSON.stringify(payload))
      }
      t.equal((await adjust(999_999, { delta: 5, remark: 'x' })).statusCode, 404)
      await app.inject({ method: 'POST', url: '/api/auth/register', payload: { username: 'plain', password: 'password1' } })
      const user = await login(app, 'plain', 'password1')
      t.equal((await adjust(userId, { delta: 5, remark: 'x' }, user)).statusCode, 403)
      t.match(await ledger(app, userId), { quota: 0, topups: 0 })
    })
  })
}
