// LOG_RETENTION_DAYS: usage-log rows older than that are deleted in small batches by a background job (once soon
// after start, then hourly, one instance at a time); newer rows and every balance stay as they were.
import { randomBytes } from 'node:crypto'
import { eq, lt, sql } from 'drizzle-orm'
import type { FastifyInstance } from 'fastify'
import { pino } from 'pino'
import t from 'tap'
import type { FastifyBaseLogger } from 'fastify'
import { systemClock } from '../../src/clock.js'
import { createLogsRepository } from '../../src/logs/repository.js'
import { purgeOldUsageLogs } from '../../src/logs/retention.js'
import { makeUserWithToken } from '../billing/fixtures.js'
import { backends } from '../support/backends.js'
import { buildApp } from '../support/build-app.js'
import { eventually } from '../relay/fixture.js'

const DAY = 86_400_000
const log = pino({ level: 'silent' }) as unknown as FastifyBaseLogger

/** `count` usage-log rows of the user, created `ageDays` ago, each costing `quota`. */
async function insertRows(app: FastifyInstance, user: { userId: number; tokenId: number }, count: number, ageDays: number, quota = 7): Promise<void> {
  const { db, t: tables } = app.db
  const createdAt = new Date(Date.now() - ageDays * DAY)
  const rows = Array.from({ length: count }, () => ({
    createdAt,
    requestId: `ret-${randomBytes(6).toString('hex')}`,
    userId: user.userId,
    tokenId: user.tokenId,
    model: 'retention-model',
    status: 200,
    promptTokens: 3,
    completionTokens: 4,
    quota,
  }))
  for (let i = 0; i < rows.length; i += 500) await db.insert(tables.usageLogs).values(rows.slice(i, i + 500))
}

async function countRows(app: FastifyInstance, olderThanDays?: number): Promise<number> {
  const { db, t: tables } = app.db
  const where = olderThanDays === undefined ? undefined : lt(tables.usageLogs.createdAt, new Date(Date.now() - olderThanDays * DAY))
  const [row] = await db.select({ n: sql<number>`count(*)` }).from(tables.usageLogs).where(where)
  return Number(row?.n ?? 0)
}

async function balances(app: FastifyInstance, userId: number) {
  const { db, t: tables } = app.db
  const [user] = await db.select().from(tables.users).where(eq(tables.users.id, userId))
  return { quota: Number(user!.quota), usedQuota: Number(user!.usedQuota), requestCount: Number(user!.requestCount) }
}

for (const backend of backends()) {
  t.test(backend.name, async (t) => {
    t.test('one pass deletes old rows batch by batch, keeps newer rows and every balance', async (t) => {
      const { app } = await buildApp(t, backend)
      const user = await makeUserWithToken(app, { quota: 1_000 })
      await insertRows(app, user, 250, 45)
      await insertRows(app, user, 5, 29)
      await insertRows(app, user, 3, 0)
      const before = await balances(app, user.userId)
      const repo = createLogsRepository(app.db)
      const batches: number[] = []
      const counting = {
        async deleteOlderThan(cutoff: Date, limit: number) {
          const n = await repo.deleteOlderThan(cutoff, limit)
          batches.push(n)
          return n
        },
      }
      const deleted = await purgeOldUsageLogs({ repo: counting, clock: systemClock, log, days: 30, batch: 100, pauseMs: 1 }, new AbortController().signal)
      t.equal(deleted, 250)
      t.same(batches, [100, 100, 50], 'statements of at most one batch, until one comes back short')
      t.equal(await countRows(app), 8, 'the 29-day-old and today rows are kept')
      t.equal(await countRows(app, 30), 0)
      t.same(await balances(app, user.userId), before, 'balances untouched')
      t.equal(await purgeOldUsageLogs({ repo, clock: systemClock, log, days: 30 }, new AbortController().signal), 0, 'a second pass finds nothing')
    })

    t.test('a stopped job stops between batches', async (t) => {
      const { app } = await buildApp(t, backend)
      const user = await makeUserWithToken(app, { quota: 0 })
      await insertRows(app, user, 30, 100)
      const repo = createLogsRepository(app.db)
      const controller = new AbortController()
      const stopping = {
        async deleteOlderThan(cutoff: Date, limit: number) {
          const n = await repo.deleteOlderThan(cutoff, limit)
          controller.abort()
          return n
        },
      }
      t.equal(await purgeOldUsageLogs({ repo: stopping, clock: systemClock, log, days: 1, batch: 10, pauseMs: 1 }, controller.signal), 10)
      t.equal(await countRows(app), 20)
    })

    t.test('with LOG_RETENTION_DAYS set, the job runs by itself soon after start', async (t) => {
      const first = await buildApp(t, backend)
      const user = await makeUserWithToken(first.app, { quota: 5_000 })
      await insertRows(first.app, user, 1_200, 8)
      await insertRows(first.app, user, 4, 6)
      const before = await balances(first.app, user.userId)
      // Another instance of the same deployment, this one with retention on.
      const second = await buildApp(t, backend, { share: first, env: { LOG_RETENTION_DAYS: '7' } })
      t.equal(await eventually(() => countRows(second.app, 7), (n) => n === 0, 5_000), 0, 'rows older than 7 days are gone')
      t.equal(await countRows(first.app), 4, 'newer rows stay')
      t.same(await balances(first.app, user.userId), before, 'balances untouched')
    })
  })
}
