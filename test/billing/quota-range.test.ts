// Issue 9 item 7: quota beyond what JSON carries exactly. 1,100 admin deltas of 2^53−1 pushed a balance past 2^63
// (SQLite then stored a float) and a token's remain_quota accepted 1e+300. Every quota value — deltas, balances,
// token quotas, top-up results — is an integer in [−(2^53−1), 2^53−1] (CONTRACT §4), refused with 400 outside,
// and a delta or top-up whose RESULT would leave the range is refused inside the transaction that would move it.
import t from 'tap'
import { MAX_QUOTA } from '../../src/billing/limits.js'
import { PARTNER_ENV, signed } from '../external/partner-client.js'
import { backends } from '../support/backends.js'
import { bearer, buildApp, login } from '../support/build-app.js'
import { ledger, makeUserWithToken } from './fixtures.js'

const TWO_53 = '9007199254740992'

for (const backend of backends()) {
  t.test(`${backend.name}: quota values stay within ±(2^53−1)`, async (t) => {
    const { app } = await buildApp(t, backend, { env: PARTNER_ENV })
    const admin = bearer(await login(app))
    const json = { ...admin, 'content-type': 'application/json' }
    /** `delta` is raw JSON text, so values JSON.stringify would round can be sent as a client writes them. */
    const adjust = (id: number, delta: string) =>
      app.inject({ method: 'POST', url: `/api/user/${id}/quota`, headers: json, payload: `{"delta":${delta},"remark":"range test"}` })

    t.test('delta 2^53−1 twice: the first lands exactly, the second → 400 param delta and the balance is unchanged', async (t) => {
      const { userId } = await makeUserWithToken(app, { quota: 0 })
      const first = await adjust(userId, String(MAX_QUOTA))
      t.equal(first.statusCode, 200, first.body)
      t.match(first.body, `"quota":${MAX_QUOTA},`, 'the balance is answered exactly')
      for (const delta of [String(MAX_QUOTA), '1']) {
        const again = await adjust(userId, delta)
        t.equal(again.statusCode, 400, again.body)
        t.match(again.json().error, { code: 'quota_out_of_range', param: 'delta', type: 'invalid_request_error' })
      }
      t.match(await ledger(app, userId), { quota: MAX_QUOTA, topups: MAX_QUOTA })
      const shown = await app.inject({ method: 'GET', url: `/api/user/${userId}`, headers: admin })
      t.equal(shown.json().quota, MAX_QUOTA)
      const back = await adjust(userId, String(-MAX_QUOTA))
      t.equal(back.statusCode, 200, back.body)
      t.equal(back.json().quota, 0)
    })

    t.test('a delta outside the range itself → 400 param delta (ajv\'s integer alone would take 1e300)', async (t) => {
      const { userId } = await makeUserWithToken(app, { quota: 0 })
      for (const delta of [TWO_53, '9007199254740993', `-${TWO_53}`, '1e300', '-1e300', '1e16']) {
        const res = await adjust(userId, delta)
        t.equal(res.statusCode, 400, `${delta}: ${res.body}`)
        t.match(res.json().error, { code: 'invalid_request', param: 'delta' })
      }
      t.match(await ledger(app, userId), { quota: 0, topups: 0 })
    })

    t.test('concurrent deltas of 2^52 on an empty balance: exactly one lands (checked inside the transaction)', async (t) => {
      const { userId } = await makeUserWithToken(app, { quota: 0 })
      const results = await Promise.all(Array.from({ length: 8 }, () => adjust(userId, String(2 ** 52))))
      t.same(results.map((r) => r.statusCode).sort(), [200, 400, 400, 400, 400, 400, 400, 400], results.map((r) => r.body).join('\n'))
      t.match(await ledger(app, userId), { quota: 2 ** 52, topups: 2 ** 52 })
    })

    t.test('token remain_quota of 1e300 or 2^53 → 400 on create, update and the partner route; 2^53−1 is kept exactly', async (t) => {
      for (const value of ['1e300', '1e+300', TWO_53]) {
        const created = await app.inject({ method: 'POST', url: '/api/token', headers: json, payload: `{"name":"big","unlimited_quota":false,"remain_quota":${value}}` })
        t.equal(created.statusCode, 400, `${value}: ${created.body}`)
        t.match(created.json().error, { code: 'invalid_request', param: 'remain_quota' })
      }
      const max = await app.inject({ method: 'POST', url: '/api/token', headers: json, payload: `{"name":"max","unlimited_quota":false,"remain_quota":${MAX_QUOTA}}` })
      t.equal(max.statusCode, 201, max.body)
      t.match(max.body, `"remain_quota":${MAX_QUOTA},`)
      const id = max.json().id as number
      const patched = await app.inject({ method: 'PATCH', url: `/api/token/${id}`, headers: json, payload: '{"remain_quota":1e300}' })
      t.equal(patched.statusCode, 400, patched.body)
      t.equal(patched.json().error.param, 'remain_quota')
      const kept = await app.inject({ method: 'GET', url: `/api/token/${id}`, headers: admin })
      t.equal(kept.json().remain_quota, MAX_QUOTA)

      const synced = await signed(app, { method: 'POST', url: '/api/user/external/sync', body: { external_user_id: 'range-1' } })
      t.equal(synced.statusCode, 201)
      const partner = await signed(app, { method: 'POST', url: '/api/user/external/token', body: '{"external_user_id":"range-1","unlimited_quota":false,"remain_quota":1e300}' })
      t.equal(partner.statusCode, 400, partner.body)
      t.equal(partner.json().error.param, 'remain_quota')
    })

    t.test('a partner top-up whose resulting balance would leave the range → 400, nothing credited, payment id still free', async (t) => {
      const synced = await signed(app, { method: 'POST', url: '/api/user/external/sync', body: { external_user_id: 'range-2' } })
      t.equal(synced.statusCode, 201)
      const userId = synced.json().id as number
      t.equal((await adjust(userId, String(MAX_QUOTA - 1_000))).statusCode, 200)
      const topup = () => signed(app, { method: 'POST', url: '/api/user/external/topup', body: { external_user_id: 'range-2', amount_usd: '1', payment_id: 'pay-range-2' } })
      const refused = await topup()
      t.equal(refused.statusCode, 400, refused.body)
      t.match(refused.json().error, { code: 'quota_out_of_range', param: 'amount_usd' })
      t.match(await ledger(app, userId), { quota: MAX_QUOTA - 1_000, topups: MAX_QUOTA - 1_000 })
      const list = await signed(app, { method: 'GET', url: '/api/user/external/range-2/topups' })
      t.equal(list.json().total, 0, 'no ledger row was written')

      t.equal((await adjust(userId, String(-(MAX_QUOTA - 1_000)))).statusCode, 200)
      const credited = await topup()
      t.equal(credited.statusCode, 200, credited.body)
      t.match(credited.json(), { added_quota: 500_000, quota: 500_000, duplicate: false })
    })

    t.test('no response shows a quota above 2^53−1', async (t) => {
      const { userId } = await makeUserWithToken(app, { quota: 0 })
      for (let i = 0; i < 5; i++) await adjust(userId, String(MAX_QUOTA))
      for (const url of [`/api/user/${userId}`, `/api/user?page_size=100`]) {
        const res = await app.inject({ method: 'GET', url, headers: admin })
        for (const match of res.body.matchAll(/"(?:quota|used_quota|remain_quota)":(-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)/g)) {
          t.ok(Number.isSafeInteger(Number(match[1])) && /^-?\d+$/.test(match[1]!), `${url}: ${match[0]}`)
        }
      }
      t.match(await ledger(app, userId), { quota: MAX_QUOTA })
    })
  })
}
