import t from 'tap'
import { backends } from '../support/backends.js'
import { buildApp, type TestApp } from '../support/build-app.js'
import { PARTNER_ENV, signed } from './partner-client.js'

type App = TestApp['app']

const topup = (app: App, body: Record<string, unknown>) => signed(app, { method: 'POST', url: '/api/user/external/topup', body })
const quotaOf = async (app: App, id: string): Promise<number> =>
  (await signed(app, { method: 'GET', url: `/api/user/external/${id}` })).json().quota

for (const backend of backends()) {
  t.test(backend.name, async (t) => {
    const first = await buildApp(t, backend, { env: PARTNER_ENV })
    const { app } = first
    for (const id of ['u-1', 'u-2', 'u-race', 'u-two']) {
      const res = await signed(app, { method: 'POST', url: '/api/user/external/sync', body: { external_user_id: id } })
      t.equal(res.statusCode, 201)
    }

    t.test('$1 → 500000 quota, the answer shows the new balance', async (t) => {
      const res = await topup(app, { external_user_id: 'u-1', amount_usd: 1, payment_id: 'p-1', remark: 'first' })
      t.equal(res.statusCode, 200, res.body)
      t.same(res.json(), { external_user_id: 'u-1', payment_id: 'p-1', amount_usd: '1', added_quota: 500_000, quota: 500_000, duplicate: false })
      t.equal(await quotaOf(app, 'u-1'), 500_000)
    })

    t.test('the same payment again → 200 duplicate, nothing added, the original added_quota', async (t) => {
      const res = await topup(app, { external_user_id: 'u-1', amount_usd: '1.000000', payment_id: 'p-1' })
      t.equal(res.statusCode, 200)
      t.same(res.json(), { external_user_id: 'u-1', payment_id: 'p-1', amount_usd: '1', added_quota: 500_000, quota: 500_000, duplicate: true })
      t.equal(await quotaOf(app, 'u-1'), 500_000)
    })

    t.test('the same payment_id for another user or amount → 409 payment_id_conflict', async (t) => {
      const otherUser = await topup(app, { external_user_id: 'u-2', amount_usd: 1, payment_id: 'p-1' })
      t.equal(otherUser.statusCode, 409)
      t.equal(otherUser.json().error.code, 'payment_id_conflict')
      t.equal(otherUser.json().error.param, 'payment_id')
      const otherAmount = await topup(app, { external_user_id: 'u-1', amount_usd: '1.01', payment_id: 'p-1' })
      t.equal(otherAmount.statusCode, 409)
      t.equal(otherAmount.json().error.code, 'payment_id_conflict')
      t.equal(await quotaOf(app, 'u-1'), 500_000)
      t.equal(await quotaOf(app, 'u-2'), 0)
    })

    // Regression: MySQL's default collation made `PAY-CASE` and `pay-case` one payment, so the second
    // top-up came back as a duplicate and credited nothing. Partner ids compare byte for byte.
    t.test('payment ids and external user ids that differ only in case are distinct', async (t) => {
      await signed(app, { method: 'POST', url: '/api/user/external/sync', body: { external_user_id: 'u-case' } })
      const upper = await topup(app, { external_user_id: 'u-case', amount_usd: 1, payment_id: 'PAY-CASE' })
      const lower = await topup(app, { external_user_id: 'u-case', amount_usd: 1, payment_id: 'pay-case' })
      t.equal(upper.json().duplicate, false)
      t.equal(lower.json().duplicate, false, 'a second, distinct payment')
      t.equal(await quotaOf(app, 'u-case'), 1_000_000)
      const synced = await signed(app, { method: 'POST', url: '/api/user/external/sync', body: { external_user_id: 'U-CASE' } })
      t.equal(synced.statusCode, 201, 'U-CASE is a new partner user, not u-case')
      t.equal(await quotaOf(app, 'U-CASE'), 0)
    })

    t.test('conversion is exact and rounds half up', async (t) => {
      const cases: Array<[number | string, number]> = [
        ['0.000001', 1], // 0.5 quota → 1
        [0.000001, 1],
        ['0.000003', 2], // 1.5 → 2
        ['0.000002', 1],
        [0.1, 50_000],
        ['12.5', 6_250_000],
        ['100000', 50_000_000_000],
        [19.99, 9_995_000],
      ]
      let n = 0
      for (const [amount, quota] of cases) {
        const res = await topup(app, { external_user_id: 'u-2', amount_usd: amount, payment_id: `conv-${n++}` })
        t.equal(res.statusCode, 200, `${amount}: ${res.body}`)
        t.equal(res.json().added_quota, quota, String(amount))
      }
    })

    t.test('bad amounts → 400 invalid_request with param amount_usd, nothing credited', async (t) => {
      const before = await quotaOf(app, 'u-2')
      const bad: unknown[] = [0, '0', -1, '-5', '0.0000001', 0.1234567, '100000.000001', 100001, 'abc', '1e3', ' 1', '.5', '', true, null, [1], { usd: 1 }]
      let n = 0
      for (const amount of bad) {
        const res = await topup(app, { external_user_id: 'u-2', amount_usd: amount, payment_id: `bad-${n++}` })
        t.equal(res.statusCode, 400, `${JSON.stringify(amount)}: ${res.body}`)
        t.equal(res.json().error.code, 'invalid_request')
        t.equal(res.json().error.param, 'amount_usd', JSON.stringify(amount))
      }
      const missing = await topup(app, { external_user_id: 'u-2', payment_id: 'bad-missing' })
      t.equal(missing.statusCode, 400)
      t.equal(missing.json().error.param, 'amount_usd')
      t.equal(await quotaOf(app, 'u-2'), before)
    })

    t.test('other refusals: unknown user 404, unknown field 400, bad payment_id 400', async (t) => {
      const unknown = await topup(app, { external_user_id: 'nobody', amount_usd: 1, payment_id: 'p-nobody' })
      t.equal(unknown.statusCode, 404)
      const extra = await topup(app, { external_user_id: 'u-1', amount_usd: 1, payment_id: 'p-x', currency: 'CNY' })
      t.equal(extra.statusCode, 400)
      t.equal(extra.json().error.param, 'currency')
      const longId = await topup(app, { external_user_id: 'u-1', amount_usd: 1, payment_id: 'p'.repeat(129) })
      t.equal(longId.statusCode, 400)
      t.equal(longId.json().error.param, 'payment_id')
      const emptyId = await topup(app, { external_user_id: 'u-1', amount_usd: 1, payment_id: '' })
      t.equal(emptyId.statusCode, 400)
      // the refused ids were not consumed
      const ok = await topup(app, { external_user_id: 'u-1', amount_usd: 1, payment_id: 'p-nobody' })
      t.equal(ok.json().duplicate, false)
    })

    t.test('20 racing identical top-ups credit once', async (t) => {
      const body = { external_user_id: 'u-race', amount_usd: '2.5', payment_id: 'race-1' }
      const results = await Promise.all(Array.from({ length: 20 }, () => topup(app, body)))
      t.same(results.map((r) => r.statusCode), Array(20).fill(200), results.map((r) => r.body).join('\n'))
      t.equal(results.filter((r) => r.json().duplicate === false).length, 1)
      for (const r of results) t.equal(r.json().added_quota, 1_250_000)
      t.equal(await quotaOf(app, 'u-race'), 1_250_000)
      const list = await signed(app, { method: 'GET', url: '/api/user/external/u-race/topups' })
      t.equal(list.json().total, 1)
    })

    t.test('20 racing top-ups, different payment ids for one user, all credited', async (t) => {
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => topup(app, { external_user_id: 'u-race', amount_usd: '0.1', payment_id: `many-${i}` })),
      )
      t.same(results.map((r) => r.statusCode), Array(20).fill(200))
      t.equal(await quotaOf(app, 'u-race'), 1_250_000 + 20 * 50_000)
    })

    t.test('GET /:id/topups lists partner top-ups newest first, paged', async (t) => {
      const res = await signed(app, { method: 'GET', url: '/api/user/external/u-1/topups?page=1&page_size=1' })
      t.equal(res.statusCode, 200, res.body)
      const body = res.json()
      t.equal(body.total, 2)
      t.equal(body.page, 1)
      t.equal(body.page_size, 1)
      t.equal(body.data.length, 1)
      t.same(Object.keys(body.data[0]).sort(), ['added_quota', 'amount_usd', 'created_at', 'payment_id', 'remark'])
      const all = await signed(app, { method: 'GET', url: '/api/user/external/u-1/topups' })
      t.same(all.json().data.map((r: { payment_id: string }) => r.payment_id), ['p-nobody', 'p-1'])
      t.match(all.json().data[1], { amount_usd: '1', added_quota: 500_000, remark: 'first' })
      const badPage = await signed(app, { method: 'GET', url: '/api/user/external/u-1/topups?page_size=101' })
      t.equal(badPage.statusCode, 400)
      const unknownQuery = await signed(app, { method: 'GET', url: '/api/user/external/u-1/topups?sort=asc' })
      t.equal(unknownQuery.statusCode, 400)
      const unknown = await signed(app, { method: 'GET', url: '/api/user/external/nobody/topups' })
      t.equal(unknown.statusCode, 404)
    })

    if (backend.name === 'mysql+redis') {
      t.test('two instances, 20 racing identical top-ups split between them, credit once', async (t) => {
        const second = await buildApp(t, backend, { env: PARTNER_ENV, share: first })
        const body = { external_user_id: 'u-two', amount_usd: '3', payment_id: 'two-instances-1' }
        const results = await Promise.all(Array.from({ length: 20 }, (_, i) => topup(i % 2 ? second.app : app, body)))
        t.same(results.map((r) => r.statusCode), Array(20).fill(200), results.map((r) => r.body).join('\n'))
        t.equal(results.filter((r) => r.json().duplicate === false).length, 1)
        t.equal(await quotaOf(second.app, 'u-two'), 1_500_000)
        t.equal(await quotaOf(app, 'u-two'), 1_500_000)
      })

      t.test('a nonce used on one instance is refused on the other', async (t) => {
        const second = await buildApp(t, backend, { env: PARTNER_ENV, share: first })
        const nonce = 'shared-nonce-0001'
        const a = await signed(app, { method: 'GET', url: '/api/user/external/u-1', nonce })
        t.equal(a.statusCode, 200)
        const b = await signed(second.app, { method: 'GET', url: '/api/user/external/u-1', nonce })
        t.equal(b.json().error.code, 'nonce_reused')
      })
    }
  })
}
