import { and, desc, eq, isNull, or, sql, type AnyColumn, type SQL } from 'drizzle-orm'
import { insertedId, type Database } from '../db/client.js'
import { equalsIgnoringCase } from '../db/ignore-case.js'

export type UserRow = Database['t']['users']['$inferSelect']
export type NewUser = Database['t']['users']['$inferInsert']

/** Users' SQL. Rows whose `deletedAt` is set are invisible to every lookup here. */
export function createUsersRepository(database: Database) {
  const { db, t } = database
  const live = isNull(t.users.deletedAt)
  // Usernames and emails are unique ignoring case; every lookup by them ignores case too.
  const usernameIs = (username: string) => equalsIgnoringCase(database, t.users.username, username)
  const emailIs = (email: string) => equalsIgnoringCase(database, t.users.email, email)

  return {
    async findById(id: number): Promise<UserRow | undefined> {
      const rows = await db.select().from(t.users).where(and(eq(t.users.id, id), live)).limit(1)
      return rows[0]
    },

    async findByUsername(username: string): Promise<UserRow | undefined> {
      const rows = await db.select().from(t.users).where(and(usernameIs(username), live)).limit(1)
      return rows[0]
    },

    /** Login accepts a username or an email address, in any case. */
    async findByLogin(login: string): Promise<UserRow | undefined> {
      const rows = await db
        .select()
        .from(t.users)
        .where(and(or(usernameIs(login), emailIs(login)), live))
        .limit(1)
      return rows[0]
    },

    /** Taken ignoring case, by any user but `exceptId` (deleted users included: the index is global). */
    async usernameTaken(username: string, exceptId?: number): Promise<boolean> {
      const rows = await db.select({ id: t.users.id }).from(t.users).where(usernameIs(username)).limit(1)
      return rows.length > 0 && rows[0]!.id !== exceptId
    },

    async emailTaken(email: string, exceptId?: number): Promise<boolean> {
      const rows = await db.select({ id: t.users.id }).from(t.users).where(emailIs(email)).limit(1)
      return rows.length > 0 && rows[0]!.id !== exceptId
    },

    async countAdmins(): Promise<number> {
      const rows = await db
        .select({ n: sql<number>`count(*)` })
        .from(t.users)
        .where(and(eq(t.users.role, 'admin'), live))
      return Number(rows[0]?.n ?? 0)
    },

    /**
     * Creates a user; a starting quota is recorded as a `grant` ledger row in the same
     * transaction, so quota + used_quota always equals the sum of the ledger.
     */
    async create(user: NewUser, grant: { quota: number; remark: string }): Promise<number> {
      const quota = grant.quota
      const values = { ...user, quota }
      if (database.dialect === 'sqlite') {
        const tx = database.sqlite
        return tx.transaction((inner) => {
          const id = insertedId(inner.insert(t.users).values(values).run())
          if (quota > 0) inner.insert(t.topups).values({ userId: id, kind: 'grant', quota, remark: grant.remark }).run()
          return id
        })
      }
      const mt = database.mt
      return database.mysql.transaction(async (inner) => {
        const id = insertedId(await inner.insert(mt.users).values(values))
        if (quota > 0) await inner.insert(mt.topups).values({ userId: id, kind: 'grant', quota, remark: grant.remark })
        return id
      })
    },

    async update(id: number, changes: Partial<NewUser>): Promise<void> {
      await db.update(t.users).set(changes).where(eq(t.users.id, id))
    },

    /** Live users, newest first; `keyword` matches part of the username, email or external id. */
    async list(query: { keyword?: string; page: number; pageSize: number }): Promise<{ rows: UserRow[]; total: number }> {
      let where: SQL | undefined = live
      if (query.keyword) {
        // '!' escapes the wildcards: both dialects accept it (a backslash means different things in each).
        const pattern = `%${query.keyword.replace(/[!%_]/g, (ch) => `!${ch}`)}%`
        const matches = (column: AnyColumn) => sql`${column} LIKE ${pattern} ESCAPE '!'`
        where = and(live, or(matches(t.users.username), matches(t.users.email), matches(t.users.externalUserId)))
      }
      const [rows, counted] = await Promise.all([
        db
          .select()
          .from(t.users)
          .where(where)
          .orderBy(desc(t.users.id))
          .limit(query.pageSize)
          .offset((query.page - 1) * query.pageSize),
        db.select({ n: sql<number>`count(*)` }).from(t.users).where(where),
      ])
      return { rows, total: Number(counted[0]?.n ?? 0) }
    },

    /**
     * Soft delete: the row stays (usage logs and ledger keep pointing at it, the username and
     * email stay taken) but is invisible to every lookup, disabled, and its relay tokens are
     * disabled in the same transaction. Returns the ids of the tokens it disabled.
     */
    async softDelete(id: number, now: Date): Promise<number[]> {
      const userChanges = { deletedAt: now, status: 'disabled', updatedAt: now }
      const tokenChanges = { status: 'disabled', updatedAt: now }
      if (database.dialect === 'sqlite') {
        return database.sqlite.transaction((tx) => {
          tx.update(t.users).set(userChanges).where(and(eq(t.users.id, id), live)).run()
          const owned = tx.select({ id: t.tokens.id }).from(t.tokens).where(eq(t.tokens.userId, id)).all()
          tx.update(t.tokens).set(tokenChanges).where(eq(t.tokens.userId, id)).run()
          return owned.map((row) => row.id)
        })
      }
      const mt = database.mt
      return database.mysql.transaction(async (tx) => {
        await tx.update(mt.users).set(userChanges).where(and(eq(mt.users.id, id), isNull(mt.users.deletedAt)))
        const owned = await tx.select({ id: mt.tokens.id }).from(mt.tokens).where(eq(mt.tokens.userId, id)).for('update')
        await tx.update(mt.tokens).set(tokenChanges).where(eq(mt.tokens.userId, id))
        return owned.map((row) => row.id)
      })
    },
  }
}

export type UsersRepository = ReturnType<typeof createUsersRepository>
