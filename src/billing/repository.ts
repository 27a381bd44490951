import { and, eq, gte, isNull, sql } from 'drizzle-orm'
import { affectedRows, type Database, type SqliteDb } from '../db/client.js'
import { planSettlement } from './settle-plan.js'
import { createAsyncBatcher, createTickBatcher } from './tick-batch.js'

/**
 * The money-moving units of work. Each runs in ONE transaction, written once per dialect
 * (STYLE: Homarr's lesson): SQLite's synchronous better-sqlite3 transaction serialises writers
 * by construction; MySQL relies on conditional `UPDATE … WHERE quota >= ?` under row locks.
 * Rows are always locked in the same order — token, user, channel — so two units never deadlock.
 */

/** Which balance refused a reservation. */
export type Refusal = 'token' | 'user'

export interface ReserveUnit {
  userId: number
  tokenId: number
  /** Also take it from the token's remain_quota. */
  tokenLimited: boolean
  quota: number
}

export interface UsageLogEntry {
  createdAt: Date
  requestId: string
  userId: number
  tokenId: number
  channelId: number | null
  model: string
  upstreamModel: string | null
  stream: boolean
  promptTokens: number
  completionTokens: number
  quota: number
  latencyMs: number
  firstByteMs: number | null
  status: number
  error: string | null
}

export interface SettleUnit {
  reserved: number
  tokenLimited: boolean
  /** Bump request_count (the request reached the client). */
  delivered: boolean
  log: UsageLogEntry
}

export interface AdjustUnit {
  userId: number
  delta: number
  remark: string
  adminId: number
  at: Date
}

export type AdjustResult = { ok: true } | { ok: false; reason: 'not_found' | 'below_zero'; quota?: number }

