import { and, eq, gte, lt, sql } from 'drizzle-orm'
import { affectedRows, type Database } from '../db/client.js'
import type { StatementCounter } from './repository.js'

/**
 * The database side of credit leases (src/billing/leases.ts). A lease row holds quota an instance took from
 * a user's balance (`kind` user) or a limited token's (`kind` token); one more row per instance (`kind` seq)
 * records the last journal entry its settlement batches committed, so a crash replay applies each entry once.
 * Balances are always locked in the order every money-moving transaction here uses: tokens, then users.
 */
export type LeaseKind = 'user' | 'token'

export interface LeaseAcquire {
  instanceId: string
  userId: number
  /** A limited token to lease from too (both or neither); null for the user alone. */
  tokenId: number | null
  /** Taken from each balance. */
  slice: number
  /** Taken only while each balance is at least this (≥ slice): a lease never empties a balance. */
  floor: number
  at: Date
}

export interface LeaseRow {
  instanceId: string
  kind: LeaseKind
  subjectId: number
  amount: number
  heartbeatAt: Date
}

/** The seq row's kind and subject: not a balance, a watermark. */
const SEQ_KIND = 'seq'

export function createLeaseRepository(database: Database, count: StatementCounter = () => {}) {
  const { t } = database

  const leaseKey = (instanceId: string, kind: string, subjectId: number) =>
    and(eq(t.quotaLeases.instanceId, instanceId), eq(t.quotaLeases.kind, kind), eq(t.quotaLeases.subjectId, subjectId))

  return {
    /** Takes `slice` from the token (when given) and the user, both or neither, into this instance's lease rows. */
    async acquire(a: LeaseAcquire): Promise<boolean> {
      // A conditional UPDATE and a lease upsert per balance.
      count('lease', a.tokenId === null ? 2 : 4)
      if (database.dialect === 'sqlite') {
        const { sqlite } = database
        try {
          return sqlite.transaction((tx) => {
          if (a.tokenId !== null) {
            const took = tx
              .update(t.tokens)
              .set({ remainQuota: sql`${t.tokens.remainQuota} - ${a.slice}` })
              .where(and(eq(t.tokens.id, a.tokenId), gte(t.tokens.remainQuota, a.floor)))
              .run()
            if (took.changes === 0) return false
          }
          const took = tx
            .update(t.users)
            .set({ quota: sql`${t.users.quota} - ${a.slice}` })
            .where(and(eq(t.users.id, a.userId), gte(t.users.quota, a.floor)))
            .run()
          // Both or neither: throwing rolls the token's part back.
          if (took.changes === 0) throw new NotGranted()
          for (const [kind, subjectId] of subjects(a)) {
            tx.insert(t.quotaLeases)
              .values({ instanceId: a.instanceId, kind, subjectId, amount: a.slice, heartbeatAt: a.at })
              .onConflictDoUpdate({
                target: [t.quotaLeases.instanceId, t.quotaLeases.kind, t.quotaLeases.subjectId],
                set: { amount: sql`${t.quotaLeases.amount} + ${a.slice}`, heartbeatAt: a.at },
              })
              .run()
          }
          return true
        })
        } catch (err) {
          if (err instanceof NotGranted) return false
          throw err
        }
      }
      const { mt } = database
      try {
        return await database.mysql.transaction(async (tx) => {
          if (a.tokenId !== null) {
            const took = await tx
              .update(mt.tokens)
              .set({ remainQuota: sql`${mt.tokens.remainQuota} - ${a.slice}` })
              .where(and(eq(mt.tokens.id, a.tokenId), gte(mt.tokens.remainQuota, a.floor)))
            if (affectedRows(took) === 0) return false
          }
          const took = await tx
            .update(mt.users)
            .set({ quota: sql`${mt.users.quota} - ${a.slice}` })
            .where(and(eq(mt.users.id, a.userId), gte(mt.users.quota, a.floor)))
          if (affectedRows(took) === 0) throw new NotGranted()
          for (const [kind, subjectId] of subjects(a)) {
            await tx
              .insert(mt.quotaLeases)
              .values({ instanceId: a.instanceId, kind, subjectId, amount: a.slice, heartbeatAt: a.at })
              .onDuplicateKeyUpdate({ set: { amount: sql`${mt.quotaLeases.amount} + ${a.slice}`, heartbeatAt: a.at } })
          }
          return true
        })
      } catch (err) {
        // The user refused after the token gave: the transaction rolled the token back.
        if (err instanceof NotGranted) return false
        throw err
      }
    },

    /**
     * Gives a lease's remaining amount back to its balance (less `keep`, which stays taken: what a crashed
     * instance's requests in flight held) and deletes it; returns the amount given back.
     */
    async release(instanceId: string, kind: LeaseKind, subjectId: number, keep = 0): Promise<number> {
      count('lease', 3)
      if (database.dialect === 'sqlite') {
        return database.sqlite.transaction((tx) => {
          const row = tx.select({ amount: t.quotaLeases.amount }).from(t.quotaLeases).where(leaseKey(instanceId, kind, subjectId)).get()
          if (!row) return 0
          const back = Math.max(0, row.amount - keep)
          if (kind === 'token') {
            tx.update(t.tokens).set({ remainQuota: sql`${t.tokens.remainQuota} + ${back}` }).where(eq(t.tokens.id, subjectId)).run()
          } else {
            tx.update(t.users).set({ quota: sql`${t.users.quota} + ${back}` }).where(eq(t.users.id, subjectId)).run()
          }
          tx.delete(t.quotaLeases).where(leaseKey(instanceId, kind, subjectId)).run()
          return back
        })
      }
      const { mt } = database
      const key = and(eq(mt.quotaLeases.instanceId, instanceId), eq(mt.quotaLeases.kind, kind), eq(mt.quotaLeases.subjectId, subjectId))
      return database.mysql.transaction(async (tx) => {
        // Balance first (the global lock order), then the lease row.
        const balance = kind === 'token' ? mt.tokens : mt.users
        await tx.select({ id: balance.id }).from(balance).where(eq(balance.id, subjectId)).for('update')
        const rows = await tx.select({ amount: mt.quotaLeases.amount }).from(mt.quotaLeases).where(key).for('update')
        if (!rows[0]) return 0
        const amount = Math.max(0, Number(rows[0].amount) - keep)
        if (kind === 'token') {
          await tx.update(mt.tokens).set({ remainQuota: sql`${mt.tokens.remainQuota} + ${amount}` }).where(eq(mt.tokens.id, subjectId))
        } else {
          await tx.update(mt.users).set({ quota: sql`${mt.users.quota} + ${amount}` }).where(eq(mt.users.id, subjectId))
        }
        await tx.delete(mt.quotaLeases).where(key)
        return amount
      })
    },

    /** Every lease row (and the seq watermark) of an instance. */
    async rowsOf(instanceId: string): Promise<LeaseRow[]> {
      const rows = await database.db.select().from(t.quotaLeases).where(eq(t.quotaLeases.instanceId, instanceId))
      return rows.map((r) => ({ instanceId: r.instanceId, kind: r.kind as LeaseKind, subjectId: r.subjectId, amount: Number(r.amount), heartbeatAt: r.heartbeatAt }))
    },

    /** The last journal entry whose settlement committed for this instance (0 = none). */
    async committedSeq(instanceId: string): Promise<number> {
      const rows = await database.db.select({ amount: t.quotaLeases.amount }).from(t.quotaLeases).where(leaseKey(instanceId, SEQ_KIND, 0))
      return Number(rows[0]?.amount ?? 0)
    },

    /** Instances with a lease row whose heartbeat is older than `before`. */
    async staleInstances(before: Date): Promise<string[]> {
      const rows = await database.db
        .selectDistinct({ instanceId: t.quotaLeases.instanceId })
        .from(t.quotaLeases)
        .where(lt(t.quotaLeases.heartbeatAt, before))
      return rows.map((r) => r.instanceId)
    },

    /** Keeps this instance's leases fresh: one statement for all of them. */
    async heartbeat(instanceId: string, at: Date): Promise<void> {
      count('lease', 1)
      await database.db.update(t.quotaLeases).set({ heartbeatAt: at }).where(eq(t.quotaLeases.instanceId, instanceId))
    },

    /** Deletes an instance's seq watermark once its leases are all returned. */
    async forget(instanceId: string): Promise<void> {
      await database.db.delete(t.quotaLeases).where(leaseKey(instanceId, SEQ_KIND, 0))
    },

    /**
     * A user's quota and Σ the leases held on it over every instance (what the ledger shows as held), in one
     * statement: read apart, a lease taken or returned between the two reads would show a slice twice or not at all.
     */
    async balanceOf(userId: number): Promise<{ quota: number; held: number } | null> {
      const held = database.db
        .select({ total: sql`coalesce(sum(${t.quotaLeases.amount}), 0)` })
        .from(t.quotaLeases)
        .where(and(eq(t.quotaLeases.kind, 'user'), eq(t.quotaLeases.subjectId, t.users.id)))
      const rows = await database.db
        .select({ quota: t.users.quota, held: sql<string | number>`(${held})` })
        .from(t.users)
        .where(eq(t.users.id, userId))
      return rows[0] ? { quota: Number(rows[0].quota), held: Number(rows[0].held) } : null
    },
  }
}

export type LeaseRepository = ReturnType<typeof createLeaseRepository>

class NotGranted extends Error {}

function subjects(a: LeaseAcquire): [LeaseKind, number][] {
  return a.tokenId === null ? [['user', a.userId]] : [['token', a.tokenId], ['user', a.userId]]
}
