import t from 'tap'
import { ManualClock } from '../../src/clock.js'
import { backends } from '../support/backends.js'
import { bearer, buildApp, login } from '../support/build-app.js'
import { delivered, failed, makeToken, meterRequest } from '../billing/fixtures.js'

const DAY1 = Date.parse('2025-03-01T23:00:00.000Z')
const HOUR = 3_600_000

for (const backend of backends()) {
  t.test(backend.name, async (t) => {
    const clock = new ManualClock(DAY1)
    const { app } = await buildApp(t, backend, { clock })
    const admin = await login(app)
    await app.pricing.setPrice('m-a', { input_per_1m: 2, output_per_1m: 8 }) // 10/20 → 90
    await app.pricing.setPrice('m-b', { per_request: '0.0001' }) // 50 per request

    // alice: 2 × m-a on day 1, 1 × m-b and 1 failed m-a on day 2; bob: 1 × m-a on day 2
    await app.inject({ method: 'POST', url: '/api/auth/register', payload: { username: 'alice', password: 'password1' } })
    await app.inject({ method: 'POST', url: '/api/auth/register', payload: { username: 'bobby', password: 'password1' } })
    const aliceId = (await app.usersRepo.findByUsername('alice'))!.id
    const bobId = (await app.usersRepo.findByUsername('bobby'))!.id
    await app.inject({ method: 'POST', url: `/api/user/${aliceId}/quota`, headers: bearer(admin), payload: { delta: 10_000, remark: 't' } })
    await app.inject({ method: 'POST', url: `/api/user/${bobId}/quota`, headers: bearer(admin), payload: { delta: 10_000, remark: 't' } })
    const alice = await login(app, 'alice', 'password1')
    const bob = await login(app, 'bobby', 'password1')
    const { principal: aliceP, tokenId: aliceToken } = await makeToken(app, { userId: aliceId })
    const { principal: bobP, tokenId: bobToken } = await makeToken(app, { userId: bobId })

    const use = async (p: typeof aliceP, model: string, outcome = delivered(10, 20, { channelId: 7 })) => {
      const request = meterRequest(p, model)
      await app.meter.settle(request, await app.meter.reserve(request), outcome)
      clock.advance(60_000)
    }
    await use(aliceP, 'm-a')
    await use(aliceP, 'm-a')
    clock.set(DAY1 + 2 * HOUR) // 2025-03-02T01:00Z
    await use(aliceP, 'm-b', { ...delivered(0, 0), usage: null, usageSource: 'none' })
    await use(aliceP, 'm-a', failed)
    await use(bobP, 'm-a')

    t.test('/api/log/self: only the caller’s rows, newest first, paged', async (t) => {
      const res = await app.inject({ method: 'GET', url: '/api/log/self?page_size=2', headers: bearer(alice) })
      t.equal(res.statusCode, 200, res.body)
      const body = res.json()
      t.equal(body.total, 4)
      t.equal(body.page, 1)
      t.equal(body.page_size, 2)
      t.same(body.data.map((r: { model: string; status: number }) => [r.model, r.status]), [['m-a', 502], ['m-b', 200]])
      t.ok(body.data.every((r: { user_id: number }) => r.user_id === aliceId))
      t.equal(body.data[0].created_at, '2025-03-02T01:01:00.000Z')
      const page2 = (await app.inject({ method: 'GET', url: '/api/log/self?page_size=2&page=2', headers: bearer(alice) })).json()
      t.same(page2.data.map((r: { quota: number }) => r.quota), [90, 90])
      const bobs = (await app.inject({ method: 'GET', url: '/api/log/self', headers: bearer(bob) })).json()
      t.equal(bobs.total, 1)
    })

    t.test('a user filtering by someone else’s token sees nothing', async (t) => {
      const res = await app.inject({ method: 'GET', url: `/api/log/self?token_id=${bobToken}`, headers: bearer(alice) })
      t.equal(res.json().total, 0)
    })

    t.test('filters: model, from/to', async (t) => {
      const byModel = (await app.inject({ method: 'GET', url: '/api/log/self?model=m-b', headers: bearer(alice) })).json()
      t.equal(byModel.total, 1)
      const day2 = (await app.inject({ method: 'GET', url: '/api/log/self?from=2025-03-02T00:00:00Z', headers: bearer(alice) })).json()
      t.equal(day2.total, 2)
      const day1 = (await app.inject({ method: 'GET', url: '/api/log/self?to=2025-03-01T23:59:59.999Z', headers: bearer(alice) })).json()
      t.equal(day1.total, 2)
      // A bare date as `to` runs through the end of that day (the partner stats read it the same way).
      const wholeDay1 = (await app.inject({ method: 'GET', url: '/api/log/self?to=2025-03-01', headers: bearer(alice) })).json()
      t.equal(wholeDay1.total, 2)
      const onlyDay2 = (await app.inject({ method: 'GET', url: '/api/log/self?from=2025-03-02&to=2025-03-02', headers: bearer(alice) })).json()
      t.equal(onlyDay2.total, 2)
      const bad = await app.inject({ method: 'GET', url: '/api/log/self?from=yesterday', headers: bearer(alice) })
      t.equal(bad.statusCode, 400)
      t.equal(bad.json().error.param, 'from')
    })

    t.test('/api/log is for admins, with user_id / channel_id / token_id filters', async (t) => {
      t.equal((await app.inject({ method: 'GET', url: '/api/log', headers: bearer(alice) })).statusCode, 403)
      const all = (await app.inject({ method: 'GET', url: '/api/log', headers: bearer(admin) })).json()
      t.equal(all.total, 5)
      t.equal((await app.inject({ method: 'GET', url: `/api/log?user_id=${bobId}`, headers: bearer(admin) })).json().total, 1)
      t.equal((await app.inject({ method: 'GET', url: '/api/log?channel_id=7', headers: bearer(admin) })).json().total, 3)
      t.equal((await app.inject({ method: 'GET', url: `/api/log?token_id=${aliceToken}`, headers: bearer(admin) })).json().total, 4)
      t.same(Object.keys(all.data[0]).sort(), [
        'cache_write_tokens', 'cached_tokens', 'channel_id', 'completion_tokens', 'created_at', 'error', 'first_byte_ms', 'id',
        'latency_ms', 'model', 'prompt_tokens', 'quota', 'reasoning_tokens', 'request_id', 'source', 'status', 'stream', 'token_id',
        'upstream_model', 'user_id',
      ])
    })

    t.test('/api/log/stat: totals, by model and by UTC day', async (t) => {
      const res = await app.inject({ method: 'GET', url: '/api/log/stat', headers: bearer(alice) })
      t.equal(res.statusCode, 200, res.body)
      t.same(res.json(), {
        requests: 4,
        prompt_tokens: 20,
        completion_tokens: 40,
        quota: 230,
        by_model: [
          { model: 'm-a', requests: 3, prompt_tokens: 20, completion_tokens: 40, quota: 180 },
          { model: 'm-b', requests: 1, prompt_tokens: 0, completion_tokens: 0, quota: 50 },
        ],
        by_day: [
          { date: '2025-03-01', requests: 2, prompt_tokens: 20, completion_tokens: 40, quota: 180 },
          { date: '2025-03-02', requests: 2, prompt_tokens: 0, completion_tokens: 0, quota: 50 },
        ],
      })
      const ranged = (await app.inject({ method: 'GET', url: '/api/log/stat?from=2025-03-02', headers: bearer(alice) })).json()
      t.same(ranged.by_day, [{ date: '2025-03-02', requests: 2, prompt_tokens: 0, completion_tokens: 0, quota: 50 }])
    })

    t.test('stat: admins see everyone or one user; users only themselves', async (t) => {
      const all = (await app.inject({ method: 'GET', url: '/api/log/stat', headers: bearer(admin) })).json()
      t.equal(all.requests, 5)
      t.equal(all.quota, 320)
      const one = (await app.inject({ method: 'GET', url: `/api/log/stat?user_id=${bobId}`, headers: bearer(admin) })).json()
      t.equal(one.quota, 90)
      const nosy = await app.inject({ method: 'GET', url: `/api/log/stat?user_id=${bobId}`, headers: bearer(alice) })
      t.equal(nosy.statusCode, 403)
      t.same(await app.logs.stats({ userId: bobId }), { ...one })
    })
  })
}
