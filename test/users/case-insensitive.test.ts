// Issue 9 item 6: usernames differed only by case — `PATCH /api/user/self {"username":"ROOT"}` → 200 and
// registering `Root` → 201, both able to sign in next to `root`. Usernames and emails are unique
// case-insensitively now (CONTRACT §5), in the database (a unique index on lower(…) on SQLite, a
// case-insensitive collation on MySQL) and in every service that sets them; login ignores case.
import t from 'tap'
import { PARTNER_ENV, signed } from '../external/partner-client.js'
import { backends } from '../support/backends.js'
import { ADMIN, bearer, buildApp, login } from '../support/build-app.js'
import { freshIp, registerUser } from './support.js'

for (const backend of backends()) {
  t.test(`${backend.name}: usernames and emails are unique ignoring case`, async (t) => {
    const { app } = await buildApp(t, backend, { env: PARTNER_ENV })
    const register = (payload: Record<string, unknown>) => app.inject({ method: 'POST', url: '/api/auth/register', payload })
    const patchSelf = (token: string, payload: Record<string, unknown>) =>
      app.inject({ method: 'PATCH', url: '/api/user/self', headers: bearer(token), payload })
    const loginAs = (username: string, password: string) =>
      app.inject({ method: 'POST', url: '/api/auth/login', payload: { username, password }, remoteAddress: freshIp() })
    const rootId = (await app.usersRepo.findByUsername(ADMIN.username))!.id

    const ann = await registerUser(app, 'ann', { email: 'Ann.Smith@Example.com' })
    const ben = await registerUser(app, 'ben', { email: 'ben@example.com' })

    t.test('registering a case variant of a taken username → 409 username_taken', async (t) => {
      for (const username of ['Root', 'ROOT', 'rOOt', 'ANN']) {
        const res = await register({ username, password: 'password-123' })
        t.equal(res.statusCode, 409, `${username}: ${res.body}`)
        t.match(res.json().error, { code: 'username_taken', param: 'username', type: 'invalid_request_error' })
      }
    })

    t.test('registering a case variant of a taken email → 409 email_taken', async (t) => {
      for (const email of ['ann.smith@example.com', 'ANN.SMITH@EXAMPLE.COM', 'BEN@example.com']) {
        const res = await register({ username: `new${Math.random().toString(36).slice(2, 8)}`, email, password: 'password-123' })
        t.equal(res.statusCode, 409, `${email}: ${res.body}`)
        t.match(res.json().error, { code: 'email_taken', param: 'email' })
      }
    })

    t.test('PATCH self to ROOT, or to another user\'s email in other case → 409; nothing changes', async (t) => {
      const name = await patchSelf(ben.token, { username: 'ROOT' })
      t.equal(name.statusCode, 409, name.body)
      t.equal(name.json().error.code, 'username_taken')
      const other = await patchSelf(ben.token, { username: 'Ann' })
      t.equal(other.statusCode, 409)
      const mail = await patchSelf(ben.token, { email: 'ann.smith@EXAMPLE.com' })
      t.equal(mail.statusCode, 409, mail.body)
      t.equal(mail.json().error.code, 'email_taken')
      const self = await app.inject({ method: 'GET', url: '/api/user/self', headers: bearer(ben.token) })
      t.match(self.json(), { username: 'ben', email: 'ben@example.com' })
    })

    t.test('a user may change the case of their own username and email', async (t) => {
      const res = await patchSelf(ann.token, { username: 'Ann', email: 'ann.smith@example.com' })
      t.equal(res.statusCode, 200, res.body)
      t.match(res.json(), { id: ann.id, username: 'Ann', email: 'ann.smith@example.com' })
    })

    t.test('login finds the one account whatever the case of its username or email', async (t) => {
      for (const name of ['ROOT', 'Root', 'root']) {
        const res = await loginAs(name, ADMIN.password)
        t.equal(res.statusCode, 200, `${name}: ${res.body}`)
        t.equal(res.json().user.id, rootId)
      }
      for (const name of ['ann', 'ANN', 'Ann.Smith@Example.COM']) {
        const res = await loginAs(name, ann.password)
        t.equal(res.statusCode, 200, `${name}: ${res.body}`)
        t.equal(res.json().user.id, ann.id)
      }
      t.equal((await loginAs('ROOT', 'wrong-password')).statusCode, 401)
    })

    t.test('concurrent sign-ups of one name in different cases: exactly one 201, the rest 409 (never 500)', async (t) => {
      const names = ['Racer', 'RACER', 'racer', 'rAcEr', 'RaceR', 'racER', 'RACer', 'rACER']
      const results = await Promise.all(names.map((username) => register({ username, password: 'password-123' })))
      const statuses = results.map((r) => r.statusCode).sort()
      t.same(statuses, [201, 409, 409, 409, 409, 409, 409, 409], results.map((r) => r.body).join('\n'))
      for (const res of results.filter((r) => r.statusCode === 409)) t.equal(res.json().error.code, 'username_taken')
    })

    t.test('the database itself refuses a case variant, even past the service checks', async (t) => {
      await t.rejects(app.usersRepo.create({ username: 'ROOT', role: 'user' }, { quota: 0, remark: 'x' }))
      await t.rejects(app.usersRepo.create({ username: 'someone-new', email: 'BEN@EXAMPLE.COM', role: 'user' }, { quota: 0, remark: 'x' }))
    })

    t.test('partner sync: a case variant of a taken username or email → 409', async (t) => {
      const sync = (body: Record<string, unknown>) => signed(app, { method: 'POST', url: '/api/user/external/sync', body })
      const name = await sync({ external_user_id: 'p-1', username: 'ROOT' })
      t.equal(name.statusCode, 409, name.body)
      t.equal(name.json().error.code, 'username_taken')
      const mail = await sync({ external_user_id: 'p-2', email: 'BEN@Example.com' })
      t.equal(mail.statusCode, 409, mail.body)
      t.equal(mail.json().error.code, 'email_taken')
      const made = await sync({ external_user_id: 'p-3', username: 'partner_user', email: 'partner@example.com' })
      t.equal(made.statusCode, 201, made.body)
      const again = await sync({ external_user_id: 'p-3', username: 'Partner_User', email: 'PARTNER@example.com' })
      t.equal(again.statusCode, 200, again.body)
      t.match(again.json(), { username: 'Partner_User', email: 'PARTNER@example.com' })
      const taken = await register({ username: 'PARTNER_USER', password: 'password-123' })
      t.equal(taken.statusCode, 409)
    })

    t.test('the admin user list still finds users by any case of their name', async (t) => {
      const res = await app.inject({ method: 'GET', url: '/api/user?keyword=ANN', headers: bearer(await login(app)) })
      t.equal(res.statusCode, 200)
      t.ok((res.json().data as { id: number }[]).some((u) => u.id === ann.id))
    })
  })
}
