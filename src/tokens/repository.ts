import { and, desc, eq, inArray, isNull, sql } from 'drizzle-orm'
import { insertedId, type Database } from '../db/client.js'
import type { UserRow } from '../users/repository.js'

export type TokenRow = Database['t']['tokens']['$inferSelect']
export type NewToken = Database['t']['tokens']['$inferInsert']

/** A live token and its owner; `user` is null when the owner was deleted. */
export interface TokenWithUser {
  token: TokenRow
  user: UserRow | null
}

/** Tokens' SQL. Soft-deleted tokens (`deletedAt` set) are invisible to every lookup here. */
export function createTokensRepository(database: Database) {
  const { db, t } = database
  const live = isNull(t.tokens.deletedAt)

  return {
    async create(token: NewToken): Promise<number> {
      return insertedId(await db.insert(t.tokens).values(token))
    },

    async findById(id: number): Promise<TokenRow | undefined> {
      const rows = await db.select().from(t.tokens).where(and(eq(t.tokens.id, id), live)).limit(1)
      return rows[0]
    },

    async list(filter: { userId?: number }, page: number, pageSize: number): Promise<{ rows: TokenRow[]; total: number }> {
      const where = filter.userId === undefined ? live : and(live, eq(t.tokens.userId, filter.userId))
      const rows = await db
        .select()
        .from(t.tokens)
        .where(where)
        .orderBy(desc(t.tokens.id))
        .limit(pageSize)
        .offset((page - 1) * pageSize)
      const count = await db.select({ n: sql<number>`count(*)` }).from(t.tokens).where(where)
      return { rows, total: Number(count[0]?.n ?? 0) }
    },

    async update(id: number, changes: Partial<NewToken>): Promise<void> {
      await db.update(t.tokens).set(changes).where(eq(t.tokens.id, id))
    },

    /** The relay's cold path: one query for the token and its owner (the owner's row even when soft-deleted). */
    async findByKeyHash(keyHash: string): Promise<TokenWithUser | undefined> {
      const rows = await db
        .select({ token: t.tokens, user: t.users })
        .from(t.tokens)
        .leftJoin(t.users, eq(t.users.id, t.tokens.userId))
        .where(and(eq(t.tokens.keyHash, keyHash), live))
        .limit(1)
      const row = rows[0]
      if (!row) return undefined
      return { token: row.token, user: row.user && !row.user.deletedAt ? row.user : null }
    },

    /** One statement for a whole batch of recently used tokens. */
    async touchAccessed(ids: number[], at: Date): Promise<void> {
      if (ids.length === 0) return
      await db.update(t.tokens).set({ accessedAt: at }).where(inArray(t.tokens.id, ids))
    },
  }
}

export type TokensRepository = ReturnType<typeof createTokensRepository>
