import { and, eq, gte, isNull, sql } from 'drizzle-orm'
import { affectedRows, type Database } from '../db/client.js'

/**
 * The money-moving units of work. Each runs in ONE transaction, written once per dialect
 * (STYLE: Homarr's lesson): SQLite's synchronous better-sqlite3 transaction serialises writers
 * by construction; MySQL relies on conditional `UPDATE … WHERE quota >= ?` under row locks.
 * Rows are always locked in the same order — token, user, channel — so two units never deadlock.
 */

/** Which balance refused a reservation. */
export type Refusal = 'token' | 'user'

class Refused extends Error {
  constructor(readonly by: Refusal) {
    super(`reservation refused by ${by}`)
  }
}

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

  return {
    /** Takes `quota` from the token (when limited) and the user, both or neither; null when granted. */
    async reserve(unit: ReserveUnit): Promise<Refusal | null> {
      try {
        if (database.dialect === 'sqlite') {
          database.sqlite.transaction((tx) => {
            if (unit.tokenLimited) {
              const token = tx
                .update(t.tokens)
                .set({ remainQuota: sql`${t.tokens.remainQuota} - ${unit.quota}` })
                .where(and(eq(t.tokens.id, unit.tokenId), gte(t.tokens.remainQuota, unit.quota)))
                .run()
              if (token.changes === 0) throw new Refused('token')
            }
            const user = tx
              .update(t.users)
              .set({ quota: sql`${t.users.quota} - ${unit.quota}` })
              .where(and(eq(t.users.id, unit.userId), gte(t.users.quota, unit.quota)))
              .run()
            if (user.changes === 0) throw new Refused('user')
          })
        } else {
          const mt = database.mt
          await database.mysql.transaction(async (tx) => {
            if (unit.tokenLimited) {
              const token = await tx
                .update(mt.tokens)
                .set({ remainQuota: sql`${mt.tokens.remainQuota} - ${unit.quota}` })
                .where(and(eq(mt.tokens.id, unit.tokenId), gte(mt.tokens.remainQuota, unit.quota)))
              if (affectedRows(token) === 0) throw new Refused('token')
            }
            const user = await tx
              .update(mt.users)
              .set({ quota: sql`${mt.users.quota} - ${unit.quota}` })
              .where(and(eq(mt.users.id, unit.userId), gte(mt.users.quota, unit.quota)))
            if (affectedRows(user) === 0) throw new Refused('user')
          })
        }
        return null
      } catch (err) {
        if (err instanceof Refused) return err.by
        throw err
      }
    },

    /**
     * Settles reservations to their real cost and writes their ledger rows, all in one
     * transaction (one unit, or a group commit of many): user and token get back
     * `reserved − cost` and are charged `cost` as used; the channel's used_quota grows by the cost.
     */
    async settle(units: readonly SettleUnit[]): Promise<void> {
      if (units.length === 0) return
      if (database.dialect === 'sqlite') {
        database.sqlite.transaction((tx) => {
          for (const unit of units) {
            const { log } = unit
            const cost = log.quota
            const refund = unit.reserved - cost
            const served = unit.delivered ? 1 : 0
            tx.update(t.tokens)
              .set({
                ...(unit.tokenLimited ? { remainQuota: sql`${t.tokens.remainQuota} + ${refund}` } : {}),
                usedQuota: sql`${t.tokens.usedQuota} + ${cost}`,
                requestCount: sql`${t.tokens.requestCount} + ${served}`,
              })
              .where(eq(t.tokens.id, log.tokenId))
              .run()
            tx.update(t.users)
              .set({
                quota: sql`${t.users.quota} + ${refund}`,
                usedQuota: sql`${t.users.usedQuota} + ${cost}`,
                requestCount: sql`${t.users.requestCount} + ${served}`,
              })
              .where(eq(t.users.id, log.userId))
              .run()
            if (log.channelId !== null && cost > 0) {
              tx.update(t.channels)
                .set({ usedQuota: sql`${t.channels.usedQuota} + ${cost}` })
                .where(eq(t.channels.id, log.channelId))
                .run()
            }
          }
          tx.insert(t.usageLogs).values(units.map((u) => u.log)).run()
        })
        return
      }
      const mt = database.mt
      await database.mysql.transaction(async (tx) => {
        for (const unit of units) {
          const { log } = unit
          const cost = log.quota
          const refund = unit.reserved - cost
          const served = unit.delivered ? 1 : 0
          await tx
            .update(mt.tokens)
            .set({
              ...(unit.tokenLimited ? { remainQuota: sql`${mt.tokens.remainQuota} + ${refund}` } : {}),
              usedQuota: sql`${mt.tokens.usedQuota} + ${cost}`,
              requestCount: sql`${mt.tokens.requestCount} + ${served}`,
            })
            .where(eq(mt.tokens.id, log.tokenId))
          await tx
            .update(mt.users)
            .set({
              quota: sql`${mt.users.quota} + ${refund}`,
              usedQuota: sql`${mt.users.usedQuota} + ${cost}`,
              requestCount: sql`${mt.users.requestCount} + ${served}`,
            })
            .where(eq(mt.users.id, log.userId))
          if (log.channelId !== null && cost > 0) {
            await tx
              .update(mt.channels)
              .set({ usedQuota: sql`${mt.channels.usedQuota} + ${cost}` })
              .where(eq(mt.channels.id, log.channelId))
          }
        }
        await tx.insert(mt.usageLogs).values(units.map((u) => u.log))
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
