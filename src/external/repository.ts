import { and, count, desc, eq, isNull, sql } from 'drizzle-orm'
import { assertQuotaSum } from '../billing/limits.js'
import { insertedId, type Database } from '../db/client.js'
import { equalsIgnoringCase, inIgnoringCase } from '../db/ignore-case.js'
import type { NewUser, UserRow } from '../users/repository.js'

export type TopupRow = Database['t']['topups']['$inferSelect']

export interface NewTopup {
  userId: number
  paymentId: string
  amountMicros: number
  quota: number
  remark: string | null
  createdAt: Date
}

/** Thrown inside the top-up transaction when the user vanished under it (deleted meanwhile). */
export class UserGoneError extends Error {
  override name = 'UserGoneError'
}

/**
 * The partner API's SQL on users, topups and tokens. Money moves in `creditTopup` only: one
 * transaction per dialect inserts the ledger row (unique payment_id) and adds the quota.
 */
export function createExternalRepository(database: Database) {
  const { db, t } = database
  const live = isNull(t.users.deletedAt)

  return {
    /** The user mapped to a partner id; `includeDeleted` also finds a soft-deleted holder of the id. */
    async findByExternalId(externalUserId: string, opts: { includeDeleted?: boolean } = {}): Promise<UserRow | undefined> {
      const byId = eq(t.users.externalUserId, externalUserId)
      const rows = await db
        .select()
        .from(t.users)
        .where(opts.includeDeleted ? byId : and(byId, live))
        .limit(1)
      return rows[0]
    },

    async findById(id: number): Promise<UserRow | undefined> {
      const rows = await db.select().from(t.users).where(and(eq(t.users.id, id), live)).limit(1)
      return rows[0]
    },

    /** Usernames among `candidates` already taken, ignoring case, as lower case (deleted users included: the index is global). */
    async takenUsernames(candidates: string[]): Promise<Set<string>> {
      if (candidates.length === 0) return new Set()
      const rows = await db
        .select({ username: t.users.username })
        .from(t.users)
        .where(inIgnoringCase(database, t.users.username, candidates))
      return new Set(rows.map((r) => r.username.toLowerCase()))
    },

    /** Taken ignoring case, by any user but `exceptId`. */
    async emailTaken(email: string, exceptId?: number): Promise<boolean> {
      const rows = await db.select({ id: t.users.id }).from(t.users).where(equalsIgnoringCase(database, t.users.email, email)).limit(1)
      return rows.length > 0 && rows[0]!.id !== exceptId
    },

    /**
     * Creates an external user (no password: they cannot log in with one) and records the
     * starting quota as a `grant` ledger row in the same transaction. Unique-index errors
     * (external_user_id, username, email) propagate for the caller to classify.
     */
    async createUser(user: NewUser, grant: { quota: number; remark: string }): Promise<number> {
      const values: NewUser = { ...user, quota: grant.quota, passwordHash: null, isExternal: true }
      const ledger = (userId: number) => ({
        userId,
        kind: 'grant',
        quota: grant.quota,
        remark: grant.remark,
        createdAt: user.createdAt,
      })
      if (database.dialect === 'sqlite') {
        return database.sqlite.transaction((tx) => {
          const id = insertedId(tx.insert(t.users).values(values).run())
          if (grant.quota > 0) tx.insert(t.topups).values(ledger(id)).run()
          return id
        })
      }
      const mt = database.mt
      return database.mysql.transaction(async (tx) => {
        const id = insertedId(await tx.insert(mt.users).values(values))
        if (grant.quota > 0) await tx.insert(mt.topups).values(ledger(id))
        return id
      })
    },

    async updateUser(id: number, changes: Partial<NewUser>): Promise<void> {
      await db.update(t.users).set(changes).where(eq(t.users.id, id))
    },

    /**
     * The exactly-once credit: the ledger row and the quota change commit together or not at all.
     * A second insert of the same payment_id fails on the unique index — also when it raced this
     * one from another request or another instance — and the caller reads the winner's row.
     * A credit that would take the balance out of the quota range throws QuotaRangeError and writes
     * nothing. Returns the user's quota after the credit.
     */
    async creditTopup(topup: NewTopup): Promise<number> {
      const row = { ...topup, kind: 'topup' }
      if (database.dialect === 'sqlite') {
        return database.sqlite.transaction((tx) => {
          tx.insert(t.topups).values(row).run()
          const user = tx.select({ quota: t.users.quota }).from(t.users).where(and(eq(t.users.id, topup.userId), live)).get()
          if (!user) throw new UserGoneError()
          // The new balance must stay within the quota range; throwing rolls the ledger row back.
          assertQuotaSum(Number(user.quota), topup.quota)
          tx.update(t.users)
            .set({ quota: sql`${t.users.quota} + ${topup.quota}`, updatedAt: topup.createdAt })
            .where(eq(t.users.id, topup.userId))
            .run()
          return Number(user.quota) + topup.quota
        })
      }
      const mt = database.mt
      return database.mysql.transaction(async (tx) => {
        await tx.insert(mt.topups).values(row)
        const users = await tx
          .select({ quota: mt.users.quota })
          .from(mt.users)
          .where(and(eq(mt.users.id, topup.userId), isNull(mt.users.deletedAt)))
          .for('update')
        const user = users[0]
        if (!user) throw new UserGoneError()
        assertQuotaSum(Number(user.quota), topup.quota)
        await tx
          .update(mt.users)
          .set({ quota: sql`${mt.users.quota} + ${topup.quota}`, updatedAt: topup.createdAt })
          .where(eq(mt.users.id, topup.userId))
        return Number(user.quota) + topup.quota
      })
    },

    async findTopupByPaymentId(paymentId: string): Promise<TopupRow | undefined> {
      const rows = await db.select().from(t.topups).where(eq(t.topups.paymentId, paymentId)).limit(1)
      return rows[0]
    },

    /** A user's partner top-ups (kind `topup`), newest first. */
    async listTopups(userId: number, page: number, pageSize: number): Promise<{ rows: TopupRow[]; total: number }> {
      const mine = and(eq(t.topups.userId, userId), eq(t.topups.kind, 'topup'))
      const [rows, totals] = await Promise.all([
        db
          .select()
          .from(t.topups)
          .where(mine)
          .orderBy(desc(t.topups.createdAt), desc(t.topups.id))
          .limit(pageSize)
          .offset((page - 1) * pageSize),
        db.select({ n: count() }).from(t.topups).where(mine),
      ])
      return { rows, total: Number(totals[0]?.n ?? 0) }
    },

    async tokenCount(userId: number): Promise<number> {
      const rows = await db
        .select({ n: count() })
        .from(t.tokens)
        .where(and(eq(t.tokens.userId, userId), isNull(t.tokens.deletedAt)))
      return Number(rows[0]?.n ?? 0)
    },
  }
}

export type ExternalRepository = ReturnType<typeof createExternalRepository>
