import { and, desc, eq, gte, lt, max, ne, sql, type SQL } from 'drizzle-orm'
import { affectedRows, insertedId, type Database } from '../db/client.js'

export type ConversationRow = Database['t']['conversations']['$inferSelect']
export type NewConversation = Database['t']['conversations']['$inferInsert']
export type MessageRow = Database['t']['messages']['$inferSelect']
type NewMessage = Database['t']['messages']['$inferInsert']

/** The conversation-level effects of one message, applied with its insert. */
export interface MessageEffects {
  at: Date
  /** Names a conversation still called "New chat" (the first user message does). */
  title?: string
  /** Added to `token_used` (an answer's prompt + completion tokens). */
  tokens?: number
}

/**
 * Chat's SQL. Every lookup is scoped to the owner. A message and its conversation's counters (`message_count`,
 * `token_used`, `updated_at`, the title) change in one transaction, once per dialect: better-sqlite3's is
 * synchronous, MySQL's async. Both lock the conversation row first, then touch messages, so a turn's write and a
 * concurrent DELETE never interleave (a turn whose conversation was deleted under it writes nothing).
 */
export function createChatRepository(database: Database) {
  const { db, t } = database
  const c = t.conversations
  const m = t.messages
  const owned = (id: number, userId: number) => and(eq(c.id, id), eq(c.userId, userId))

  /** The counters' update for one more message; no row (deleted, or not the user's) → nothing changes. */
  function bump(effects: MessageEffects) {
    return {
      messageCount: sql`${c.messageCount} + 1`,
      tokenUsed: sql`${c.tokenUsed} + ${effects.tokens ?? 0}`,
      updatedAt: effects.at,
      ...(effects.title === undefined
        ? {}
        : { title: sql`case when ${c.titlePending} then ${effects.title} else ${c.title} end`, titlePending: false }),
    }
  }

  return {
    async createConversation(row: NewConversation): Promise<number> {
      return insertedId(await db.insert(c).values(row))
    },

    async findConversation(id: number, userId: number): Promise<ConversationRow | undefined> {
      const rows = await db.select().from(c).where(owned(id, userId)).limit(1)
      return rows[0]
    },

    /** Most recently updated first; `keyword` matches part of the title, wildcards included literally. */
    async listConversations(query: { userId: number; keyword?: string; page: number; pageSize: number }): Promise<{ rows: ConversationRow[]; total: number }> {
      let where: SQL | undefined = eq(c.userId, query.userId)
      if (query.keyword) {
        // '!' escapes the wildcards: both dialects accept it (a backslash means different things in each).
        const pattern = `%${query.keyword.replace(/[!%_]/g, (ch) => `!${ch}`)}%`
        where = and(where, sql`${c.title} LIKE ${pattern} ESCAPE '!'`)
      }
      const [rows, counted] = await Promise.all([
        db
          .select()
          .from(c)
          .where(where)
          .orderBy(desc(c.updatedAt), desc(c.id))
          .limit(query.pageSize)
          .offset((query.page - 1) * query.pageSize),
        db.select({ n: sql<number>`count(*)` }).from(c).where(where),
      ])
      return { rows, total: Number(counted[0]?.n ?? 0) }
    },

    async updateConversation(id: number, userId: number, changes: Partial<NewConversation>): Promise<boolean> {
      return affectedRows(await db.update(c).set(changes).where(owned(id, userId))) > 0
    },

    /** The conversation and its messages, together; false when it is not the user's. */
    async deleteConversation(id: number, userId: number): Promise<boolean> {
      if (database.dialect === 'sqlite') {
        return database.sqlite.transaction((tx) => {
          if (tx.delete(c).where(owned(id, userId)).run().changes === 0) return false
          tx.delete(m).where(eq(m.conversationId, id)).run()
          return true
        })
      }
      const { mt } = database
      return database.mysql.transaction(async (tx) => {
        const removed = await tx.delete(mt.conversations).where(and(eq(mt.conversations.id, id), eq(mt.conversations.userId, userId)))
        if (affectedRows(removed) === 0) return false
        await tx.delete(mt.messages).where(eq(mt.messages.conversationId, id))
        return true
      })
    },

    /**
     * Inserts a message and applies its effects to the conversation, in one transaction. Null when the
     * conversation is gone (or not the message's user's): then nothing is written.
     */
    async appendMessage(message: NewMessage & { userId: number; conversationId: number }, effects: MessageEffects): Promise<number | null> {
      if (database.dialect === 'sqlite') {
        return database.sqlite.transaction((tx) => {
          const updated = tx.update(c).set(bump(effects)).where(owned(message.conversationId, message.userId)).run()
          if (updated.changes === 0) return null
          return insertedId(tx.insert(m).values(message).run())
        })
      }
      const { mt } = database
      return database.mysql.transaction(async (tx) => {
        const updated = await tx
          .update(mt.conversations)
          .set(bump(effects))
          .where(and(eq(mt.conversations.id, message.conversationId), eq(mt.conversations.userId, message.userId)))
        if (affectedRows(updated) === 0) return null
        return insertedId(await tx.insert(mt.messages).values(message))
      })
    },

    /** `limit` messages before `beforeId` (or the newest), newest first, and whether older ones exist. */
    async listMessages(conversationId: number, query: { limit: number; beforeId?: number }): Promise<{ rows: MessageRow[]; hasMore: boolean }> {
      const where = query.beforeId === undefined ? eq(m.conversationId, conversationId) : and(eq(m.conversationId, conversationId), lt(m.id, query.beforeId))
      const rows = await db.select().from(m).where(where).orderBy(desc(m.id)).limit(query.limit + 1)
      const hasMore = rows.length > query.limit
      return { rows: hasMore ? rows.slice(0, query.limit) : rows, hasMore }
    },

    /**
     * The messages a turn may carry as context, newest first: those since the conversation's last `clear_context`
     * message (that one included), failed answers left out, at most `limit`.
     */
    async contextMessages(conversationId: number, limit: number): Promise<Pick<MessageRow, 'id' | 'role' | 'content'>[]> {
      const marker = await db
        .select({ id: max(m.id) })
        .from(m)
        .where(and(eq(m.conversationId, conversationId), eq(m.clearContext, true)))
      const since = marker[0]?.id ?? null
      const where = and(eq(m.conversationId, conversationId), ne(m.status, 'error'), since === null ? undefined : gte(m.id, Number(since)))
      return db.select({ id: m.id, role: m.role, content: m.content }).from(m).where(where).orderBy(desc(m.id)).limit(limit)
    },
  }
}

export type ChatRepository = ReturnType<typeof createChatRepository>
