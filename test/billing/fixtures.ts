import { randomBytes } from 'node:crypto'
import { and, eq, sql } from 'drizzle-orm'
import type { FastifyInstance } from 'fastify'
import { insertedId } from '../../src/db/client.js'
import type { MeterOutcome, MeterRequest, RelayPrincipal } from '../../src/relay/seams.js'

/** A user with a starting grant, and one relay token of theirs, straight in the database. */
export async function makeUserWithToken(
  app: FastifyInstance,
  opts: { username?: string; quota: number; group?: string; tokenQuota?: number | null },
): Promise<{ principal: RelayPrincipal; userId: number; tokenId: number }> {
  const username = opts.username ?? `u${randomBytes(4).toString('hex')}`
  const userId = await app.usersRepo.create(
    { username, role: 'user', group: opts.group ?? 'default' },
    { quota: opts.quota, remark: 'test grant' },
  )
  return { userId, ...(await makeToken(app, { userId, quota: opts.quota, group: opts.group, tokenQuota: opts.tokenQuota })) }
}

/** A relay token of an existing user, and the principal the relay would build for it. */
export async function makeToken(
  app: FastifyInstance,
  opts: { userId: number; quota?: number; group?: string; tokenQuota?: number | null },
): Promise<{ principal: RelayPrincipal; tokenId: number }> {
  const { db, t } = app.db
  const limited = opts.tokenQuota !== undefined && opts.tokenQuota !== null
  const remainQuota = limited ? (opts.tokenQuota as number) : 0
  const tokenId = insertedId(
    await db.insert(t.tokens).values({
      userId: opts.userId,
      name: 'test',
      keyHash: randomBytes(32).toString('hex'),
      keyMask: 'sk-te...test',
      unlimitedQuota: !limited,
      remainQuota,
      models: [],
      allowIps: [],
    }),
  )
  const group = opts.group ?? 'default'
  const principal: RelayPrincipal = {
    personalApi: null,
    token: {
      id: tokenId, userId: opts.userId, name: 'test', status: 'enabled', expiresAt: null,
      unlimitedQuota: !limited, remainQuota, models: [], allowIps: [], group: null, rateLimitRpm: null,
    },
    user: { id: opts.userId, role: 'user', status: 'enabled', group, quota: opts.quota ?? 0 },
    group,
    pinnedChannelId: null,
  }
  return { principal, tokenId }
}

let seq = 0
export function meterRequest(principal: RelayPrincipal, model: string, over: Partial<MeterRequest> = {}): MeterRequest {
  return {
    requestId: `req-${++seq}`,
    principal,
    model,
    endpoint: '/v1/chat/completions',
    stream: false,
    promptTokensBound: 10,
    countPromptTokens: async () => 10,
    maxCompletionTokens: null,
    choices: 1,
    // A fixture request reserves its prompt and its `maxCompletionTokens` only, unless a test asks for the allowance.
    generates: false,
    ...over,
  }
}

export function delivered(prompt: number, completion: number, over: Partial<MeterOutcome> = {}): MeterOutcome {
  return {
    channelId: null,
    upstreamModel: null,
    status: 200,
    error: null,
    usage: { prompt_tokens: prompt, completion_tokens: completion },
    usageSource: 'upstream',
    delivered: true,
    latencyMs: 12,
    firstByteMs: 5,
    ...over,
  }
}

export const failed: MeterOutcome = {
  channelId: null,
  upstreamModel: null,
  status: 502,
  error: 'upstream failed',
  usage: null,
  usageSource: 'none',
  delivered: false,
  latencyMs: 3,
  firstByteMs: null,
}

/**
 * The ledger's view of a user: balances and the sums the invariants compare them with. Idle credit leases are
 * returned first (CONTRACT §4's invariants are stated for no request in flight and no lease outstanding);
 * `held` is what is still leased (a request in flight keeps its lease).
 */
export async function ledger(app: FastifyInstance, userId: number, opts: { keepLeases?: boolean } = {}) {
  if (!opts.keepLeases) await app.meter.quiesce()
  const { db, t } = app.db
  const [held] = await db
    .select({ amount: sql<string>`coalesce(sum(${t.quotaLeases.amount}), 0)` })
    .from(t.quotaLeases)
    .where(and(eq(t.quotaLeases.kind, 'user'), eq(t.quotaLeases.subjectId, userId)))
  const [user] = await db.select().from(t.users).where(eq(t.users.id, userId))
  const [logs] = await db
    .select({ quota: sql<string>`coalesce(sum(${t.usageLogs.quota}), 0)`, rows: sql<number>`count(*)` })
    .from(t.usageLogs)
    .where(eq(t.usageLogs.userId, userId))
  const [topups] = await db
    .select({ quota: sql<string>`coalesce(sum(${t.topups.quota}), 0)` })
    .from(t.topups)
    .where(eq(t.topups.userId, userId))
  return {
    quota: Number(user!.quota),
    usedQuota: Number(user!.usedQuota),
    requestCount: Number(user!.requestCount),
    logQuota: Number(logs!.quota),
    logRows: Number(logs!.rows),
    topups: Number(topups!.quota),
    held: Number(held!.amount),
  }
}

export async function tokenRow(app: FastifyInstance, tokenId: number) {
  const { db, t } = app.db
  const [token] = await db.select().from(t.tokens).where(eq(t.tokens.id, tokenId))
  return { remainQuota: Number(token!.remainQuota), usedQuota: Number(token!.usedQuota), requestCount: Number(token!.requestCount) }
}
