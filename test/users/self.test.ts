import t from 'tap'
import { backends } from '../support/backends.js'
import { bearer, buildApp, login } from '../support/build-app.js'
import { registerUser } from './support.js'

for (const backend of backends()) {
  t.test(backend.name, async (t) => {
    const { app } = await buildApp(t, backend)
    const patchSelf = (token: string, payload: Record<string, unknown>) =>
      app.inject({ method: 'PATCH', url: '/api/user/self', headers: bearer(token), payload })

    const pat = await registerUser(app, 'pat', { email: 'pat@example.com' })
    await registerUser(app, 'quinn', { email: 'quinn@example.com' })

    t.test('PATCH self changes username and email → 200 user; the new username logs in', async (t) => {
      const res = await patchSelf(pat.token, { username: 'patricia', email: 'patricia@example.com' })
      t.equal(res.statusCode, 200)
      t.match(res.json(), { id: pat.id, username: 'patricia', email: 'patricia@example.com', role: 'user' })
      t.ok(await login(app, 'patricia', pat.password))
      const oldName = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'pat', password: pat.password } })
      t.equal(oldName.statusCode, 401)
    })

    t.test('PATCH self keeping its own username or email is no conflict', async (t) => {
      const res = await patchSelf(pat.token, { username: 'patricia', email: 'patricia@example.com' })
      t.equal(res.statusCode, 200)
    })

    t.test('PATCH self to a taken username / email → 409 username_taken / email_taken', async (t) => {
      const name = await patchSelf(pat.token, { username: 'quinn' })
      t.equal(name.statusCode, 409)
      t.equal(name.json().error.code, 'username_taken')
      t.equal(name.json().error.param, 'username')
      const mail = await patchSelf(pat.token, { email: 'quinn@example.com' })
      t.equal(mail.statusCode, 409)
      t.equal(mail.json().error.code, 'email_taken')
      const root = await patchSelf(pat.token, { username: 'root' })
      t.equal(root.statusCode, 409)
    })

    t.test('PATCH self with email null removes the address', async (t) => {
      const res = await patchSelf(pat.token, { email: null })
      t.equal(res.statusCode, 200)
      t.equal(res.json().email, null)
    })

    t.test('PATCH self rejects smuggled fields and bad values with 400, changing nothing', async (t) => {
      for (const [payload, param] of [
        [{ role: 'admin' }, 'role'],
        [{ quota: 1e9 }, 'quota'],
        [{ status: 'enabled' }, 'status'],
        [{ username: 'no spaces allowed' }, 'username'],
        [{ username: 'ab' }, 'username'],
        [{ username: 'x'.repeat(51) }, 'username'],
        [{ email: 'not-an-email' }, 'email'],
      ] as const) {
        const res = await patchSelf(pat.token, payload)
        t.equal(res.statusCode, 400, JSON.stringify(payload))
        t.equal(res.json().error.param, param)
      }
      const self = await app.inject({ method: 'GET', url: '/api/user/self', headers: bearer(pat.token) })
      t.match(self.json(), { username: 'patricia', role: 'user', quota: 0 })
    })

    t.test('PATCH self without a session → 401', async (t) => {
      const res = await app.inject({ method: 'PATCH', url: '/api/user/self', payload: { username: 'whoever' } })
      t.equal(res.statusCode, 401)
    })
  })
}
