import { asc, eq, sql } from 'drizzle-orm'
import { affectedRows, insertedId, type Database } from '../db/client.js'

export type ChannelRow = Database['t']['channels']['$inferSelect']
export type NewChannel = Database['t']['channels']['$inferInsert']

/** Channels' SQL. The pool reads every enabled channel in one query; the admin routes page through all. */
export function createChannelsRepository(database: Database) {
  const { db, t } = database

  return {
    async findById(id: number): Promise<ChannelRow | undefined> {
      const rows = await db.select().from(t.channels).where(eq(t.channels.id, id)).limit(1)
      return rows[0]
    },

    async list(page: number, pageSize: number): Promise<{ rows: ChannelRow[]; total: number }> {
      const rows = await db
        .select()
        .from(t.channels)
        .orderBy(asc(t.channels.id))
        .limit(pageSize)
        .offset((page - 1) * pageSize)
      const count = await db.select({ n: sql<number>`count(*)` }).from(t.channels)
      return { rows, total: Number(count[0]?.n ?? 0) }
    },

    async listEnabled(): Promise<ChannelRow[]> {
      return db.select().from(t.channels).where(eq(t.channels.status, 'enabled')).orderBy(asc(t.channels.id))
    },

    /** Channels in one status, least recently updated first (the probe of auto-disabled channels). */
    async listByStatus(status: string, limit: number): Promise<ChannelRow[]> {
      return db.select().from(t.channels).where(eq(t.channels.status, status)).orderBy(asc(t.channels.updatedAt), asc(t.channels.id)).limit(limit)
    },

    async create(channel: NewChannel): Promise<number> {
      return insertedId(await db.insert(t.channels).values(channel))
    },

    // No affected-rows answer: MySQL counts only rows that actually changed, so callers check existence first.
    async update(id: number, changes: Partial<NewChannel>): Promise<void> {
      await db.update(t.channels).set(changes).where(eq(t.channels.id, id))
    },

    async remove(id: number): Promise<boolean> {
      return affectedRows(await db.delete(t.channels).where(eq(t.channels.id, id))) > 0
    },
  }
}

export type ChannelsRepository = ReturnType<typeof createChannelsRepository>
