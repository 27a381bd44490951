import type { FastifyBaseLogger } from 'fastify'
import type { Cache } from '../cache/cache.js'
import type { Clock } from '../clock.js'
import { errors } from '../errors.js'
import { INVALIDATE } from '../relay/seams.js'
import { generateRelayKey, hashRelayKey, maskSecret } from '../security/secrets.js'
import { isValidIpOrCidr } from '../security/ip-allow.js'
import type { UserRow } from '../users/repository.js'
import type { NewToken, TokenRow, TokensRepository } from './repository.js'
import { tokenView, type TokenView } from './view.js'

const DAY_MS = 86_400_000
const DEFAULT_LIFETIME_MS = 365 * DAY_MS

/** What a token is made of, in domain terms; REST bodies and the partner API both map onto it. */
export interface TokenInput {
  name?: string
  /** null = never expires; undefined = `expiresInDays`, else one year from now. */
  expiresAt?: Date | null
  expiresInDays?: number
  unlimitedQuota?: boolean
  remainQuota?: number
  models?: string[]
  allowIps?: string[]
  /** null = the owner's group at request time. */
  group?: string | null
  /** Requests per minute; null = no limit. */
  rateLimitRpm?: number | null
  /** Bound to one of the owner's personal APIs (CONTRACT §7); null = unbound. */
  personalApiId?: number | null
}

export interface TokenChanges extends Omit<TokenInput, 'expiresInDays'> {
  status?: 'enabled' | 'disabled'
}

export interface CreatedToken {
  /** The view, with `key` holding the whole key. */
  token: TokenView
  /** The whole key: shown this once, never stored. */
  key: string
}

export interface TokenList {
  data: TokenView[]
  total: number
  page: number
  page_size: number
}

export interface TokensServiceDeps {
  repo: TokensRepository
  cache: Cache
  clock: Clock
  log: FastifyBaseLogger
  /** Checks that a personal API exists and is the token owner's (404 otherwise); absent = binding refused. */
  personalApis?: { assertOwned(userId: number, id: number): Promise<void> }
}

function checkAllowIps(entries: string[] | undefined): string[] | undefined {
  if (entries === undefined) return undefined
  const cleaned = entries.map((e) => e.trim())
  const invalid = cleaned.find((e) => !isValidIpOrCidr(e))
  if (invalid !== undefined) {
    throw errors.invalidRequest(`allow_ips: ${JSON.stringify(invalid)} is not an IPv4/IPv6 address or CIDR`, 'allow_ips')
  }
  return [...new Set(cleaned)]
}

function checkName(name: string): string {
  const trimmed = name.trim()
  if (!trimmed) throw errors.invalidRequest('name must not be blank', 'name')
  return trimmed
}

