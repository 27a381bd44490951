import type { FastifyBaseLogger } from 'fastify'
import type { Cache } from '../cache/cache.js'
import type { Clock } from '../clock.js'
import { errors } from '../errors.js'
import { INVALIDATE, type RelayKeys, type RelayPrincipal, type RelayToken, type RelayUser } from '../relay/seams.js'
import { compileAllowList, type AllowList } from '../security/ip-allow.js'
import { hashRelayKey } from '../security/secrets.js'
import type { UserRow } from '../users/repository.js'
import type { TokenRow, TokensRepository } from './repository.js'
import { assertWithinRateLimit } from './rate-limit.js'

/** A bound on memory whatever the number of keys in use; the least recently used go first. */
const MAX_ENTRIES = 10_000
/** Invalidation is the real mechanism; this only bounds how long a lost message could matter. */
const ENTRY_TTL_MS = 60_000
/** accessed_at is written at most this often per token, in one batched statement. */
const ACCESS_FLUSH_MS = 60_000

// 'sk-' + 48 key characters, optionally '-<channel id>' (CONTRACT §3: pins a channel for admins' tokens).
const BEARER = /^Bearer\s+(sk-[A-Za-z0-9]{48})(?:-(\d{1,10}))?\s*$/i

interface Entry {
  token: RelayToken
  /** null: the owner no longer exists. */
  user: RelayUser | null
  allow: AllowList
  cachedAt: number
}

export interface RelayKeysDeps {
  repo: TokensRepository
  cache: Cache
  clock: Clock
  log: FastifyBaseLogger
}

function toRelayToken(row: TokenRow): RelayToken {
  return {
    id: row.id,
    userId: row.userId,
    name: row.name,
    status: row.status,
    expiresAt: row.expiresAt ? row.expiresAt.getTime() : null,
    unlimitedQuota: Boolean(row.unlimitedQuota),
    remainQuota: Number(row.remainQuota),
    models: row.models,
    allowIps: row.allowIps,
    group: row.group ?? null,
    rateLimitRpm: row.rateLimitRpm ?? null,
  }
}

function toRelayUser(row: UserRow): RelayUser {
  return { id: row.id, role: row.role, status: row.status, group: row.group, quota: Number(row.quota) }
}

const invalidKey = () => errors.unauthorized('invalid_api_key', 'Incorrect API key provided. Send Authorization: Bearer sk-...')

/**
 * Relay key → token + user, from memory when warm (no database read), from one joined query when cold.
 * Entries are dropped by `invalidate:token` / `invalidate:user` messages from any instance.
 */
export class CachedRelayKeys implements RelayKeys {
  private readonly entries = new Map<string, Entry>()
  private readonly loading = new Map<string, Promise<Entry | null>>()
  /** Bumped by every invalidation, so a lookup that raced one does not cache what it read before it. */
  private generation = 0
  /** Tokens used since the last flush; a Set, so a busy token still costs one row update per minute. */
  private readonly accessed = new Set<number>()
  private readonly flushTimer: NodeJS.Timeout

  constructor(private readonly deps: RelayKeysDeps) {
    this.flushTimer = setInterval(() => void this.flushAccessed(), ACCESS_FLUSH_MS)
    this.flushTimer.unref()
  }

  async subscribe(): Promise<void> {
    await this.deps.cache.subscribe(INVALIDATE.token, (message) => this.dropToken(Number(message)))
    await this.deps.cache.subscribe(INVALIDATE.user, (message) => this.dropUser(Number(message)))
  }

