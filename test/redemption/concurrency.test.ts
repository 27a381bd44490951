// A recharge code credits once: 50 concurrent redemptions of one code, on each backend, and on MySQL + Redis from
// two gateway instances sharing the database and the cache. 10 users × 5 tries each, so that no try can be refused
// by the failure limit (5 per user) and every answer is decided by the code alone.
import { and, eq, inArray } from 'drizzle-orm'
import type { FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { hashRelayKey } from '../../src/security/secrets.js'
import { backends } from '../support/backends.js'
import { buildApp, login } from '../support/build-app.js'
import { ledgerOf, makeUser, mintCodes, redeem } from './helpers.js'

const USERS = 10
const TRIES_PER_USER = 5

async function race(t: Test, apps: FastifyInstance[], admin: string) {
  const [first] = apps
  const [code] = await mintCodes(first!, admin, { amount_usd: '3', name: 'race' })
  const users = await Promise.all(Array.from({ length: USERS }, () => makeUser(first!, 7)))
  const tries = users.flatMap((user, u) =>
    Array.from({ length: TRIES_PER_USER }, (_, i) => ({ user, app: apps[(u * TRIES_PER_USER + i) % apps.length]! })),
  )
  const answers = await Promise.all(tries.map(({ user, app }) => redeem(app, user.session, code!).then((res) => ({ user, res }))))

  const ok = answers.filter((a) => a.res.statusCode === 200)
  const refused = answers.filter((a) => a.res.statusCode === 400)
  t.equal(ok.length, 1, 'exactly one 200')
  t.equal(refused.length, 49, '49 × 400')
  t.ok(refused.every((a) => a.res.json().error.code === 'invalid_code'))
  const winner = ok[0]!.user
  t.same(ok[0]!.res.json(), { added_quota: 1_500_000, quota: 1_500_007 })

  for (const user of users) {
    const ledger = await ledgerOf(first!, user.id)
    t.equal(ledger.quota, user === winner ? 1_500_007 : 7, 'credited once, to the winner only')
    t.equal(ledger.redemptions.length, user === winner ? 1 : 0)
    t.equal(ledger.quota + ledger.usedQuota, ledger.topups, 'quota + used_quota = Σ ledger')
  }
  const { db, t: tables } = first!.db
  const ids = users.map((u) => u.id)
  const rows = await db.select().from(tables.topups).where(and(eq(tables.topups.kind, 'redemption'), inArray(tables.topups.userId, ids)))
  t.equal(rows.length, 1, 'one ledger row in all')
  const [stored] = await db
    .select()
    .from(tables.redemptionCodes)
    .where(and(eq(tables.redemptionCodes.codeHash, hashRelayKey(code!)), eq(tables.redemptionCodes.status, 'used')))
  t.equal(stored?.redeemedBy, winner.id)
}

for (const backend of backends()) {
  t.test(backend.name, async (t) => {
    const first = await buildApp(t, backend)
    const app = first.app
    const admin = await login(app)

    t.test('50 concurrent redemptions of one code', async (t) => {
      await race(t, [app], admin)
    })

    if (backend.name === 'mysql+redis') {
      // A subtest, so the second instance closes before the first drops the shared database.
      t.test('50 concurrent redemptions of one code across two instances (one MySQL, one Redis)', async (t) => {
        const two = await buildApp(t, backend, { share: first })
        await race(t, [app, two.app], admin)
      })
    }
  })
}
