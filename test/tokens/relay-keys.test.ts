import t from 'tap'
import { eq } from 'drizzle-orm'
import { ManualClock } from '../../src/clock.js'
import { ApiError } from '../../src/errors.js'
import { INVALIDATE } from '../../src/relay/seams.js'
import { backends } from '../support/backends.js'
import { bearer, buildApp, login } from '../support/build-app.js'
import { eventually, makeToken, makeUser } from './support.js'

const IP = '203.0.113.7'

interface Refusal {
  status: number
  code: string | null
}

/** The refusal `authenticate` throws, or null when it lets the key in. */
async function refusal(promise: Promise<unknown>): Promise<Refusal | null> {
  try {
    await promise
    return null
  } catch (err) {
    if (!(err instanceof ApiError)) throw err
    return { status: err.statusCode, code: err.code }
  }
}

for (const backend of backends()) {
  t.test(backend.name, async (t) => {
    const clock = new ManualClock(Date.parse('2025-01-01T00:00:00Z'))
    const { app } = await buildApp(t, backend, { clock, env: { NEW_USER_QUOTA: '1000000' } })
    const keys = app.relayKeys
    const adminHeaders = bearer(await login(app))
    const alice = await makeUser(app, 'alice')
    const auth = (key: string, ip = IP) => keys.authenticate(`Bearer ${key}`, ip)

    t.test('a valid key → the principal with token, user and group', async (t) => {
      const token = await makeToken(app, alice.headers)
      const principal = await auth(token.key)
      t.match(principal, {
        token: { id: token.id, userId: alice.id, status: 'enabled', unlimitedQuota: true, models: [], allowIps: [], group: null },
        user: { id: alice.id, role: 'user', status: 'enabled', group: 'default', quota: 1000000 },
        group: 'default',
        pinnedChannelId: null,
      })
    })

    t.test('no, malformed and unknown keys → 401 invalid_api_key', async (t) => {
      const token = await makeToken(app, alice.headers)
      const expected = { status: 401, code: 'invalid_api_key' }
      t.same(await refusal(keys.authenticate(undefined, IP)), expected)
      t.same(await refusal(keys.authenticate('', IP)), expected)
      t.same(await refusal(keys.authenticate(token.key, IP)), expected, 'without Bearer')
      t.same(await refusal(keys.authenticate('Bearer sk-short', IP)), expected)
      t.same(await refusal(keys.authenticate(`Basic ${token.key}`, IP)), expected)
      t.same(await refusal(auth(`sk-${'A'.repeat(48)}`)), expected, 'well-formed but unknown')
      t.same(await refusal(auth(`${token.key}x`)), expected)
    })

    t.test('disabled token → 401 token_disabled (checked before expiry)', async (t) => {
      const token = await makeToken(app, alice.headers, { expires_at: '2024-01-01T00:00:00Z' })
      await app.inject({ method: 'PATCH', url: `/api/token/${token.id}`, headers: alice.headers, payload: { status: 'disabled' } })
      t.same(await refusal(auth(token.key)), { status: 401, code: 'token_disabled' })
    })

    t.test('expired token → 401 token_expired, by the app clock', async (t) => {
      const token = await makeToken(app, alice.headers, { expires_at: new Date(clock.now() + 3_600_000).toISOString() })
      t.equal(await refusal(auth(token.key)), null)
      clock.advance(3_600_001)
      t.same(await refusal(auth(token.key)), { status: 401, code: 'token_expired' })
      const get = await app.inject({ method: 'GET', url: `/api/token/${token.id}`, headers: alice.headers })
      t.match(get.json(), { status: 'enabled', expired: true })
    })

    t.test("token's own quota used up → 429 insufficient_quota; unlimited tokens ignore remain_quota", async (t) => {
      const limited = await makeToken(app, alice.headers, { unlimited_quota: false, remain_quota: 0 })
      t.same(await refusal(auth(limited.key)), { status: 429, code: 'insufficient_quota' })
      const some = await makeToken(app, alice.headers, { unlimited_quota: false, remain_quota: 10 })
      t.equal(await refusal(auth(some.key)), null)
      const unlimited = await makeToken(app, alice.headers, { unlimited_quota: true, remain_quota: 0 })
      t.equal(await refusal(auth(unlimited.key)), null)
    })

    t.test('rate_limit_rpm: the request over the limit → 429 rate_limit_exceeded with retry-after; the next minute is fresh', async (t) => {
      clock.advance(60_000 - (clock.now() % 60_000) + 10_000) // 10 s into a fresh minute
      const token = await makeToken(app, alice.headers, { rate_limit_rpm: 3 })
      for (let i = 0; i < 3; i++) t.equal(await refusal(auth(token.key)), null, `request ${i + 1} of 3`)
      const err = await auth(token.key).catch((e: unknown) => e)
      t.ok(err instanceof ApiError)
      t.match(err, { statusCode: 429, code: 'rate_limit_exceeded', type: 'rate_limit_error' })
      t.equal((err as ApiError).headers['retry-after'], '50', 'seconds until the window ends')
      const unlimited = await makeToken(app, alice.headers)
      for (let i = 0; i < 10; i++) t.equal(await refusal(auth(unlimited.key)), null)
      clock.advance(60_000)
      t.equal(await refusal(auth(token.key)), null, 'a new window')
      const view = await app.inject({ method: 'GET', url: `/api/token/${token.id}`, headers: alice.headers })
      t.equal(view.json().rate_limit_rpm, 3)
      const cleared = await app.inject({ method: 'PATCH', url: `/api/token/${token.id}`, headers: alice.headers, payload: { rate_limit_rpm: null } })
      t.equal(cleared.json().rate_limit_rpm, null)
      const bad = await app.inject({ method: 'PATCH', url: `/api/token/${token.id}`, headers: alice.headers, payload: { rate_limit_rpm: 0 } })
      t.equal(bad.statusCode, 400)
      t.equal(bad.json().error.param, 'rate_limit_rpm')
    })

    t.test('allow_ips: IPv4, IPv6 and CIDRs; anything else → 403 ip_not_allowed', async (t) => {
      const token = await makeToken(app, alice.headers, { allow_ips: ['10.0.0.0/8', '192.168.1.5', '2001:db8::/32'] })
      for (const ip of ['10.1.2.3', '192.168.1.5', '2001:db8::1', '::ffff:10.9.9.9']) t.equal(await refusal(auth(token.key, ip)), null, ip)
      for (const ip of ['11.0.0.1', '192.168.1.6', '2001:db9::1', '::1', 'garbage']) {
        t.same(await refusal(auth(token.key, ip)), { status: 403, code: 'ip_not_allowed' }, ip)
      }
    })

    t.test('disabled user → 403 user_disabled once INVALIDATE.user is published', async (t) => {
      const carol = await makeUser(app, 'carol')
      const token = await makeToken(app, carol.headers)
      t.equal(await refusal(auth(token.key)), null)
      await app.db.db.update(app.db.t.users).set({ status: 'disabled' }).where(eq(app.db.t.users.id, carol.id))
      await app.cache.publish(INVALIDATE.user, String(carol.id))
      t.ok(await eventually(async () => (await refusal(auth(token.key)))?.code === 'user_disabled'))
    })

    t.test('a deleted user → 403 user_disabled', async (t) => {
      const dave = await makeUser(app, 'dave')
      const token = await makeToken(app, dave.headers)
      await app.db.db.update(app.db.t.users).set({ deletedAt: new Date(clock.now()) }).where(eq(app.db.t.users.id, dave.id))
      t.same(await refusal(auth(token.key)), { status: 403, code: 'user_disabled' })
    })

    t.test("user's quota at 0 → 429 insufficient_quota", async (t) => {
      const erin = await makeUser(app, 'erin')
      await app.db.db.update(app.db.t.users).set({ quota: 0 }).where(eq(app.db.t.users.id, erin.id))
      const token = await makeToken(app, erin.headers)
      t.same(await refusal(auth(token.key)), { status: 429, code: 'insufficient_quota' })
    })

    t.test('checks run in the contract order: IP before user status, token quota before IP', async (t) => {
      const frank = await makeUser(app, 'frank')
      const token = await makeToken(app, frank.headers, { allow_ips: ['10.0.0.1'], unlimited_quota: false, remain_quota: 0 })
      await app.db.db.update(app.db.t.users).set({ status: 'disabled' }).where(eq(app.db.t.users.id, frank.id))
      t.same(await refusal(auth(token.key, '10.0.0.2')), { status: 429, code: 'insufficient_quota' })
      await app.inject({ method: 'PATCH', url: `/api/token/${token.id}`, headers: adminHeaders, payload: { unlimited_quota: true } })
      t.ok(await eventually(async () => (await refusal(auth(token.key, '10.0.0.2')))?.code === 'ip_not_allowed'))
      t.same(await refusal(auth(token.key, '10.0.0.1')), { status: 403, code: 'user_disabled' })
    })

    t.test('assertModelAllowed: empty list allows any model; otherwise 403 model_not_allowed', async (t) => {
      const open = await auth((await makeToken(app, alice.headers)).key)
      t.doesNotThrow(() => keys.assertModelAllowed(open, 'anything'))
      const narrow = await auth((await makeToken(app, alice.headers, { models: ['gpt-4o'] })).key)
      t.doesNotThrow(() => keys.assertModelAllowed(narrow, 'gpt-4o'))
      t.throws(() => keys.assertModelAllowed(narrow, 'gpt-4.1'), { statusCode: 403, code: 'model_not_allowed' })
    })

    t.test('sk-KEY-CHANNELID pins a channel for admins only; others are let in unpinned', async (t) => {
      const user = await makeToken(app, alice.headers)
      t.equal((await auth(`${user.key}-42`)).pinnedChannelId, null)
      const adminToken = await makeToken(app, adminHeaders)
      await app.db.db.update(app.db.t.users).set({ quota: 1000 }).where(eq(app.db.t.users.username, 'root'))
      await app.cache.publish(INVALIDATE.user, '1')
      const pinned = await auth(`${adminToken.key}-42`)
      t.equal(pinned.pinnedChannelId, 42)
      t.equal(pinned.token.id, adminToken.id)
      t.equal((await auth(adminToken.key)).pinnedChannelId, null)
    })

    t.test('warm keys are answered from memory: a row deleted behind its back still authenticates until invalidated', async (t) => {
      const token = await makeToken(app, alice.headers)
      await auth(token.key)
      await app.db.db.delete(app.db.t.tokens).where(eq(app.db.t.tokens.id, token.id))
      t.equal(await refusal(auth(token.key)), null, 'no database read on the warm path')
      await app.cache.publish(INVALIDATE.token, String(token.id))
      t.ok(await eventually(async () => (await refusal(auth(token.key)))?.code === 'invalid_api_key'))
    })

    t.test('a PATCH or DELETE over REST reaches the cached entry at once', async (t) => {
      const token = await makeToken(app, alice.headers)
      await auth(token.key)
      await app.inject({ method: 'PATCH', url: `/api/token/${token.id}`, headers: alice.headers, payload: { status: 'disabled' } })
      t.ok(await eventually(async () => (await refusal(auth(token.key)))?.code === 'token_disabled'))
      await app.inject({ method: 'PATCH', url: `/api/token/${token.id}`, headers: alice.headers, payload: { status: 'enabled' } })
      t.ok(await eventually(async () => (await refusal(auth(token.key))) === null))
      await app.inject({ method: 'DELETE', url: `/api/token/${token.id}`, headers: alice.headers })
      t.ok(await eventually(async () => (await refusal(auth(token.key)))?.code === 'invalid_api_key'))
    })

    t.test('a key that was unknown works as soon as it is created (no negative cache)', async (t) => {
      t.same(await refusal(auth(`sk-${'B'.repeat(48)}`)), { status: 401, code: 'invalid_api_key' })
      const token = await makeToken(app, alice.headers)
      t.equal(await refusal(auth(token.key)), null)
    })

    if (backend.name === 'mysql+redis') {
      t.test('two instances sharing MySQL + Redis: a token disabled on A is refused by B within 1 s', async (t) => {
        const first = await buildApp(t, backend, { clock, env: { NEW_USER_QUOTA: '1000000' } })
        const second = await buildApp(t, backend, { clock, share: first, env: { NEW_USER_QUOTA: '1000000' } })
        const owner = await makeUser(first.app, 'grace')
        const token = await makeToken(first.app, owner.headers)
        await second.app.relayKeys.authenticate(`Bearer ${token.key}`, IP)
        await second.app.relayKeys.authenticate(`Bearer ${token.key}`, IP)
        const started = Date.now()
        const patch = await first.app.inject({ method: 'PATCH', url: `/api/token/${token.id}`, headers: owner.headers, payload: { status: 'disabled' } })
        t.equal(patch.statusCode, 200)
        const refused = await eventually(
          async () => (await refusal(second.app.relayKeys.authenticate(`Bearer ${token.key}`, IP)))?.code === 'token_disabled',
          1000,
        )
        t.ok(refused, `refused after ${Date.now() - started} ms`)
      })

      t.test('two instances: a user disabled on A (INVALIDATE.user) is refused by B within 1 s', async (t) => {
        const first = await buildApp(t, backend, { clock, env: { NEW_USER_QUOTA: '1000000' } })
        const second = await buildApp(t, backend, { clock, share: first })
        const owner = await makeUser(first.app, 'heidi')
        const token = await makeToken(first.app, owner.headers)
        await second.app.relayKeys.authenticate(`Bearer ${token.key}`, IP)
        await first.app.db.db.update(first.app.db.t.users).set({ status: 'disabled' }).where(eq(first.app.db.t.users.id, owner.id))
        await first.app.cache.publish(INVALIDATE.user, String(owner.id))
        t.ok(await eventually(async () => (await refusal(second.app.relayKeys.authenticate(`Bearer ${token.key}`, IP)))?.code === 'user_disabled'))
      })
    }
  })
}