export function createBillingRepository(database: Database) {
  const { t } = database
  const sqliteStatements = database.dialect === 'sqlite' ? lazy(() => prepareSqlite(database)) : null
  // SQLite: the reservations of one event-loop turn share one transaction (one commit); each
  // still takes from its token and user both or neither.
  const reserveSqlite =
    database.dialect === 'sqlite' && sqliteStatements
      ? createTickBatcher((units: readonly ReserveUnit[]): (Refusal | null)[] => {
          const statements = sqliteStatements()
          return database.sqlite.transaction(() => units.map((unit) => reserveOneSqlite(statements, unit)))
        })
      : null
  // MySQL: the reservations that arrive while a batch is being written form the next batch.
  const reserveMysql =
    database.dialect === 'mysql'
      ? createAsyncBatcher((units: readonly ReserveUnit[]) => withLockRetry(() => reserveBatchMysql(database, units)))
      : null

  return {
    /** Takes `quota` from the token (when limited) and the user, both or neither; null when granted. */
    reserve(unit: ReserveUnit): Promise<Refusal | null> {
      return reserveSqlite ? reserveSqlite(unit) : reserveMysql!(unit)
    },

    /**
     * Settles reservations to their real cost and writes their ledger rows, all in one
     * transaction (one unit, or a group commit of many): user and token get back
     * `reserved − cost` and are charged `cost` as used; the channel's used_quota grows by the cost.
     */
    async settle(units: readonly SettleUnit[]): Promise<void> {
      if (units.length === 0) return
      const plan = planSettlement(units)
      const logs = units.map((u) => u.log)
      if (database.dialect === 'sqlite') {
        const statements = sqliteStatements!()
        database.sqlite.transaction((tx) => {
          for (const [id, c] of plan.tokens) statements.settleToken.run({ id, ...c })
          for (const [id, c] of plan.users) statements.settleUser.run({ id, ...c })
          for (const [id, cost] of plan.channels) statements.settleChannel.run({ id, cost })
          tx.insert(t.usageLogs).values(logs).run()
        })
        return
      }
      const mt = database.mt
      await database.mysql.transaction(async (tx) => {
        for (const [id, c] of plan.tokens) {
          await tx
            .update(mt.tokens)
            .set({
              remainQuota: sql`${mt.tokens.remainQuota} + ${c.refund}`,
              usedQuota: sql`${mt.tokens.usedQuota} + ${c.cost}`,
              requestCount: sql`${mt.tokens.requestCount} + ${c.served}`,
            })
            .where(eq(mt.tokens.id, id))
        }
        for (const [id, c] of plan.users) {
          await tx
            .update(mt.users)
            .set({
              quota: sql`${mt.users.quota} + ${c.refund}`,
              usedQuota: sql`${mt.users.usedQuota} + ${c.cost}`,
              requestCount: sql`${mt.users.requestCount} + ${c.served}`,
            })
            .where(eq(mt.users.id, id))
        }
        for (const [id, cost] of plan.channels) {
          await tx
            .update(mt.channels)
            .set({ usedQuota: sql`${mt.channels.usedQuota} + ${cost}` })
            .where(eq(mt.channels.id, id))
        }
        await tx.insert(mt.usageLogs).values(logs)
      })
    },

    /**
     * An admin's quota adjustment: the `adjustment` ledger row and the balance change together.
     * A negative delta may not take the balance below zero.
     */
    async adjust(unit: AdjustUnit): Promise<AdjustResult> {
      const entry = { userId: unit.userId, kind: 'adjustment', quota: unit.delta, remark: unit.remark, createdBy: unit.adminId, createdAt: unit.at }
      const floor = unit.delta < 0 ? -unit.delta : 0
      if (database.dialect === 'sqlite') {
        return database.sqlite.transaction((tx): AdjustResult => {
          const user = tx
            .select({ quota: t.users.quota })
            .from(t.users)
            .where(and(eq(t.users.id, unit.userId), isNull(t.users.deletedAt)))
            .get()
          if (!user) return { ok: false, reason: 'not_found' }
          if (user.quota < floor) return { ok: false, reason: 'below_zero', quota: user.quota }
          tx.update(t.users)
            .set({ quota: sql`${t.users.quota} + ${unit.delta}`, updatedAt: unit.at })
            .where(eq(t.users.id, unit.userId))
            .run()
          tx.insert(t.topups).values(entry).run()
          return { ok: true }
        })
      }
      const mt = database.mt
      return database.mysql.transaction(async (tx): Promise<AdjustResult> => {
        const rows = await tx
          .select({ quota: mt.users.quota })
          .from(mt.users)
          .where(and(eq(mt.users.id, unit.userId), isNull(mt.users.deletedAt)))
          .for('update')
        const user = rows[0]
        if (!user) return { ok: false, reason: 'not_found' }
        if (Number(user.quota) < floor) return { ok: false, reason: 'below_zero', quota: Number(user.quota) }
        await tx
          .update(mt.users)
          .set({ quota: sql`${mt.users.quota} + ${unit.delta}`, updatedAt: unit.at })
          .where(eq(mt.users.id, unit.userId))
        await tx.insert(mt.topups).values(entry)
        return { ok: true }
      })
    },
  }
}

export type BillingRepository = ReturnType<typeof createBillingRepository>

/**
 * The statements every relayed request runs on SQLite, compiled once: building and preparing them
 * per request was most of the gateway's CPU under load. Placeholders are named after the fields.
 */
function prepareSqlite(database: Database) {
  const db: SqliteDb = database.db
  const { tokens, users, channels } = database.t
  const id = sql.placeholder('id')
  const quota = sql.placeholder('quota')
  const refund = sql.placeholder('refund')
  const cost = sql.placeholder('cost')
  const served = sql.placeholder('served')
  return {
    takeFromToken: db
      .update(tokens)
      .set({ remainQuota: sql`${tokens.remainQuota} - ${quota}` })
      .where(and(eq(tokens.id, id), gte(tokens.remainQuota, quota)))
      .prepare(),
    takeFromUser: db
      .update(users)
      .set({ quota: sql`${users.quota} - ${quota}` })
      .where(and(eq(users.id, id), gte(users.quota, quota)))
      .prepare(),
    returnToToken: db
      .update(tokens)
      .set({ remainQuota: sql`${tokens.remainQuota} + ${quota}` })
      .where(eq(tokens.id, id))
      .prepare(),
    settleToken: db
      .update(tokens)
      .set({
        remainQuota: sql`${tokens.remainQuota} + ${refund}`,
        usedQuota: sql`${tokens.usedQuota} + ${cost}`,
        requestCount: sql`${tokens.requestCount} + ${served}`,
      })
      .where(eq(tokens.id, id))
      .prepare(),
    settleUser: db
      .update(users)
      .set({
        quota: sql`${users.quota} + ${refund}`,
        usedQuota: sql`${users.usedQuota} + ${cost}`,
        requestCount: sql`${users.requestCount} + ${served}`,
      })
      .where(eq(users.id, id))
      .prepare(),
    settleChannel: db
      .update(channels)
      .set({ usedQuota: sql`${channels.usedQuota} + ${cost}` })
      .where(eq(channels.id, id))
      .prepare(),
  }
}

