// Authorization is checked before a body is read or validated: a caller without the right gets 401/403 whatever
// it sends, and an anonymous multi-megabyte body costs no parsing (found while fixing issue 9).
import t from 'tap'
import { backends } from '../support/backends.js'
import { bearer, buildApp, login } from '../support/build-app.js'

for (const backend of backends()) {
  t.test(backend.name, async (t) => {
    const { app } = await buildApp(t, backend)
    await app.inject({ method: 'POST', url: '/api/auth/register', payload: { username: 'plainuser', password: 'password-123' } })
    const user = await login(app, 'plainuser', 'password-123')

    t.test('a plain user sending an invalid body to an admin route gets 403, not 400', async (t) => {
      for (const [method, url] of [['POST', '/api/channel'], ['PUT', '/api/pricing/gpt-4o'], ['POST', '/api/user/1/quota']] as const) {
        const res = await app.inject({ method, url, headers: bearer(user), payload: { nonsense: true } })
        t.equal(res.statusCode, 403, `${method} ${url}`)
      }
    })

    t.test('no session with an invalid or huge body gets 401, and the body is never parsed', async (t) => {
      const bad = await app.inject({ method: 'POST', url: '/api/token', payload: { name: 42 } })
      t.equal(bad.statusCode, 401)
      // Malformed JSON would be a 400 if it were parsed: the 401 shows the session is checked first.
      const huge = `{"name":"${'x'.repeat(8 * 1024 * 1024)}"`
      const res = await app.inject({ method: 'POST', url: '/api/token', headers: { 'content-type': 'application/json' }, payload: huge })
      t.equal(res.statusCode, 401)
      const deep = await app.inject({ method: 'PATCH', url: '/api/user/self', headers: { 'content-type': 'application/json' }, payload: '['.repeat(100) + ']'.repeat(100) })
      t.equal(deep.statusCode, 401)
    })
  })
}
