import { randomBytes } from 'node:crypto'
import { and, eq, sql } from 'drizzle-orm'
import type { FastifyInstance } from 'fastify'
import { bearer } from '../support/build-app.js'

/** A plain user straight in the database (no password hashing), and a session of theirs. */
export async function makeUser(app: FastifyInstance, quota = 0): Promise<{ id: number; session: string }> {
  const id = await app.usersRepo.create({ username: `u${randomBytes(5).toString('hex')}`, role: 'user' }, { quota, remark: 'test grant' })
  const { token } = await app.sessions.issue(id)
  return { id, session: token }
}

/** Mints codes as the admin; throws unless 201. */
export async function mintCodes(
  app: FastifyInstance,
  admin: string,
  body: { name?: string; amount_usd: number | string; count?: number; expires_at?: string | null },
): Promise<string[]> {
  const res = await app.inject({
    method: 'POST',
    url: '/api/redemption',
    headers: bearer(admin),
    payload: { name: 'test batch', count: 1, ...body },
  })
  if (res.statusCode !== 201) throw new Error(`mint failed: ${res.statusCode} ${res.body}`)
  return (res.json() as { codes: string[] }).codes
}

export function redeem(app: FastifyInstance, session: string, code: string) {
  return app.inject({ method: 'POST', url: '/api/user/self/redeem', headers: bearer(session), payload: { code } })
}

/** A user's balance and ledger, straight from the database. */
export async function ledgerOf(app: FastifyInstance, userId: number) {
  const { db, t } = app.db
  const [user] = await db.select().from(t.users).where(eq(t.users.id, userId))
  const [all] = await db
    .select({ quota: sql<string>`coalesce(sum(${t.topups.quota}), 0)` })
    .from(t.topups)
    .where(eq(t.topups.userId, userId))
  const redemptions = await db
    .select()
    .from(t.topups)
    .where(and(eq(t.topups.userId, userId), eq(t.topups.kind, 'redemption')))
  return { quota: Number(user!.quota), usedQuota: Number(user!.usedQuota), topups: Number(all!.quota), redemptions }
}
