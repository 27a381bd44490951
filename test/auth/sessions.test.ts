import t from 'tap'
import { backends } from '../support/backends.js'
import { ADMIN, bearer, buildApp, login } from '../support/build-app.js'

for (const backend of backends()) {
  t.test(backend.name, async (t) => {
    const { app } = await buildApp(t, backend)

    t.test('register → 201 user, then login and read self', async (t) => {
      const reg = await app.inject({
        method: 'POST',
        url: '/api/auth/register',
        payload: { username: 'alice', email: 'alice@example.com', password: 'correct horse' },
      })
      t.equal(reg.statusCode, 201, reg.body)
      t.match(reg.json(), { username: 'alice', email: 'alice@example.com', role: 'user', quota: 0, used_quota: 0 })
      t.notOk('password_hash' in reg.json())

      const res = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'alice', password: 'correct horse' } })
      t.equal(res.statusCode, 200)
      const body = res.json()
      t.equal(body.token_type, 'Bearer')
      t.equal(body.expires_in, 86400)
      t.match(body.user, { username: 'alice' })
      t.type(body.user.last_login_at, 'string')

      const self = await app.inject({ method: 'GET', url: '/api/user/self', headers: bearer(body.access_token) })
      t.equal(self.statusCode, 200)
      t.same(Object.keys(self.json()).sort(), [
        'created_at', 'email', 'group', 'held_quota', 'id', 'last_login_at', 'quota', 'request_count', 'role', 'status', 'used_quota', 'username',
      ])
    })

    t.test('duplicate username / email → 409 with codes', async (t) => {
      const dupUser = await app.inject({ method: 'POST', url: '/api/auth/register', payload: { username: 'alice', password: 'another pw' } })
      t.equal(dupUser.statusCode, 409)
      t.equal(dupUser.json().error.code, 'username_taken')
      const dupMail = await app.inject({
        method: 'POST', url: '/api/auth/register', payload: { username: 'alice2', email: 'alice@example.com', password: 'another pw' },
      })
      t.equal(dupMail.statusCode, 409)
      t.equal(dupMail.json().error.code, 'email_taken')
    })

    t.test('register rejects smuggled role and bad fields with 400 and changes nothing', async (t) => {
      const smuggled = await app.inject({
        method: 'POST', url: '/api/auth/register', payload: { username: 'mallory', password: 'password1', role: 'admin' },
      })
      t.equal(smuggled.statusCode, 400)
      t.equal(smuggled.json().error.type, 'invalid_request_error')
      t.equal(smuggled.json().error.param, 'role')
      const short = await app.inject({ method: 'POST', url: '/api/auth/register', payload: { username: 'ab', password: 'password1' } })
      t.equal(short.statusCode, 400)
      t.equal(short.json().error.param, 'username')
      const loginMallory = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'mallory', password: 'password1' } })
      t.equal(loginMallory.statusCode, 401)
    })

    t.test('login: same answer for unknown user and wrong password', async (t) => {
      const unknown = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'nobody', password: 'whatever1' } })
      const wrong = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'alice', password: 'whatever1' } })
      t.equal(unknown.statusCode, 401)
      t.same(unknown.json(), wrong.json())
      t.equal(unknown.json().error.code, 'invalid_credentials')
      t.equal(unknown.headers['x-should-retry'], 'false')
    })

    t.test('logout refuses that session from then on, others keep working', async (t) => {
      const a = await login(app, ADMIN.username, ADMIN.password)
      const b = await login(app, ADMIN.username, ADMIN.password)
      const out = await app.inject({ method: 'POST', url: '/api/auth/logout', headers: bearer(a) })
      t.equal(out.statusCode, 204)
      const refused = await app.inject({ method: 'GET', url: '/api/user/self', headers: bearer(a) })
      t.equal(refused.statusCode, 401)
      t.equal(refused.json().error.type, 'authentication_error')
      const still = await app.inject({ method: 'GET', url: '/api/user/self', headers: bearer(b) })
      t.equal(still.statusCode, 200)
      t.equal(still.json().role, 'admin')
    })

    t.test('no or forged session → 401 in the OpenAI error shape', async (t) => {
      const none = await app.inject({ method: 'GET', url: '/api/user/self' })
      t.equal(none.statusCode, 401)
      t.match(none.json(), { error: { type: 'authentication_error', message: String } })
      const forged = await app.inject({ method: 'GET', url: '/api/user/self', headers: bearer('eyJhbGciOiJIUzI1NiJ9.e30.x') })
      t.equal(forged.statusCode, 401)
    })

    t.test('10 failed logins per IP + username → 429 with retry-after', async (t) => {
      await app.inject({ method: 'POST', url: '/api/auth/register', payload: { username: 'bob', password: 'bob-password' } })
      for (let i = 0; i < 10; i++) {
        const r = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'bob', password: 'wrong-pass' } })
        t.equal(r.statusCode, 401)
      }
      const limited = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'bob', password: 'bob-password' } })
      t.equal(limited.statusCode, 429)
      t.ok(Number(limited.headers['retry-after']) > 0)
      const otherIp = await app.inject({
        method: 'POST', url: '/api/auth/login', remoteAddress: '10.9.9.9', payload: { username: 'bob', password: 'bob-password' },
      })
      t.equal(otherIp.statusCode, 200)
    })
  })
}
