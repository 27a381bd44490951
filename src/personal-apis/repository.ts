import { and, asc, eq, min, sql } from 'drizzle-orm'
import { affectedRows, insertedId, type Database } from '../db/client.js'
import type { UniqueIndex } from '../db/unique-violation.js'

export type PersonalApiRow = Database['t']['personalApis']['$inferSelect']
export type NewPersonalApi = Database['t']['personalApis']['$inferInsert']

/** One user may not hold two personal APIs of the same name (names compare exactly, in both dialects). */
export const NAME_UNIQUE: UniqueIndex = { name: 'personal_apis_user_name_uq', column: 'personal_apis.name' }

/**
 * Personal APIs' SQL. Every lookup but `findById` (the relay's, which checks the owner itself) is scoped to
 * the owner: another user's row is simply not found.
 */
export function createPersonalApisRepository(database: Database) {
  const { db, t } = database
  const pa = t.personalApis
  const owned = (userId: number, id: number) => and(eq(pa.id, id), eq(pa.userId, userId))

  return {
    async create(row: NewPersonalApi): Promise<number> {
      return insertedId(await db.insert(pa).values(row))
    },

    async findById(id: number): Promise<PersonalApiRow | undefined> {
      const rows = await db.select().from(pa).where(eq(pa.id, id)).limit(1)
      return rows[0]
    },

    async findOwned(userId: number, id: number): Promise<PersonalApiRow | undefined> {
      const rows = await db.select().from(pa).where(owned(userId, id)).limit(1)
      return rows[0]
    },

    /** The owner's, oldest first; `name` narrows to that exact name. */
    async list(userId: number, filter: { name?: string }, page: number, pageSize: number): Promise<{ rows: PersonalApiRow[]; total: number }> {
      const where = filter.name === undefined ? eq(pa.userId, userId) : and(eq(pa.userId, userId), eq(pa.name, filter.name))
      const rows = await db
        .select()
        .from(pa)
        .where(where)
        .orderBy(asc(pa.id))
        .limit(pageSize)
        .offset((page - 1) * pageSize)
      const count = await db.select({ n: sql<number>`count(*)` }).from(pa).where(where)
      return { rows, total: Number(count[0]?.n ?? 0) }
    },

    /** The id of the owner's oldest personal API (their default), if they have any. */
    async firstId(userId: number): Promise<number | undefined> {
      const rows = await db.select({ id: min(pa.id) }).from(pa).where(eq(pa.userId, userId))
      const id = rows[0]?.id
      return id === null || id === undefined ? undefined : Number(id)
    },

    async update(userId: number, id: number, changes: Partial<NewPersonalApi>): Promise<void> {
      await db.update(pa).set(changes).where(owned(userId, id))
    },

    /** True when the row existed (and belonged to the user). */
    async remove(userId: number, id: number): Promise<boolean> {
      return affectedRows(await db.delete(pa).where(owned(userId, id))) > 0
    },
  }
}

export type PersonalApisRepository = ReturnType<typeof createPersonalApisRepository>
