import { and, eq, getTableColumns, getTableName, gte, inArray, isNull, sql, type SQL } from 'drizzle-orm'
import { escape as escapeMysql } from 'mysql2'
import { affectedRows, type Database, type SqliteDb } from '../db/client.js'
import { chargeUnits, needsBalances, planSettlement } from './settle-plan.js'
import { assertQuotaSum } from './limits.js'
import { createAsyncBatcher, createTickBatcher } from './tick-batch.js'
import { fitLogEntry } from './usage-row.js'

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
  /** What to take when the balance covers it. */
  quota: number
  /** Below `quota`: take as much as the balance has, if that is at least this much. Equal: all or nothing. */
  minQuota: number
}

/** What a reservation got: the quota taken, or which balance refused. */
export type ReserveResult = { granted: number; refusedBy?: undefined } | { granted?: undefined; refusedBy: Refusal }

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
  /** Of promptTokens: read from / written to the provider's prompt cache. */
  cachedTokens: number
  cacheWriteTokens: number
  /** Of completionTokens: reasoning / thinking. */
  reasoningTokens: number
  /** `relay` (a /v1 request) or `chat` (a chat turn). */
  source: 'relay' | 'chat'
  quota: number
  latencyMs: number
  firstByteMs: number | null
  status: number
  error: string | null
}

export interface SettleUnit {
  /** Held on the balance itself (an exact reservation) for this request. */
  reserved: number
  /**
   * The request's cost beyond `prepaid`. What is charged (`log.quota` = prepaid + the part of this that the
   * balance allows) is set by `settle`: less only when forgiven.
   */
  cost: number
  /** Already paid from this instance's credit lease (src/billing/leases.ts): the lease rows shrink by it. */
  prepaid: number
  /** The instance whose leases `prepaid` came from; null when nothing was prepaid. */
  leaseInstance: string | null
  /** This unit's entry in the instance's lease journal (0 = not journaled). */
  journalSeq: number
  /** How far below zero this settlement may take a balance when the cost exceeds the reservation. */
  overdraft: number
  tokenLimited: boolean
  /** Bump request_count (the request reached the client). */
  delivered: boolean
  log: UsageLogEntry
  /** Set by `settle`: cost left uncharged because the balance was exhausted. */
  forgiven: number
}

export interface AdjustUnit {
  userId: number
  delta: number
  remark: string
  adminId: number
  at: Date
}

export type AdjustResult = { ok: true } | { ok: false; reason: 'not_found' | 'below_zero'; quota?: number }

/** Counts the SQL statements a unit of work ran (for `nexus_db_statements_total`); `path` says which. */
export type StatementCounter = (path: 'reserve' | 'settle' | 'lease', statements: number) => void

