import t from 'tap'
import { ApiError } from '../../src/errors.js'
import { backends } from '../support/backends.js'
import { bearer, buildApp, login } from '../support/build-app.js'
import { registerUser } from './support.js'

/** Polls `attempt` until it throws (the refusal), up to `ms`; returns the error or null. */
async function refusedWithin(attempt: () => Promise<unknown>, ms: number): Promise<ApiError | null> {
  const deadline = Date.now() + ms
  for (;;) {
    try {
      await attempt()
    } catch (err) {
      if (err instanceof ApiError) return err
      throw err
    }
    if (Date.now() > deadline) return null
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

for (const backend of backends()) {
  t.test(backend.name, async (t) => {
    const { app } = await buildApp(t, backend)
    const root = await login(app)
    const alice = await registerUser(app, 'alice')
    const bob = await registerUser(app, 'bob')
    const as = (token: string, method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: Record<string, unknown>) =>
      app.inject({ method, url, headers: bearer(token), ...(payload ? { payload } : {}) })

    const created = await as(alice.token, 'POST', '/api/token', { name: 'alice-key' })
    t.equal(created.statusCode, 201, created.body)
    const aliceToken = created.json() as { id: number; key: string }

    const { db, t: tables } = app.db
    await db.insert(tables.usageLogs).values({
      requestId: 'req-alice-1', userId: alice.id, tokenId: aliceToken.id, model: 'gpt-4o-mini', status: 200, quota: 42, createdAt: new Date(),
    })

    t.test("user B can neither read nor change user A's token (404, not 403)", async (t) => {
      for (const [method, payload] of [['GET'], ['PATCH', { status: 'disabled' }], ['PATCH', { name: 'mine now' }], ['DELETE']] as const) {
        const res = await as(bob.token, method, `/api/token/${aliceToken.id}`, payload)
        t.equal(res.statusCode, 404, `${method} ${JSON.stringify(payload ?? {})}`)
      }
      const list = await as(bob.token, 'GET', '/api/token')
      t.equal(list.statusCode, 200)
      t.notOk(list.json().data.some((row: { id: number }) => row.id === aliceToken.id))
      const mine = await as(alice.token, 'GET', `/api/token/${aliceToken.id}`)
      t.equal(mine.statusCode, 200)
      t.match(mine.json(), { name: 'alice-key', status: 'enabled' })
    })

    t.test("user B cannot read user A's usage log or stats", async (t) => {
      const own = await as(bob.token, 'GET', '/api/log/self')
      t.equal(own.statusCode, 200)
      t.equal(own.json().total, 0)
      const byToken = await as(bob.token, 'GET', `/api/log/self?token_id=${aliceToken.id}`)
      t.equal(byToken.json().total, 0)
      t.equal((await as(bob.token, 'GET', `/api/log?user_id=${alice.id}`)).statusCode, 403)
      t.equal((await as(bob.token, 'GET', `/api/log/stat?user_id=${alice.id}`)).statusCode, 403)
      const bobStats = await as(bob.token, 'GET', '/api/log/stat')
      t.equal(bobStats.json().requests, 0)
      const aliceLog = await as(alice.token, 'GET', '/api/log/self')
      t.equal(aliceLog.json().total, 1)
    })

    t.test("user B cannot read or change user A's profile", async (t) => {
      t.equal((await as(bob.token, 'GET', `/api/user/${alice.id}`)).statusCode, 403)
      t.equal((await as(bob.token, 'PATCH', `/api/user/${alice.id}`, { status: 'disabled' })).statusCode, 403)
      const self = await as(bob.token, 'PATCH', '/api/user/self', { username: 'bobby' })
      t.equal(self.json().id, bob.id)
      t.equal((await as(alice.token, 'GET', '/api/user/self')).json().username, 'alice')
    })

    t.test("a disabled user's relay key is refused within 1 s; re-enabled, it works again", async (t) => {
      const topup = await as(root, 'POST', `/api/user/${alice.id}/quota`, { delta: 1_000_000, remark: 'test credit' })
      t.equal(topup.statusCode, 200, topup.body)
      const authorization = `Bearer ${aliceToken.key}`
      const principal = await app.relayKeys.authenticate(authorization, '127.0.0.1')
      t.equal(principal.user.id, alice.id, 'the key works and its entry is cached')

      t.equal((await as(root, 'PATCH', `/api/user/${alice.id}`, { status: 'disabled' })).statusCode, 200)
      const refusal = await refusedWithin(() => app.relayKeys.authenticate(authorization, '127.0.0.1'), 1000)
      t.ok(refusal, 'refused within 1 s')
      t.equal(refusal?.statusCode, 403)
      t.equal(refusal?.code, 'user_disabled')
      const v1 = await app.inject({ method: 'GET', url: '/v1/models', headers: { authorization } })
      t.equal(v1.statusCode, 403)
      t.equal(v1.json().error.code, 'user_disabled')

      t.equal((await as(root, 'PATCH', `/api/user/${alice.id}`, { status: 'enabled' })).statusCode, 200)
      const back = await refusedWithin(async () => {
        await app.relayKeys.authenticate(authorization, '127.0.0.1')
        throw new ApiError(200, 'ok', 'accepted again')
      }, 1000)
      t.equal(back?.code, 'ok', 'accepted again within 1 s')
    })

    t.test("a deleted user's relay key is refused within 1 s", async (t) => {
      const carl = await registerUser(app, 'carl')
      const key = (await as(carl.token, 'POST', '/api/token', { name: 'carl-key' })).json().key as string
      await as(root, 'POST', `/api/user/${carl.id}/quota`, { delta: 1_000_000, remark: 'test credit' })
      await app.relayKeys.authenticate(`Bearer ${key}`, '127.0.0.1')
      t.equal((await as(root, 'DELETE', `/api/user/${carl.id}`)).statusCode, 204)
      const refusal = await refusedWithin(() => app.relayKeys.authenticate(`Bearer ${key}`, '127.0.0.1'), 1000)
      t.ok(refusal, 'refused within 1 s')
      t.ok(refusal && [401, 403].includes(refusal.statusCode), `refused with ${refusal?.statusCode} ${refusal?.code}`)
    })
  })
}