  async authenticate(authorization: string | undefined, clientIp: string): Promise<RelayPrincipal> {
    const match = BEARER.exec(authorization ?? '')
    if (!match) throw invalidKey()
    const entry = await this.lookup(hashRelayKey(match[1]!))
    if (!entry) throw invalidKey()
    const { token, user } = entry

    if (token.status !== 'enabled') throw errors.unauthorized('token_disabled', 'this API key is disabled')
    if (token.expiresAt !== null && token.expiresAt <= this.deps.clock.now()) {
      throw errors.unauthorized('token_expired', 'this API key has expired')
    }
    if (!token.unlimitedQuota && token.remainQuota <= 0) throw errors.insufficientQuota("this API key's quota is used up")
    if (!entry.allow.allows(clientIp)) throw errors.forbidden('ip_not_allowed', 'this API key may not be used from your IP address')
    if (!user || user.status !== 'enabled') throw errors.forbidden('user_disabled', 'the account owning this API key is disabled')
    if (user.quota <= 0) throw errors.insufficientQuota('your quota is used up; top up to continue')
    await assertWithinRateLimit(this.deps.cache, this.deps.clock, this.deps.log, token)

    this.accessed.add(token.id)
    const pinned = match[2] !== undefined && user.role === 'admin' ? Number(match[2]) : null
    return { token, user, group: token.group ?? user.group, pinnedChannelId: pinned }
  }

  assertModelAllowed(principal: RelayPrincipal, model: string): void {
    const allowed = principal.token.models
    if (allowed.length > 0 && !allowed.includes(model)) {
      throw errors.forbidden('model_not_allowed', `this API key may not use the model '${model}'`)
    }
  }

  /** Drops every cached entry of the token. */
  dropToken(tokenId: number): void {
    this.generation += 1
    for (const [hash, entry] of this.entries) if (entry.token.id === tokenId) this.entries.delete(hash)
  }

  /** Drops every cached entry of the user's tokens. */
  dropUser(userId: number): void {
    this.generation += 1
    for (const [hash, entry] of this.entries) if (entry.token.userId === userId) this.entries.delete(hash)
  }

  async close(): Promise<void> {
    clearInterval(this.flushTimer)
    await this.flushAccessed()
  }

  private async lookup(keyHash: string): Promise<Entry | null> {
    const now = this.deps.clock.now()
    const cached = this.entries.get(keyHash)
    if (cached && now - cached.cachedAt < ENTRY_TTL_MS && cached.cachedAt <= now) {
      // Re-insert: Map order is the LRU order.
      this.entries.delete(keyHash)
      this.entries.set(keyHash, cached)
      return cached
    }
    // Concurrent first requests with one key share one query.
    const pending = this.loading.get(keyHash)
    if (pending) return pending
    const load = this.load(keyHash).finally(() => this.loading.delete(keyHash))
    this.loading.set(keyHash, load)
    return load
  }

  private async load(keyHash: string): Promise<Entry | null> {
    const generation = this.generation
    const found = await this.deps.repo.findByKeyHash(keyHash)
    // Unknown keys are not remembered: a key created a moment later must work at once.
    if (!found) {
      this.entries.delete(keyHash)
      return null
    }
    let allow: AllowList
    try {
      allow = compileAllowList(found.token.allowIps)
    } catch {
      // Entries are validated on write; an unreadable list must fail closed, not open.
      allow = { allows: () => false }
    }
    const entry: Entry = {
      token: toRelayToken(found.token),
      user: found.user ? toRelayUser(found.user) : null,
      allow,
      cachedAt: this.deps.clock.now(),
    }
    if (generation === this.generation) {
      this.entries.set(keyHash, entry)
      if (this.entries.size > MAX_ENTRIES) {
        const oldest = this.entries.keys().next().value
        if (oldest !== undefined) this.entries.delete(oldest)
      }
    }
    return entry
  }


  private async flushAccessed(): Promise<void> {
    if (this.accessed.size === 0) return
    const ids = [...this.accessed]
    this.accessed.clear()
    try {
      await this.deps.repo.touchAccessed(ids, new Date(this.deps.clock.now()))
    } catch (err) {
      this.deps.log.warn({ err }, 'cannot record token access times')
    }
  }
}