/**
 * One transaction for a batch of reservations. Rows are locked in the global order every
 * money-moving transaction here uses — tokens, then users, each by id — so concurrent batches on
 * several instances cannot deadlock; a unit whose user refuses gives its token back.
 */
async function reserveBatchMysql(database: Database & { dialect: 'mysql' }, units: readonly ReserveUnit[]): Promise<(Refusal | null)[]> {
  const { mt } = database
  const results: (Refusal | null)[] = units.map(() => null)
  const order = (key: (u: ReserveUnit) => number) => units.map((_, i) => i).sort((a, b) => key(units[a]!) - key(units[b]!))
  await database.mysql.transaction(async (tx) => {
    for (const i of order((u) => u.tokenId)) {
      const unit = units[i]!
      if (!unit.tokenLimited) continue
      const taken = await tx
        .update(mt.tokens)
        .set({ remainQuota: sql`${mt.tokens.remainQuota} - ${unit.quota}` })
        .where(and(eq(mt.tokens.id, unit.tokenId), gte(mt.tokens.remainQuota, unit.quota)))
      if (affectedRows(taken) === 0) results[i] = 'token'
    }
    for (const i of order((u) => u.userId)) {
      const unit = units[i]!
      if (results[i]) continue
      const taken = await tx
        .update(mt.users)
        .set({ quota: sql`${mt.users.quota} - ${unit.quota}` })
        .where(and(eq(mt.users.id, unit.userId), gte(mt.users.quota, unit.quota)))
      if (affectedRows(taken) === 0) results[i] = 'user'
    }
    for (const [i, unit] of units.entries()) {
      // Both or neither: the token row is already locked by this transaction.
      if (results[i] === 'user' && unit.tokenLimited) {
        await tx
          .update(mt.tokens)
          .set({ remainQuota: sql`${mt.tokens.remainQuota} + ${unit.quota}` })
          .where(eq(mt.tokens.id, unit.tokenId))
      }
    }
  })
  return results
}

const LOCK_CONFLICTS = new Set(['ER_LOCK_DEADLOCK', 'ER_LOCK_WAIT_TIMEOUT'])

/** A batch that lost a lock conflict changed nothing (its transaction rolled back): run it again. */
async function withLockRetry<T>(work: () => Promise<T>, attempts = 4): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work()
    } catch (err) {
      const code = (err as { code?: string; cause?: { code?: string } }).code ?? (err as { cause?: { code?: string } }).cause?.code
      if (attempt >= attempts || !code || !LOCK_CONFLICTS.has(code)) throw err
      await new Promise((resolve) => setTimeout(resolve, 5 * attempt))
    }
  }
}

type SqliteStatements = ReturnType<typeof prepareSqlite>

function reserveOneSqlite(statements: SqliteStatements, unit: ReserveUnit): Refusal | null {
  if (unit.tokenLimited && statements.takeFromToken.run({ id: unit.tokenId, quota: unit.quota }).changes === 0) return 'token'
  if (statements.takeFromUser.run({ id: unit.userId, quota: unit.quota }).changes === 0) {
    // Both or neither: give the token back what was just taken from it.
    if (unit.tokenLimited) statements.returnToToken.run({ id: unit.tokenId, quota: unit.quota })
    return 'user'
  }
  return null
}

function lazy<T>(make: () => T): () => T {
  let value: T | undefined
  return () => (value ??= make())
}
