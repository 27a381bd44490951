// Money under mixed load (issue 11): 100 chat turns and /v1 requests of one user at once, streams and plain
// answers, then CONTRACT §4's invariants on the balance and the usage log, on both backends.
import { and, eq, sql } from 'drizzle-orm'
import t from 'tap'
import { backends } from '../support/backends.js'
import { chat, post } from '../relay/fixture.js'
import { MODEL, startChatRig } from './support.js'

for (const backend of backends()) {
  t.test(backend.name, async (t) => {
    const rig = await startChatRig(t, backend, { env: { CHAT_RATE_LIMIT_PER_MIN: '1000' } })
    const alice = await rig.user('alice', 50_000_000)
    const key = (await rig.call(alice.token, 'POST', '/api/token', { name: 'mixed' })).body.key as string
    const conversations = await Promise.all(
      Array.from({ length: 10 }, async () => (await rig.call(alice.token, 'POST', '/api/conversations', { model: MODEL })).body.id as number),
    )

    const results = await Promise.all(
      Array.from({ length: 100 }, async (_, i) => {
        if (i % 2 === 0) {
          const res = await rig.call(alice.token, 'POST', `/api/conversations/${conversations[i % 10]}/messages`, { content: `turn ${i}`, use_context: false })
          return { kind: 'chat', status: res.status }
        }
        const res = await post(rig, '/v1/chat/completions', key, chat(MODEL, { stream: i % 4 === 1, messages: [{ role: 'user', content: `request ${i}` }] }))
        await res.text()
        return { kind: 'v1', status: res.status }
      }),
    )
    t.same(results.filter((r) => r.kind === 'chat' && r.status !== 201), [], 'every chat turn answered 201')
    t.same(results.filter((r) => r.kind === 'v1' && r.status !== 200), [], 'every /v1 request answered 200')

    // Nothing in flight: return any credit lease, then compare the balance with the ledger.
    await rig.app.meter.quiesce()
    const { db, t: tb } = rig.app.db
    const [user] = await db.select().from(tb.users).where(eq(tb.users.id, alice.id))
    const [logs] = await db
      .select({ quota: sql<string>`coalesce(sum(${tb.usageLogs.quota}), 0)`, rows: sql<number>`count(*)` })
      .from(tb.usageLogs)
      .where(eq(tb.usageLogs.userId, alice.id))
    const [chatRows] = await db
      .select({ rows: sql<number>`count(*)` })
      .from(tb.usageLogs)
      .where(and(eq(tb.usageLogs.userId, alice.id), eq(tb.usageLogs.source, 'chat')))
    const [topups] = await db.select({ quota: sql<string>`coalesce(sum(${tb.topups.quota}), 0)` }).from(tb.topups).where(eq(tb.topups.userId, alice.id))
    const [held] = await db.select({ n: sql<number>`count(*)` }).from(tb.quotaLeases).where(eq(tb.quotaLeases.subjectId, alice.id))
    t.equal(Number(logs!.rows), 100, 'one usage-log row per request and turn')
    t.equal(Number(chatRows!.rows), 50, 'the turns are logged as chat')
    t.equal(Number(held!.n), 0, 'no lease outstanding')
    t.ok(Number(logs!.quota) > 0)
    t.equal(Number(user!.usedQuota), Number(logs!.quota), 'used_quota = Σ usage_logs.quota')
    t.equal(Number(user!.quota) + Number(user!.usedQuota), Number(topups!.quota), 'quota + used_quota = Σ topups')
  })
}
