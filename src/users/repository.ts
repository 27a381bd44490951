import { and, eq, isNull, or, sql } from 'drizzle-orm'
import { insertedId, type Database } from '../db/client.js'

export type UserRow = Database['t']['users']['$inferSelect']
export type NewUser = Database['t']['users']['$inferInsert']

/** Users' SQL. Rows whose `deletedAt` is set are invisible to every lookup here. */
export function createUsersRepository(database: Database) {
  const { db, t } = database
  const live = isNull(t.users.deletedAt)

  return {
    async findById(id: number): Promise<UserRow | undefined> {
      const rows = await db.select().from(t.users).where(and(eq(t.users.id, id), live)).limit(1)
      return rows[0]
    },

    async findByUsername(username: string): Promise<UserRow | undefined> {
      const rows = await db.select().from(t.users).where(and(eq(t.users.username, username), live)).limit(1)
      return rows[0]
    },

    /** Login accepts a username or an email address. */
    async findByLogin(login: string): Promise<UserRow | undefined> {
      const rows = await db
        .select()
        .from(t.users)
        .where(and(or(eq(t.users.username, login), eq(t.users.email, login)), live))
        .limit(1)
      return rows[0]
    },

    async usernameTaken(username: string, exceptId?: number): Promise<boolean> {
      const rows = await db.select({ id: t.users.id }).from(t.users).where(eq(t.users.username, username)).limit(1)
      return rows.length > 0 && rows[0]!.id !== exceptId
    },

    async emailTaken(email: string, exceptId?: number): Promise<boolean> {
      const rows = await db.select({ id: t.users.id }).from(t.users).where(eq(t.users.email, email)).limit(1)
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
  }
}

export type UsersRepository = ReturnType<typeof createUsersRepository>