export function createBillingRepository(database: Database, count: StatementCounter = () => {}) {
  const { t } = database
  const sqliteStatements = database.dialect === 'sqlite' ? lazy(() => countCalls(prepareSqlite(database), count)) : null
  // SQLite: the reservations of one event-loop turn share one transaction (one commit); each
  // still takes from its token and user both or neither.
  const reserveSqlite =
    database.dialect === 'sqlite' && sqliteStatements
      ? createTickBatcher((units: readonly ReserveUnit[]): ReserveResult[] => {
          const statements = sqliteStatements()
          return database.sqlite.transaction(() => units.map((unit) => reserveOneSqlite(statements, unit)))
        })
      : null
  // MySQL: the reservations that arrive while a batch is being written form the next batch.
  const reserveMysql =
    database.dialect === 'mysql'
      ? createAsyncBatcher(async (units: readonly ReserveUnit[]): Promise<ReserveResult[]> => {
          const refusals = await withLockRetry(() => reserveBatchMysql(database, units))
          // BEGIN, one conditional UPDATE per limited token and per user, the give-backs, COMMIT.
          count('reserve', 2 + units.filter((u) => u.tokenLimited).length + units.length + refusals.filter((r) => r === 'user').length)
          // A unit that may shrink and was refused in full gets what the balance has, on its own (a rare path:
          // only a request without a completion limit from a balance too low for its whole allowance).
          return Promise.all(
            units.map((unit, i): ReserveResult | Promise<ReserveResult> => {
              const refusal = refusals[i]
              if (!refusal) return { granted: unit.quota }
              if (unit.minQuota >= unit.quota) return { refusedBy: refusal }
              return withLockRetry(() => reserveWhatIsLeftMysql(database, unit))
            }),
          )
        })
      : null

  return {
    /**
     * Takes `quota` (or, when the balance is short, as much as it has down to `minQuota`) from the token (when
     * limited) and the user, both or neither, only while they cover it: concurrent reservations never overdraw.
     */
    reserve(unit: ReserveUnit): Promise<ReserveResult> {
      return reserveSqlite ? reserveSqlite(unit) : reserveMysql!(unit)
    },

    /**
     * Settles reservations to their real cost and writes their ledger rows, all in one
     * transaction (one unit, or a group commit of many): user and token get back
     * `reserved − cost` and are charged `cost` as used; the channel's used_quota grows by the cost.
     */
    async settle(units: readonly SettleUnit[]): Promise<void> {
      if (units.length === 0) return
      if (database.dialect === 'sqlite') {
        const statements = sqliteStatements!()
        database.sqlite.transaction((tx) => {
          const needs = needsBalances(units)
          chargeUnits(
            units,
            new Map(needs.users.map((id) => [id, statements.userQuota.get({ id })?.quota ?? 0])),
            new Map(needs.tokens.map((id) => [id, statements.tokenRemain.get({ id })?.remainQuota ?? 0])),
          )
          const plan = planSettlement(units)
          const logs = units.map((u) => fitLogEntry(u.log))
          for (const [id, c] of plan.tokens) statements.settleToken.run({ id, ...c })
          for (const [id, c] of plan.users) statements.settleUser.run({ id, ...c })
          for (const [id, cost] of plan.channels) statements.settleChannel.run({ id, cost })
          const instance = units.find((u) => u.leaseInstance !== null)?.leaseInstance ?? null
          if (instance !== null) {
            for (const [id, paid] of plan.leaseTokens) statements.shrinkLease.run({ instance, kind: 'token', id, paid })
            for (const [id, paid] of plan.leaseUsers) statements.shrinkLease.run({ instance, kind: 'user', id, paid })
            if (plan.journalSeq > 0) statements.commitSeq.run({ instance, seq: plan.journalSeq, at: new Date() })
          }
          for (const row of logs) statements.insertLog.run({ ...row })
        })
        return
      }
      const mt = database.mt
      await database.mysql.transaction(async (tx) => {
        // Balances are read (and locked, tokens then users as everywhere) only when a cost passed its reservation.
        const needs = needsBalances(units)
        const tokenRows = needs.tokens.length
          ? await tx.select({ id: mt.tokens.id, v: mt.tokens.remainQuota }).from(mt.tokens).where(inArray(mt.tokens.id, needs.tokens)).orderBy(mt.tokens.id).for('update')
          : []
        const userRows = needs.users.length
          ? await tx.select({ id: mt.users.id, v: mt.users.quota }).from(mt.users).where(inArray(mt.users.id, needs.users)).orderBy(mt.users.id).for('update')
          : []
        chargeUnits(
          units,
          new Map(userRows.map((r) => [r.id, Number(r.v)])),
          new Map(tokenRows.map((r) => [r.id, Number(r.v)])),
        )
        const plan = planSettlement(units)
        const logs = units.map((u) => fitLogEntry(u.log))
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
        const instance = units.find((u) => u.leaseInstance !== null)?.leaseInstance ?? null
        if (instance !== null) {
          const shrink = async (kind: string, id: number, paid: number) => {
            await tx
              .update(mt.quotaLeases)
              .set({ amount: sql`${mt.quotaLeases.amount} - ${paid}` })
              .where(and(eq(mt.quotaLeases.instanceId, instance), eq(mt.quotaLeases.kind, kind), eq(mt.quotaLeases.subjectId, id)))
          }
          for (const [id, paid] of plan.leaseTokens) await shrink('token', id, paid)
          for (const [id, paid] of plan.leaseUsers) await shrink('user', id, paid)
          if (plan.journalSeq > 0) {
            await tx
              .insert(mt.quotaLeases)
              .values({ instanceId: instance, kind: 'seq', subjectId: 0, amount: plan.journalSeq, heartbeatAt: new Date() })
              .onDuplicateKeyUpdate({ set: { amount: sql`greatest(${mt.quotaLeases.amount}, ${plan.journalSeq})` } })
          }
        }
        await tx.execute(usageLogsInsert(database, logs))
        // BEGIN, the locking reads, one UPDATE per row, the lease rows, the INSERT, COMMIT.
        count(
          'settle',
          3 + (needs.tokens.length ? 1 : 0) + (needs.users.length ? 1 : 0) + plan.tokens.length + plan.users.length + plan.channels.length +
            (instance !== null ? plan.leaseTokens.length + plan.leaseUsers.length + (plan.journalSeq > 0 ? 1 : 0) : 0),
        )
      })
    },

    /**
     * Whether a settlement batch whose connection was lost is in the database after all: a MySQL connection that
     * drops while COMMIT is under way leaves the outcome unknown, and writing the batch again would charge it
     * twice. A batch is one transaction, so its rows are all there or none; a row is known by its request id,
     * owner and creation time (milliseconds), which a client reusing a request id does not repeat. SQLite's
     * transaction is synchronous: when it throws, nothing was written.
     */
    async settledAlready(units: readonly SettleUnit[]): Promise<boolean> {
      if (units.length === 0 || database.dialect === 'sqlite') return false
      const mt = database.mt
      const logs = units.map((u) => fitLogEntry(u.log))
      const rows = await database.mysql
        .select({ requestId: mt.usageLogs.requestId, userId: mt.usageLogs.userId, tokenId: mt.usageLogs.tokenId, createdAt: mt.usageLogs.createdAt })
        .from(mt.usageLogs)
        .where(inArray(mt.usageLogs.requestId, [...new Set(logs.map((l) => l.requestId))]))
      const found = new Set(rows.map((r) => `${r.requestId}\n${r.userId}\n${r.tokenId}\n${r.createdAt.getTime()}`))
      return logs.every((l) => found.has(`${l.requestId}\n${l.userId}\n${l.tokenId}\n${l.createdAt.getTime()}`))
    },

    /**
     * An admin's quota adjustment: the `adjustment` ledger row and the balance change together.
     * A negative delta may not take the balance below zero; no delta may take it out of the quota
     * range (throws QuotaRangeError, and the transaction writes nothing).
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
          // The result must stay a quota JSON carries exactly (CONTRACT §4); throwing rolls the unit back.
          assertQuotaSum(user.quota, unit.delta)
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
        assertQuotaSum(Number(user.quota), unit.delta)
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
  const { tokens, users, channels, quotaLeases, usageLogs } = database.t
  const id = sql.placeholder('id')
  const quota = sql.placeholder('quota')
  const refund = sql.placeholder('refund')
  const cost = sql.placeholder('cost')
  const served = sql.placeholder('served')
  return {
    userQuota: db.select({ quota: users.quota }).from(users).where(eq(users.id, id)).prepare(),
    tokenRemain: db.select({ remainQuota: tokens.remainQuota }).from(tokens).where(eq(tokens.id, id)).prepare(),
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
    // One row per run: a multi-row INSERT would be rebuilt by the query builder for every batch size.
    insertLog: db
      .insert(usageLogs)
      .values({
        createdAt: sql.placeholder('createdAt'),
        requestId: sql.placeholder('requestId'),
        userId: sql.placeholder('userId'),
        tokenId: sql.placeholder('tokenId'),
        channelId: sql.placeholder('channelId'),
        model: sql.placeholder('model'),
        upstreamModel: sql.placeholder('upstreamModel'),
        stream: sql.placeholder('stream'),
        promptTokens: sql.placeholder('promptTokens'),
        completionTokens: sql.placeholder('completionTokens'),
        cachedTokens: sql.placeholder('cachedTokens'),
        cacheWriteTokens: sql.placeholder('cacheWriteTokens'),
        reasoningTokens: sql.placeholder('reasoningTokens'),
        source: sql.placeholder('source'),
        quota: sql.placeholder('quota'),
        latencyMs: sql.placeholder('latencyMs'),
        firstByteMs: sql.placeholder('firstByteMs'),
        status: sql.placeholder('status'),
        error: sql.placeholder('error'),
      })
      .prepare(),
    shrinkLease: db
      .update(quotaLeases)
      .set({ amount: sql`${quotaLeases.amount} - ${sql.placeholder('paid')}` })
      .where(
        and(
          eq(quotaLeases.instanceId, sql.placeholder('instance')),
          eq(quotaLeases.kind, sql.placeholder('kind')),
          eq(quotaLeases.subjectId, id),
        ),
      )
      .prepare(),
    commitSeq: db
      .insert(quotaLeases)
      .values({ instanceId: sql.placeholder('instance'), kind: 'seq', subjectId: 0, amount: sql.placeholder('seq'), heartbeatAt: sql.placeholder('at') })
      .onConflictDoUpdate({
        target: [quotaLeases.instanceId, quotaLeases.kind, quotaLeases.subjectId],
        set: { amount: sql`max(${quotaLeases.amount}, excluded.amount)` },
      })
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

/** Takes `quota` from the token (when limited) and the user, both or neither; the refusing balance otherwise. */
function takeSqlite(statements: SqliteStatements, unit: ReserveUnit, quota: number): Refusal | null {
  if (unit.tokenLimited && statements.takeFromToken.run({ id: unit.tokenId, quota }).changes === 0) return 'token'
  if (statements.takeFromUser.run({ id: unit.userId, quota }).changes === 0) {
    // Both or neither: give the token back what was just taken from it.
    if (unit.tokenLimited) statements.returnToToken.run({ id: unit.tokenId, quota })
    return 'user'
  }
  return null
}

function reserveOneSqlite(statements: SqliteStatements, unit: ReserveUnit): ReserveResult {
  const refusal = takeSqlite(statements, unit, unit.quota)
  if (!refusal) return { granted: unit.quota }
  if (unit.minQuota >= unit.quota) return { refusedBy: refusal }
  // Short of the whole amount: as much as both balances have, if that reaches the minimum. Read and taken in
  // the caller's transaction, which SQLite runs alone.
  const user = statements.userQuota.get({ id: unit.userId })?.quota ?? 0
  const token = unit.tokenLimited ? (statements.tokenRemain.get({ id: unit.tokenId })?.remainQuota ?? 0) : Infinity
  const left = Math.min(user, token, unit.quota)
  if (left < unit.minQuota) return { refusedBy: token < unit.minQuota ? 'token' : 'user' }
  const again = takeSqlite(statements, unit, left)
  return again ? { refusedBy: again } : { granted: left }
}

/** The MySQL form of the short path above: both rows locked (token, then user), read, and taken from. */
async function reserveWhatIsLeftMysql(database: Database & { dialect: 'mysql' }, unit: ReserveUnit): Promise<ReserveResult> {
  const { mt } = database
  return database.mysql.transaction(async (tx): Promise<ReserveResult> => {
    let token = Infinity
    if (unit.tokenLimited) {
      const rows = await tx.select({ v: mt.tokens.remainQuota }).from(mt.tokens).where(eq(mt.tokens.id, unit.tokenId)).for('update')
      token = Number(rows[0]?.v ?? 0)
    }
    const rows = await tx.select({ v: mt.users.quota }).from(mt.users).where(eq(mt.users.id, unit.userId)).for('update')
    const user = Number(rows[0]?.v ?? 0)
    const left = Math.min(user, token, unit.quota)
    if (left < unit.minQuota) return { refusedBy: token < unit.minQuota ? 'token' : 'user' }
    if (unit.tokenLimited) {
      await tx.update(mt.tokens).set({ remainQuota: sql`${mt.tokens.remainQuota} - ${left}` }).where(eq(mt.tokens.id, unit.tokenId))
    }
    await tx.update(mt.users).set({ quota: sql`${mt.users.quota} - ${left}` }).where(eq(mt.users.id, unit.userId))
    return { granted: left }
  })
}

/** The prepared statements, each call of `run` / `get` counted (as a reservation's or a settlement's). */
function countCalls<T extends Record<string, object>>(statements: T, count: StatementCounter): T {
  const path = (name: string): 'reserve' | 'settle' =>
    name.startsWith('take') || name.startsWith('returnTo') || name === 'userQuota' || name === 'tokenRemain' ? 'reserve' : 'settle'
  const wrapped: Record<string, object> = {}
  for (const [name, statement] of Object.entries(statements)) {
    const p = path(name)
    const target = statement as { run(...a: unknown[]): unknown; get(...a: unknown[]): unknown }
    // Bound once here, so the hot path pays a call and a counter increment, no allocation.
    wrapped[name] = {
      run: (...args: unknown[]) => {
        count(p, 1)
        return target.run(...args)
      },
      get: (...args: unknown[]) => {
        count(p, 1)
        return target.get(...args)
      },
    }
  }
  return wrapped as T
}

function lazy<T>(make: () => T): () => T {
  let value: T | undefined
  return () => (value ??= make())
}

/** The usage-log INSERT's columns (all but the id), in the order of the table's definition; built once. */
let usageLogColumns: [string, { name: string; mapToDriverValue(value: unknown): unknown }][] | null = null

/**
 * One multi-row INSERT of a settlement batch's usage-log rows, as one SQL string. drizzle's query builder makes a
 * parameter object and runs its entity checks for every value (the profile of a MySQL gateway under load: ~35 µs
 * and a share of the garbage per row, more than the rest of its settlement); this is one pass over the rows. The
 * values are converted by the columns' own mapToDriverValue (dates as drizzle writes them) and escaped by mysql2's
 * `escape`, the function mysql2 itself formats drizzle's parameters with; a value left out takes the column's
 * DEFAULT, as drizzle would.
 */
function usageLogsInsert(database: Database & { dialect: 'mysql' }, logs: readonly object[]): SQL {
  const table = database.mt.usageLogs
  usageLogColumns ??= Object.entries(getTableColumns(table))
    .filter(([key]) => key !== 'id')
    .map(([key, column]) => [key, column] as [string, { name: string; mapToDriverValue(value: unknown): unknown }])
  const columns = usageLogColumns
  const rows = logs.map((log) => {
    let row = '('
    for (let i = 0; i < columns.length; i++) {
      const [key, column] = columns[i]!
      const value = (log as Record<string, unknown>)[key]
      if (i > 0) row += ','
      row += value === undefined ? 'DEFAULT' : escapeMysql((value === null ? null : column.mapToDriverValue(value)) as Parameters<typeof escapeMysql>[0])
    }
    return row + ')'
  })
  return sql.raw(`insert into \`${getTableName(table)}\` (${columns.map(([, c]) => `\`${c.name}\``).join(',')}) values ${rows.join(',')}`)
}
