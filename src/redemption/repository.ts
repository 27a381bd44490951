import { and, count, desc, eq, gt, isNotNull, isNull, lte, or, sql, type SQL } from 'drizzle-orm'
import { assertQuotaSum } from '../billing/limits.js'
import { affectedRows, type Database } from '../db/client.js'

export type RedemptionCodeRow = Database['t']['redemptionCodes']['$inferSelect']
export type NewRedemptionCode = Database['t']['redemptionCodes']['$inferInsert']

/** A code with the name of whoever redeemed it (null while unused, or when that user is gone). */
export interface RedemptionCodeListRow {
  code: RedemptionCodeRow
  redeemedByUsername: string | null
}

/** The status a list can be filtered by; `expired` is an unused code past its `expires_at`. */
export type RedemptionStatus = 'unused' | 'used' | 'expired'

export interface RedeemUnit {
  codeHash: string
  userId: number
  at: Date
}

/** What a redemption did: the credit and the balance after it, or nothing (unknown, used or expired). */
export type RedeemResult = { ok: true; codeId: number; addedQuota: number; quota: number } | { ok: false }

/** Thrown inside the redemption's transaction when the redeeming user vanished under it: nothing is written. */
export class RedeemerGoneError extends Error {
  override name = 'RedeemerGoneError'
}

/** Codes are inserted this many rows per statement (1,000 codes at once stay far below any placeholder limit). */
const INSERT_CHUNK = 200

/**
 * Recharge codes' SQL. Money moves in `redeem` only: one transaction per dialect marks the code used with a
 * conditional UPDATE (the one that changes the row wins, whatever the concurrency or the number of instances),
 * credits the user, and writes the `redemption` ledger row (CONTRACT §4 invariant), or does none of it.
 */
