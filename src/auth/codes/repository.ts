import { and, desc, eq, gt, gte, isNotNull, isNull, lt, or, sql } from 'drizzle-orm'
import { affectedRows, type Database } from '../../db/client.js'
import type { CodePurpose } from './code.js'

export type CodeRow = Database['t']['verificationCodes']['$inferSelect']

/** Wrong tries after which a code is burnt. */
export const MAX_ATTEMPTS = 5

/** The verification_codes table's SQL. */
export function createCodesRepository(database: Database) {
  const { db, t } = database
  const c = t.verificationCodes

  return {
    /** When the user's newest code for this purpose was made (used or not), for the resend limit. */
    async lastIssuedAt(userId: number, purpose: CodePurpose): Promise<Date | null> {
      const rows = await db
        .select({ createdAt: c.createdAt })
        .from(c)
        .where(and(eq(c.userId, userId), eq(c.purpose, purpose)))
        .orderBy(desc(c.createdAt))
        .limit(1)
      return rows[0]?.createdAt ?? null
    },

    /** Stores a new code; older unused codes of the same user and purpose are superseded (deleted). */
    async replace(userId: number, purpose: CodePurpose, codeHash: string, now: Date, expiresAt: Date): Promise<void> {
      await db.delete(c).where(and(eq(c.userId, userId), eq(c.purpose, purpose), isNull(c.usedAt)))
      await db.insert(c).values({ userId, purpose, codeHash, attempts: 0, expiresAt, createdAt: now })
    },

    /** The newest code still usable: unused, unexpired, not burnt. */
    async findActive(userId: number, purpose: CodePurpose, now: Date): Promise<CodeRow | undefined> {
      const rows = await db
        .select()
        .from(c)
        .where(
          and(eq(c.userId, userId), eq(c.purpose, purpose), isNull(c.usedAt), gt(c.expiresAt, now), lt(c.attempts, MAX_ATTEMPTS)),
        )
        .orderBy(desc(c.id))
        .limit(1)
      return rows[0]
    },

    /**
     * Takes one try before comparing, as a conditional UPDATE, so concurrent guesses cannot
     * exceed the limit. False when the code is used or already burnt.
     */
    async claimAttempt(id: number): Promise<boolean> {
      const result = await db
        .update(c)
        .set({ attempts: sql`${c.attempts} + 1` })
        .where(and(eq(c.id, id), isNull(c.usedAt), lt(c.attempts, MAX_ATTEMPTS)))
      return affectedRows(result) === 1
    },

    /** Gives a try back after a correct guess: only wrong tries count toward burning the code. */
    async releaseAttempt(id: number): Promise<void> {
      await db.update(c).set({ attempts: sql`${c.attempts} - 1` }).where(and(eq(c.id, id), gt(c.attempts, 0)))
    },

    /** Marks a code used; false when another request used it first. */
    async markUsed(id: number, now: Date): Promise<boolean> {
      const result = await db.update(c).set({ usedAt: now }).where(and(eq(c.id, id), isNull(c.usedAt)))
      return affectedRows(result) === 1
    },

    /** Deletes expired, used and burnt codes; returns how many. */
    async deleteStale(now: Date): Promise<number> {
      const result = await db.delete(c).where(or(lt(c.expiresAt, now), isNotNull(c.usedAt), gte(c.attempts, MAX_ATTEMPTS)))
      return affectedRows(result)
    },
  }
}

export type CodesRepository = ReturnType<typeof createCodesRepository>
