import t from 'tap'
import { backends } from '../support/backends.js'
import { buildApp } from '../support/build-app.js'
import { PARTNER_ENV, signed } from './partner-client.js'

const VIEW_KEYS = [
  'created_at', 'email', 'external_user_id', 'group', 'id', 'login_type', 'quota', 'quota_usd', 'request_count', 'status',
  'token_count', 'used_quota', 'used_usd', 'username',
]

for (const backend of backends()) {
  t.test(backend.name, async (t) => {
    const { app } = await buildApp(t, backend, { env: { ...PARTNER_ENV, NEW_USER_QUOTA: '1000' } })
    const sync = (body: unknown) => signed(app, { method: 'POST', url: '/api/user/external/sync', body })
    const get = (id: string) => signed(app, { method: 'GET', url: `/api/user/external/${encodeURIComponent(id)}` })

    t.test('sync creates → 201 with the external view, NEW_USER_QUOTA granted', async (t) => {
      const res = await sync({
        external_user_id: 'wx-42',
        email: 'lei@example.com',
        wechat_openid: 'o-abc',
        login_type: 'wechat',
        external_data: { nickname: '李雷', vip: true },
      })
      t.equal(res.statusCode, 201, res.body)
      const user = res.json()
      t.same(Object.keys(user).sort(), VIEW_KEYS)
      t.match(user, {
        external_user_id: 'wx-42',
        username: 'ext_wx-42',
        email: 'lei@example.com',
        login_type: 'wechat',
        status: 'enabled',
        group: 'default',
        quota: 1000,
        quota_usd: 0.002,
        used_quota: 0,
        token_count: 0,
      })
    })

    t.test('sync again → 200, given fields change, others stay', async (t) => {
      const res = await sync({ external_user_id: 'wx-42', username: 'li.lei', phone: '+8613800000000' })
      t.equal(res.statusCode, 200, res.body)
      t.match(res.json(), { username: 'li.lei', email: 'lei@example.com', login_type: 'wechat', quota: 1000 })
      const cleared = await sync({ external_user_id: 'wx-42', email: null })
      t.equal(cleared.statusCode, 200)
      t.equal(cleared.json().email, null)
    })

    t.test('external users cannot log in with a password', async (t) => {
      for (const password of ['', 'anything-at-all']) {
        const res = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'li.lei', password } })
        t.not(res.statusCode, 200)
      }
    })

    t.test('derived usernames are sanitised and kept unique', async (t) => {
      const a = await sync({ external_user_id: 'a:b/c' })
      t.equal(a.json().username, 'ext_a_b_c')
      const b = await sync({ external_user_id: 'a?b/c' })
      t.equal(b.json().username, 'ext_a_b_c_2')
      const long = await sync({ external_user_id: 'x'.repeat(100) })
      t.equal(long.json().username, `ext_${'x'.repeat(46)}`)
      const long2 = await sync({ external_user_id: `${'x'.repeat(99)}y` })
      t.equal(long2.json().username, `ext_${'x'.repeat(44)}_2`)
    })

    t.test('sync refusals: 400 on unknown fields and bad values, 409 on taken username/email', async (t) => {
      const unknown = await sync({ external_user_id: 'u-9', password: 'x' })
      t.equal(unknown.statusCode, 400)
      t.equal(unknown.json().error.param, 'password')
      const noId = await sync({ username: 'nobody' })
      t.equal(noId.statusCode, 400)
      t.equal(noId.json().error.param, 'external_user_id')
      const longId = await sync({ external_user_id: 'x'.repeat(101) })
      t.equal(longId.statusCode, 400)
      const badType = await sync({ external_user_id: 'u-9', login_type: 'qq' })
      t.equal(badType.statusCode, 400)
      t.equal(badType.json().error.param, 'login_type')
      const badName = await sync({ external_user_id: 'u-9', username: '李雷' })
      t.equal(badName.statusCode, 400)
      t.equal(badName.json().error.param, 'username')
      const spaced = await sync({ external_user_id: 'u 9' })
      t.equal(spaced.statusCode, 400)
      t.equal(spaced.json().error.param, 'external_user_id')
      const badData = await sync({ external_user_id: 'u-9', external_data: [1, 2] })
      t.equal(badData.statusCode, 400)
      const takenName = await sync({ external_user_id: 'u-9', username: 'root' })
      t.equal(takenName.statusCode, 409)
      t.equal(takenName.json().error.code, 'username_taken')
      const takenMail = await sync({ external_user_id: 'u-9', email: 'lei@example.com' })
      t.equal(takenMail.statusCode, 201, 'the email was cleared above, so it is free again')
      const takenMail2 = await sync({ external_user_id: 'u-10', email: 'lei@example.com' })
      t.equal(takenMail2.statusCode, 409)
      t.equal(takenMail2.json().error.code, 'email_taken')
      t.equal((await get('u-10')).statusCode, 404, 'nothing was created by a refused sync')
    })

    t.test('10 concurrent first syncs of one id make one user', async (t) => {
      const results = await Promise.all(Array.from({ length: 10 }, () => sync({ external_user_id: 'race-1' })))
      t.same(results.map((r) => r.statusCode).sort(), [200, 200, 200, 200, 200, 200, 200, 200, 200, 201])
      t.equal(new Set(results.map((r) => r.json().id)).size, 1)
    })

    t.test('GET /:external_user_id → the view; unknown → 404', async (t) => {
      const res = await get('wx-42')
      t.equal(res.statusCode, 200)
      t.same(Object.keys(res.json()).sort(), VIEW_KEYS)
      t.equal(res.json().username, 'li.lei')
      const odd = await get('a:b/c')
      t.equal(odd.statusCode, 200, 'percent-encoded ids in the path are signed as sent and decoded for the lookup')
      t.equal(odd.json().external_user_id, 'a:b/c')
      const missing = await get('nobody')
      t.equal(missing.statusCode, 404)
      t.equal(missing.json().error.code, 'not_found')
      t.equal(missing.headers['x-should-retry'], 'false')
    })
  })
}
