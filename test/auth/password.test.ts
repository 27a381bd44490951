import t from 'tap'
import { ManualClock } from '../../src/clock.js'
import { INVALIDATE } from '../../src/relay/seams.js'
import { backends } from '../support/backends.js'
import { bearer, buildApp, login } from '../support/build-app.js'
import { captureCodes, eventually, freshIp, registerUser, whoAmI } from '../users/support.js'

for (const backend of backends()) {
  t.test(backend.name, async (t) => {
    // A clock that does not move: sessions and password changes share one millisecond, the edge case.
    const clock = new ManualClock(Date.parse('2030-01-01T00:00:00Z'))
    const { app } = await buildApp(t, backend, { clock })
    const codes = captureCodes(app)
    const invalidated: string[] = []
    await app.cache.subscribe(INVALIDATE.user, (message) => invalidated.push(message))

    const changePassword = (token: string, payload: Record<string, unknown>) =>
      app.inject({ method: 'PUT', url: '/api/user/self/password', headers: bearer(token), payload })

    t.test('change password: wrong old password → 401, nothing changes', async (t) => {
      const u = await registerUser(app, 'hank')
      const res = await changePassword(u.token, { old_password: 'not-the-password', new_password: 'brand-new-pass' })
      t.equal(res.statusCode, 401)
      t.equal(res.json().error.code, 'invalid_credentials')
      t.equal(await whoAmI(app, u.token), 200)
      t.ok(await login(app, 'hank', u.password))
    })

    t.test('change password → 204; every earlier session (this one too) is refused; the new password works', async (t) => {
      const u = await registerUser(app, 'ivy')
      const other = await login(app, 'ivy', u.password)
      const res = await changePassword(u.token, { old_password: u.password, new_password: 'ivy-new-password' })
      t.equal(res.statusCode, 204)
      t.equal(await whoAmI(app, u.token), 401)
      t.equal(await whoAmI(app, other), 401)
      const refusedOld = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'ivy', password: u.password } })
      t.equal(refusedOld.statusCode, 401)
      const fresh = await login(app, 'ivy', 'ivy-new-password')
      t.equal(await whoAmI(app, fresh), 200, 'a session made after the change works, even in the same millisecond')
      t.ok(await eventually(invalidated, String(u.id)), 'relay caches were told')
    })

    t.test('change password validates the body strictly', async (t) => {
      const u = await registerUser(app, 'jack')
      const short = await changePassword(u.token, { old_password: u.password, new_password: 'short' })
      t.equal(short.statusCode, 400)
      t.equal(short.json().error.param, 'new_password')
      const extra = await changePassword(u.token, { old_password: u.password, new_password: 'long-enough-1', role: 'admin' })
      t.equal(extra.statusCode, 400)
      t.equal(extra.json().error.param, 'role')
      const anon = await app.inject({ method: 'PUT', url: '/api/user/self/password', payload: { old_password: 'a', new_password: 'bbbbbbbb' } })
      t.equal(anon.statusCode, 401)
    })

    t.test('10 wrong old passwords in 15 min → 429 with retry-after', async (t) => {
      const u = await registerUser(app, 'kate')
      for (let i = 0; i < 10; i++) {
        t.equal((await changePassword(u.token, { old_password: `guess-${i}-xx`, new_password: 'kate-new-pass' })).statusCode, 401)
      }
      const limited = await changePassword(u.token, { old_password: u.password, new_password: 'kate-new-pass' })
      t.equal(limited.statusCode, 429)
      t.ok(Number(limited.headers['retry-after']) > 0)
    })

    t.test('reset password with a code → 204; earlier sessions refused; code used up; new password works', async (t) => {
      const u = await registerUser(app, 'liam', { email: 'liam@example.com' })
      t.equal(
        (await app.inject({ method: 'POST', url: '/api/auth/send-code', remoteAddress: freshIp(), payload: { email: 'liam@example.com', purpose: 'password_reset' } })).statusCode,
        202,
      )
      const { code } = (await codes.last())!
      const reset = () =>
        app.inject({
          method: 'POST',
          url: '/api/auth/reset-password',
          remoteAddress: freshIp(),
          payload: { username: 'liam', code, new_password: 'liam-reset-password' },
        })
      t.equal((await reset()).statusCode, 204)
      t.equal(await whoAmI(app, u.token), 401)
      const again = await reset()
      t.equal(again.statusCode, 400)
      t.equal(again.json().error.code, 'invalid_code')
      const old = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'liam', password: u.password } })
      t.equal(old.statusCode, 401)
      t.equal(await whoAmI(app, await login(app, 'liam@example.com', 'liam-reset-password')), 200)
      t.ok(await eventually(invalidated, String(u.id)))
    })

    t.test('reset password with a wrong code → 400 invalid_code, password unchanged', async (t) => {
      const u = await registerUser(app, 'mona')
      const res = await app.inject({
        method: 'POST',
        url: '/api/auth/reset-password',
        remoteAddress: freshIp(),
        payload: { username: 'mona', code: '123456', new_password: 'mona-reset-pass' },
      })
      t.equal(res.statusCode, 400)
      t.equal(res.json().error.code, 'invalid_code')
      t.equal(await whoAmI(app, u.token), 200)
    })

    t.test('reset clears this IP\'s failed-login counter for the account', async (t) => {
      await registerUser(app, 'nina')
      const ip = freshIp()
      for (let i = 0; i < 10; i++) {
        await app.inject({ method: 'POST', url: '/api/auth/login', remoteAddress: ip, payload: { username: 'nina', password: 'wrong-wrong' } })
      }
      clock.advance(61_000)
      await app.inject({ method: 'POST', url: '/api/auth/send-code', remoteAddress: ip, payload: { username: 'nina', purpose: 'password_reset' } })
      const { code } = (await codes.last())!
      const reset = await app.inject({
        method: 'POST', url: '/api/auth/reset-password', remoteAddress: ip, payload: { username: 'nina', code, new_password: 'nina-reset-pass' },
      })
      t.equal(reset.statusCode, 204)
      const res = await app.inject({ method: 'POST', url: '/api/auth/login', remoteAddress: ip, payload: { username: 'nina', password: 'nina-reset-pass' } })
      t.equal(res.statusCode, 200)
    })

    t.test('logout refuses that session', async (t) => {
      const u = await registerUser(app, 'olga')
      t.equal((await app.inject({ method: 'POST', url: '/api/auth/logout', headers: bearer(u.token) })).statusCode, 204)
      t.equal(await whoAmI(app, u.token), 401)
    })
  })
}

t.test('production hashes at argon2id defaults (64 MiB, t=3, p=4); the environment cannot lower it', async (t) => {
  const { hashPassword, verifyPassword } = await import('../../src/auth/passwords.js')
  const { loadConfig } = await import('../../src/config.js')
  const hash = await hashPassword('correct horse battery staple', loadConfig({}).passwordHashCost)
  t.match(hash, /^\$argon2id\$v=19\$m=65536,t=3,p=4\$/)
  t.ok(await verifyPassword(hash, 'correct horse battery staple'))
  t.notOk(await verifyPassword(hash, 'wrong'))
  t.equal(loadConfig({ PASSWORD_HASH_COST: '1', ARGON2_MEMORY_COST: '1024' } as Record<string, string>).passwordHashCost, undefined)
})