export function createTokensService(deps: TokensServiceDeps) {
  const { repo, cache, clock, log } = deps
  const isAdmin = (user: UserRow) => user.role === 'admin'

  async function publish(id: number): Promise<void> {
    try {
      await cache.publish(INVALIDATE.token, String(id))
    } catch (err) {
      // Other instances fall back on their cache TTL.
      log.error({ err, token_id: id }, 'cannot publish token invalidation')
    }
  }

  /** Another user's token answers exactly like a missing one. */
  async function visible(actor: UserRow, id: number): Promise<TokenRow> {
    const row = await repo.findById(id)
    if (!row || (row.userId !== actor.id && !isAdmin(actor))) throw errors.notFound('token')
    return row
  }

  /**
   * A token's group picks its channels, and groups may be priced differently, so a user may only name
   * the group they are in (or none); admins may name any.
   */
  function assertGroupAllowed(actor: UserRow, group: string | null | undefined): void {
    if (group === undefined || group === null || isAdmin(actor) || group === actor.group) return
    throw errors.forbidden('group_not_allowed', `you may only use your own group ('${actor.group}')`)
  }

  /** A key may be bound only to a personal API of its own owner (anyone else's answers as missing: 404). */
  async function checkPersonalApi(ownerId: number, id: number | null | undefined): Promise<void> {
    if (id === undefined || id === null) return
    if (!deps.personalApis) throw errors.invalidRequest('personal APIs are not available', 'personal_api_id')
    await deps.personalApis.assertOwned(ownerId, id)
  }

  return {
    assertGroupAllowed,

    /** Mints a key for `userId` (no permission checks: callers decide who may). */
    async create(userId: number, input: TokenInput): Promise<CreatedToken> {
      await checkPersonalApi(userId, input.personalApiId)
      const now = clock.now()
      const key = generateRelayKey()
      let expiresAt: Date | null
      if (input.expiresAt !== undefined) expiresAt = input.expiresAt
      else if (input.expiresInDays !== undefined) expiresAt = new Date(now + input.expiresInDays * DAY_MS)
      else expiresAt = new Date(now + DEFAULT_LIFETIME_MS)
      const id = await repo.create({
        userId,
        name: checkName(input.name ?? 'default'),
        keyHash: hashRelayKey(key),
        keyMask: maskSecret(key),
        status: 'enabled',
        expiresAt,
        unlimitedQuota: input.unlimitedQuota ?? true,
        remainQuota: input.remainQuota ?? 0,
        models: input.models ?? [],
        allowIps: checkAllowIps(input.allowIps) ?? [],
        group: input.group ?? null,
        rateLimitRpm: input.rateLimitRpm ?? null,
        personalApiId: input.personalApiId ?? null,
        createdAt: new Date(now),
        updatedAt: new Date(now),
      })
      await publish(id)
      const row = await repo.findById(id)
      if (!row) throw errors.internal()
      return { token: { ...tokenView(row, clock.now()), key }, key }
    },

    /** A user's own tokens; an admin's view of everyone's, or of one user's with `userId`. */
    async list(actor: UserRow, query: { userId?: number; page: number; pageSize: number }): Promise<TokenList> {
      const userId = isAdmin(actor) ? query.userId : actor.id
      const { rows, total } = await repo.list({ userId }, query.page, query.pageSize)
      const now = clock.now()
      return { data: rows.map((r) => tokenView(r, now)), total, page: query.page, page_size: query.pageSize }
    },

    async get(actor: UserRow, id: number): Promise<TokenView> {
      return tokenView(await visible(actor, id), clock.now())
    },

    async update(actor: UserRow, id: number, input: TokenChanges): Promise<TokenView> {
      const current = await visible(actor, id)
      assertGroupAllowed(actor, input.group)
      await checkPersonalApi(current.userId, input.personalApiId)
      const changes: Partial<NewToken> = { updatedAt: new Date(clock.now()) }
      if (input.name !== undefined) changes.name = checkName(input.name)
      if (input.expiresAt !== undefined) changes.expiresAt = input.expiresAt
      if (input.unlimitedQuota !== undefined) changes.unlimitedQuota = input.unlimitedQuota
      if (input.remainQuota !== undefined) changes.remainQuota = input.remainQuota
      if (input.models !== undefined) changes.models = input.models
      if (input.allowIps !== undefined) changes.allowIps = checkAllowIps(input.allowIps)
      if (input.group !== undefined) changes.group = input.group
      if (input.rateLimitRpm !== undefined) changes.rateLimitRpm = input.rateLimitRpm
      if (input.status !== undefined) changes.status = input.status
      if (input.personalApiId !== undefined) changes.personalApiId = input.personalApiId
      await repo.update(id, changes)
      await publish(id)
      return tokenView(await visible(actor, id), clock.now())
    },

    async remove(actor: UserRow, id: number): Promise<void> {
      await visible(actor, id)
      const now = new Date(clock.now())
      await repo.update(id, { deletedAt: now, updatedAt: now })
      await publish(id)
    },
  }
}

export type TokensService = ReturnType<typeof createTokensService>
