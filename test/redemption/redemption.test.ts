import { eq } from 'drizzle-orm'
import t from 'tap'
import { ManualClock } from '../../src/clock.js'
import { INVALIDATE } from '../../src/relay/seams.js'
import { hashRelayKey } from '../../src/security/secrets.js'
import { backends } from '../support/backends.js'
import { bearer, buildApp, login } from '../support/build-app.js'
import { ledgerOf, makeUser, mintCodes, redeem } from './helpers.js'

const START = Date.parse('2026-03-01T00:00:00Z')
const CODE = /^nxr-[A-Za-z0-9]{32}$/

for (const backend of backends()) {
  t.test(backend.name, async (t) => {
    const clock = new ManualClock(START)
    const { app } = await buildApp(t, backend, { clock })
    const admin = await login(app)
    const adminRoute = (method: 'GET' | 'POST' | 'DELETE', url: string, session: string, payload?: unknown) =>
      app.inject({ method, url, headers: bearer(session), ...(payload === undefined ? {} : { payload: payload as object }) })

    t.test('an admin mints codes: shown once, distinct, stored only as hashes and masks', async (t) => {
      const res = await adminRoute('POST', '/api/redemption', admin, { name: 'spring promo', amount_usd: '2.5', count: 3 })
      t.equal(res.statusCode, 201, res.body)
      const body = res.json()
      t.match(body, { name: 'spring promo', amount_usd: '2.5', quota: 1_250_000, expires_at: null })
      t.equal(body.codes.length, 3)
      t.equal(new Set(body.codes).size, 3)
      for (const code of body.codes) t.match(code, CODE)

      const { db, t: tables } = app.db
      for (const code of body.codes as string[]) {
        const [row] = await db.select().from(tables.redemptionCodes).where(eq(tables.redemptionCodes.codeHash, hashRelayKey(code)))
        t.ok(row, 'stored under its SHA-256')
        t.equal(row!.codeMask, `${code.slice(0, 5)}...${code.slice(-4)}`)
        t.notOk(JSON.stringify(row).includes(code), 'the whole code is nowhere in the row')
      }

      const list = await adminRoute('GET', '/api/redemption?page_size=100', admin)
      t.equal(list.statusCode, 200)
      t.notOk(body.codes.some((c: string) => list.body.includes(c)), 'the list never shows a whole code')
      const mine = list.json().data.filter((d: { name: string }) => d.name === 'spring promo')
      t.equal(mine.length, 3)
      t.match(mine[0], { code: /^nxr-\w\.\.\.\w{4}$/, amount_usd: '2.5', quota: 1_250_000, status: 'unused', redeemed_by: null, redeemed_at: null })
    })

    t.test('a user redeems a code: 200, balance credited, a `redemption` ledger row, the relay caches told', async (t) => {
      const [code] = await mintCodes(app, admin, { amount_usd: 1, name: 'one dollar' })
      const user = await makeUser(app, 100)
      const announced: string[] = []
      await app.cache.subscribe(INVALIDATE.user, (id) => announced.push(id))

      const res = await redeem(app, user.session, code!)
      t.equal(res.statusCode, 200, res.body)
      t.same(res.json(), { added_quota: 500_000, quota: 500_100 })
      const self = await app.inject({ method: 'GET', url: '/api/user/self', headers: bearer(user.session) })
      t.equal(self.json().quota, 500_100)

      const ledger = await ledgerOf(app, user.id)
      t.equal(ledger.quota + ledger.usedQuota, ledger.topups, 'quota + used_quota = Σ ledger')
      t.equal(ledger.redemptions.length, 1)
      t.match(ledger.redemptions[0], { kind: 'redemption', quota: 500_000, amountMicros: 1_000_000, paymentId: null })

      const list = await adminRoute('GET', '/api/redemption?status=used', admin)
      const row = list.json().data.find((d: { name: string }) => d.name === 'one dollar')
      t.match(row, { status: 'used', redeemed_by: user.id, redeemed_by_username: /^u/, redeemed_at: new Date(START).toISOString() })

      for (let i = 0; i < 50 && !announced.includes(String(user.id)); i++) await new Promise((r) => setTimeout(r, 10))
      t.ok(announced.includes(String(user.id)))

      const again = await redeem(app, user.session, code!)
      t.equal(again.statusCode, 400)
      t.match(again.json().error, { code: 'invalid_code', type: 'invalid_request_error', param: 'code' })
      t.equal((await ledgerOf(app, user.id)).quota, 500_100, 'a used code credits nothing')
    })

    t.test('unknown, malformed and expired codes → 400 invalid_code, nothing credited', async (t) => {
      const [expiring] = await mintCodes(app, admin, { amount_usd: 1, expires_at: new Date(START + 60_000).toISOString(), name: 'short-lived' })
      const user = await makeUser(app)
      clock.advance(60_000)
      try {
        for (const code of [expiring!, `nxr-${'A'.repeat(32)}`, 'not a code']) {
          const res = await redeem(app, user.session, code)
          t.equal(res.statusCode, 400, code)
          t.equal(res.json().error.code, 'invalid_code')
        }
        const ledger = await ledgerOf(app, user.id)
        t.equal(ledger.quota, 0)
        t.equal(ledger.redemptions.length, 0)
        const expired = await adminRoute('GET', '/api/redemption?status=expired', admin)
        t.ok(expired.json().data.some((d: { name: string; status: string }) => d.name === 'short-lived' && d.status === 'expired'))
        const unused = await adminRoute('GET', '/api/redemption?status=unused', admin)
        t.notOk(unused.json().data.some((d: { name: string }) => d.name === 'short-lived'))
      } finally {
        clock.set(START)
      }
    })

    t.test('5 failures per user per 10 minutes → 429 rate_limit_error, even for a valid code; other users unaffected', async (t) => {
      const [good] = await mintCodes(app, admin, { amount_usd: 1 })
      const user = await makeUser(app)
      for (let i = 0; i < 5; i++) {
        const res = await redeem(app, user.session, `nxr-${String(i).repeat(32)}`)
        t.equal(res.statusCode, 400)
      }
      const limited = await redeem(app, user.session, good!)
      t.equal(limited.statusCode, 429)
      t.match(limited.json().error, { type: 'rate_limit_error', code: 'too_many_attempts' })
      t.ok(Number(limited.headers['retry-after']) > 0)
      t.equal((await ledgerOf(app, user.id)).quota, 0, 'the valid code was not tried')

      const other = await makeUser(app)
      const ok = await redeem(app, other.session, good!)
      t.equal(ok.statusCode, 200, 'the code stayed unused; another user may redeem it')
    })

    t.test('successes do not count towards the limit', async (t) => {
      const codes = await mintCodes(app, admin, { amount_usd: '0.01', count: 7 })
      const user = await makeUser(app)
      for (const code of codes) t.equal((await redeem(app, user.session, code)).statusCode, 200)
      t.equal((await ledgerOf(app, user.id)).quota, 7 * 5_000)
    })

    t.test('bad create bodies → 400 with param, and nothing is stored', async (t) => {
      const before = (await adminRoute('GET', '/api/redemption', admin)).json().total
      const cases: [unknown, string][] = [
        [{ name: 'x', amount_usd: 1, count: 0 }, 'count'],
        [{ name: 'x', amount_usd: 1, count: 1001 }, 'count'],
        [{ name: 'x', amount_usd: 0, count: 1 }, 'amount_usd'],
        [{ name: 'x', amount_usd: '1.0000001', count: 1 }, 'amount_usd'],
        [{ name: 'x', amount_usd: 100_001, count: 1 }, 'amount_usd'],
        [{ name: 'x', amount_usd: true, count: 1 }, 'amount_usd'],
        [{ name: '  ', amount_usd: 1, count: 1 }, 'name'],
        [{ amount_usd: 1, count: 1 }, 'name'],
        [{ name: 'x', amount_usd: 1, count: 1, expires_at: new Date(START - 1000).toISOString() }, 'expires_at'],
        [{ name: 'x', amount_usd: 1, count: 1, expires_at: 'tomorrow' }, 'expires_at'],
        [{ name: 'x', amount_usd: 1, count: 1, extra: 1 }, 'extra'],
      ]
      for (const [payload, param] of cases) {
        const res = await adminRoute('POST', '/api/redemption', admin, payload)
        t.equal(res.statusCode, 400, JSON.stringify(payload))
        t.equal(res.json().error.param, param, JSON.stringify(payload))
      }
      t.equal((await adminRoute('GET', '/api/redemption', admin)).json().total, before)
    })

    t.test('1,000 codes in one request', async (t) => {
      const res = await adminRoute('POST', '/api/redemption', admin, { name: 'bulk', amount_usd: '0.5', count: 1000 })
      t.equal(res.statusCode, 201)
      t.equal(new Set(res.json().codes).size, 1000)
      const { db, t: tables } = app.db
      const rows = await db.select({ id: tables.redemptionCodes.id }).from(tables.redemptionCodes).where(eq(tables.redemptionCodes.name, 'bulk'))
      t.equal(rows.length, 1000)
    })

    t.test('list: paginated, newest first, within the page bounds', async (t) => {
      const page = await adminRoute('GET', '/api/redemption?page=2&page_size=5', admin)
      t.equal(page.statusCode, 200)
      t.match(page.json(), { page: 2, page_size: 5 })
      t.equal(page.json().data.length, 5)
      const first = (await adminRoute('GET', '/api/redemption?page=1&page_size=5', admin)).json().data
      t.ok(first[4].id > page.json().data[0].id)
      t.equal((await adminRoute('GET', '/api/redemption?page_size=101', admin)).statusCode, 400)
      t.equal((await adminRoute('GET', '/api/redemption?status=lost', admin)).statusCode, 400)
    })

    t.test('delete: 204, then gone (404); a deleted code cannot be redeemed', async (t) => {
      const [code] = await mintCodes(app, admin, { amount_usd: 1, name: 'to delete' })
      const list = await adminRoute('GET', '/api/redemption?status=unused&page_size=100', admin)
      const id = list.json().data.find((d: { name: string }) => d.name === 'to delete').id
      t.equal((await adminRoute('DELETE', `/api/redemption/${id}`, admin)).statusCode, 204)
      const again = await adminRoute('DELETE', `/api/redemption/${id}`, admin)
      t.equal(again.statusCode, 404)
      const user = await makeUser(app)
      t.equal((await redeem(app, user.session, code!)).statusCode, 400)
    })

    t.test('non-admins get 403 on every admin route, whatever the body; no session → 401', async (t) => {
      const user = await makeUser(app)
      const before = (await adminRoute('GET', '/api/redemption', admin)).json().total
      for (const payload of [{ name: 'x', amount_usd: 1, count: 1 }, { nonsense: true }, 'not json at all']) {
        const res = await app.inject({
          method: 'POST',
          url: '/api/redemption',
          headers: { ...bearer(user.session), 'content-type': 'application/json' },
          payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
        })
        t.equal(res.statusCode, 403, JSON.stringify(payload))
        t.equal(res.json().error.type, 'permission_error')
      }
      t.equal((await adminRoute('GET', '/api/redemption', user.session)).statusCode, 403)
      t.equal((await adminRoute('DELETE', '/api/redemption/1', user.session)).statusCode, 403)
      t.equal((await app.inject({ method: 'GET', url: '/api/redemption' })).statusCode, 401)
      t.equal((await app.inject({ method: 'POST', url: '/api/user/self/redeem', payload: { code: 'x' } })).statusCode, 401)
      t.equal((await adminRoute('GET', '/api/redemption', admin)).json().total, before)
    })

    t.test('redeem body: strict', async (t) => {
      const user = await makeUser(app)
      for (const payload of [{}, { code: '' }, { code: 1 }, { code: 'x', more: 1 }]) {
        const res = await app.inject({ method: 'POST', url: '/api/user/self/redeem', headers: bearer(user.session), payload })
        t.equal(res.statusCode, 400, JSON.stringify(payload))
      }
    })
  })
}