export function createRedemptionRepository(database: Database) {
  const { db, t } = database
  const codes = t.redemptionCodes

  function statusFilter(status: RedemptionStatus | undefined, now: Date): SQL | undefined {
    if (status === undefined) return undefined
    if (status === 'used') return eq(codes.status, 'used')
    const live = or(isNull(codes.expiresAt), gt(codes.expiresAt, now))
    if (status === 'unused') return and(eq(codes.status, 'unused'), live)
    return and(eq(codes.status, 'unused'), isNotNull(codes.expiresAt), lte(codes.expiresAt, now))
  }

  /** The WHERE of the conditional update: still unused and not expired at `at`. */
  const redeemable = (id: number, at: Date) =>
    and(eq(codes.id, id), eq(codes.status, 'unused'), or(isNull(codes.expiresAt), gt(codes.expiresAt, at)))

  function ledgerRow(code: RedemptionCodeRow, unit: RedeemUnit) {
    return {
      userId: unit.userId,
      kind: 'redemption',
      amountMicros: Number(code.amountMicros),
      quota: Number(code.quota),
      remark: `recharge code #${code.id} (${code.name})`.slice(0, 255),
      // The admin who issued the code: the ledger says whose money it was.
      createdBy: code.createdBy,
      createdAt: unit.at,
    }
  }

  return {
    /** All or none of them, in one transaction. */
    async createMany(rows: NewRedemptionCode[]): Promise<void> {
      const chunks: NewRedemptionCode[][] = []
      for (let i = 0; i < rows.length; i += INSERT_CHUNK) chunks.push(rows.slice(i, i + INSERT_CHUNK))
      if (database.dialect === 'sqlite') {
        database.sqlite.transaction((tx) => {
          for (const chunk of chunks) tx.insert(t.redemptionCodes).values(chunk).run()
        })
        return
      }
      const mt = database.mt
      await database.mysql.transaction(async (tx) => {
        for (const chunk of chunks) await tx.insert(mt.redemptionCodes).values(chunk)
      })
    },

    /** Newest first, with who redeemed each. */
    async list(
      query: { status?: RedemptionStatus; page: number; pageSize: number },
      now: Date,
    ): Promise<{ rows: RedemptionCodeListRow[]; total: number }> {
      const where = statusFilter(query.status, now)
      const [rows, totals] = await Promise.all([
        db
          .select({ code: codes, redeemedByUsername: t.users.username })
          .from(codes)
          .leftJoin(t.users, eq(t.users.id, codes.redeemedBy))
          .where(where)
          .orderBy(desc(codes.id))
          .limit(query.pageSize)
          .offset((query.page - 1) * query.pageSize),
        db.select({ n: count() }).from(codes).where(where),
      ])
      return {
        rows: rows.map((r) => ({ code: r.code, redeemedByUsername: r.redeemedByUsername ?? null })),
        total: Number(totals[0]?.n ?? 0),
      }
    },

    /** True when a code was deleted. */
    async remove(id: number): Promise<boolean> {
      return affectedRows(await db.delete(codes).where(eq(codes.id, id))) > 0
    },

    /**
     * Redeems the code with this hash for the user, exactly once: `UPDATE … SET status='used' WHERE id=? AND
     * status='unused' AND not expired`, and only the transaction whose update changed the row credits the
     * user (+ ledger row). On SQLite the synchronous transaction runs alone; on MySQL the losers wait on the
     * code's row lock and then match no row. Locks: the code's row, then the user's (no other unit locks codes).
     * A credit beyond the quota range throws QuotaRangeError and writes nothing (the code stays unused).
     */
    async redeem(unit: RedeemUnit): Promise<RedeemResult> {
      if (database.dialect === 'sqlite') {
        return database.sqlite.transaction((tx): RedeemResult => {
          const code = tx.select().from(t.redemptionCodes).where(eq(t.redemptionCodes.codeHash, unit.codeHash)).get()
          if (!code) return { ok: false }
          const marked = tx
            .update(t.redemptionCodes)
            .set({ status: 'used', redeemedBy: unit.userId, redeemedAt: unit.at })
            .where(redeemable(code.id, unit.at))
            .run()
          if (affectedRows(marked) !== 1) return { ok: false }
          const user = tx
            .select({ quota: t.users.quota })
            .from(t.users)
            .where(and(eq(t.users.id, unit.userId), isNull(t.users.deletedAt)))
            .get()
          if (!user) throw new RedeemerGoneError()
          const added = Number(code.quota)
          assertQuotaSum(Number(user.quota), added)
          tx.update(t.users)
            .set({ quota: sql`${t.users.quota} + ${added}`, updatedAt: unit.at })
            .where(eq(t.users.id, unit.userId))
            .run()
          tx.insert(t.topups).values(ledgerRow(code, unit)).run()
          return { ok: true, codeId: code.id, addedQuota: added, quota: Number(user.quota) + added }
        })
      }
      const mt = database.mt
      return database.mysql.transaction(async (tx): Promise<RedeemResult> => {
        const found = await tx.select().from(mt.redemptionCodes).where(eq(mt.redemptionCodes.codeHash, unit.codeHash)).limit(1)
        const code = found[0]
        if (!code) return { ok: false }
        const marked = await tx
          .update(mt.redemptionCodes)
          .set({ status: 'used', redeemedBy: unit.userId, redeemedAt: unit.at })
          .where(redeemable(code.id, unit.at))
        if (affectedRows(marked) !== 1) return { ok: false }
        const users = await tx
          .select({ quota: mt.users.quota })
          .from(mt.users)
          .where(and(eq(mt.users.id, unit.userId), isNull(mt.users.deletedAt)))
          .for('update')
        const user = users[0]
        if (!user) throw new RedeemerGoneError()
        const added = Number(code.quota)
        assertQuotaSum(Number(user.quota), added)
        await tx
          .update(mt.users)
          .set({ quota: sql`${mt.users.quota} + ${added}`, updatedAt: unit.at })
          .where(eq(mt.users.id, unit.userId))
        await tx.insert(mt.topups).values(ledgerRow(code as RedemptionCodeRow, unit))
        return { ok: true, codeId: code.id, addedQuota: added, quota: Number(user.quota) + added }
      })
    },
  }
}

export type RedemptionRepository = ReturnType<typeof createRedemptionRepository>
