import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyBaseLogger } from 'fastify'
import type { Cache } from '../cache/cache.js'
import type { Clock } from '../clock.js'
import { errors } from '../errors.js'
import { INVALIDATE, type PersonalApiTarget, type RelayKeys, type RelayPrincipal, type RelayToken, type RelayUser } from '../relay/seams.js'
import { compileAllowList, type AllowList } from '../security/ip-allow.js'
import { hashRelayKey } from '../security/secrets.js'
import type { UserRow } from '../users/repository.js'
import type { TokenRow, TokensRepository } from './repository.js'
import { assertWithinRateLimit } from './rate-limit.js'
import { SharedKeys, type SharedRecord } from './shared-keys.js'

/** Known keys held in memory, whatever the number in use; the least recently used go first. */
const MAX_ENTRIES = 10_000
/**
 * How long what was read from the database is used, across both tiers. Invalidation is the real
 * mechanism; this only bounds how long a lost message could matter.
 */
const ENTRY_TTL_MS = 60_000
/** In an entry's last seconds, one request refreshes it in the background while the others keep using it. */
const REFRESH_AHEAD_MS = 6_000
/** Keys that matched nothing, refused without a lookup for a while: a retry loop costs no database read. */
const MAX_UNKNOWN = 1_000
const UNKNOWN_TTL_MS = 5_000
/**
 * After an invalidation, the shared records of that token or user are not trusted for this long: another
 * instance may have written what it read just before the change and not yet have had the message that makes
 * it delete that write. Long enough for a pub/sub message to reach every instance.
 */
const INVALIDATION_GRACE_MS = 2_000
/** The claim one instance holds while it reads the database for a key (expires if it dies mid-read). */
const LOAD_CLAIM_MS = 2_000
/** How long other instances wait for that read's record before reading the database themselves. */
const LOAD_WAIT_MS = 1_000
/** At most one warning per this long while the shared tier is down. */
const SHARED_WARN_EVERY_MS = 10_000
/** accessed_at is written at most this often per token, in one batched statement. */
const ACCESS_FLUSH_MS = 60_000

// 'sk-' + 48 key characters, optionally '-<channel id>' (CONTRACT §3: pins a channel for admins' tokens).
const BEARER = /^Bearer\s+(sk-[A-Za-z0-9]{48})(?:-(\d{1,10}))?\s*$/i

interface Entry {
  token: RelayToken
  /** null: the owner no longer exists. */
  user: RelayUser | null
  allow: AllowList
  /**
   * The personal API the key is bound to, decrypted (CONTRACT §7): resolved once per fill by this instance and
   * kept in its memory only — the shared tier holds just `token.personalApiId`, never a decrypted key.
   */
  personalApi: BoundApi
  /** When the data was read from the database (app clock): it ages across both tiers. */
  loadedAt: number
  /** When this process cached it, by its own clock (a clock set back invalidates it). */
  cachedAt: number
  expiresAt: number
  refreshAt: number
}

/** Where lookups were answered; for tests, metrics and the curious. */
export interface RelayKeyStats {
  memoryHits: number
  sharedHits: number
  databaseReads: number
  /** Refused from the unknown-key memory, with no lookup at all. */
  unknownHits: number
  sharedErrors: number
}

/** A key bound to no personal API, to one (decrypted), or to one that no longer exists or is not its owner's. */
type BoundApi = { kind: 'none' } | { kind: 'target'; target: PersonalApiTarget } | { kind: 'missing' }
const NOT_BOUND: BoundApi = { kind: 'none' }

/** How relay keys find the personal API a key is bound to (src/personal-apis); null when gone or not the user's. */
export interface PersonalApiResolver {
  resolveTarget(userId: number, id: number): Promise<PersonalApiTarget | null>
}

type SharedRead = { kind: 'hit'; record: SharedRecord } | { kind: 'miss' } | { kind: 'bypass' }
const MISS: SharedRead = { kind: 'miss' }
const BYPASS: SharedRead = { kind: 'bypass' }

export interface RelayKeysDeps {
  repo: TokensRepository
  cache: Cache
  clock: Clock
  log: FastifyBaseLogger
  /** Absent: a key bound to a personal API is refused as if its personal API were gone. */
  personalApis?: PersonalApiResolver
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
    personalApiId: row.personalApiId ?? null,
  }
}

function toRelayUser(row: UserRow): RelayUser {
  return { id: row.id, role: row.role, status: row.status, group: row.group, quota: Number(row.quota) }
}

const invalidKey = () => errors.unauthorized('invalid_api_key', 'Incorrect API key provided. Send Authorization: Bearer sk-...')

/**
 * Relay key → token + user, in three tiers:
 * 1. this process's memory, by the key as presented: a warm key costs one Map lookup (no hash, no I/O);
 * 2. the shared cache (`SharedKeys`: Redis when configured), filled by whichever instance read the database;
 * 3. the database, one joined query — at most one at a time per key in this process (single flight), and
 *    across instances only one while a claim in the shared cache is held; the others wait for its record.
 * `invalidate:token` / `invalidate:user` messages from any instance drop the entries of both tiers: every
 * instance deletes the shared records when the message arrives (the publisher included, so every publisher
 * is covered, whichever service it is), and distrusts them for INVALIDATION_GRACE_MS.
 */
export class CachedRelayKeys implements RelayKeys {
  /**
   * Presented key → entry, in LRU order (Map order). Holding whole key strings in this process's memory
   * (up to MAX_ENTRIES) is the price of not hashing a warm key on every request, and an acceptable one:
   * they are the keys clients are sending this process anyway, and they never leave it — never logged,
   * never written to the shared tier, which knows only their hashes.
   */
  private readonly entries = new Map<string, Entry>()
  /** Presented keys that matched no token → until when (performance.now) they are refused outright. Bounded LRU. */
  private readonly unknown = new Map<string, number>()
  /** One lookup per key at a time, however many requests present it. */
  private readonly loading = new Map<string, Promise<Entry | null>>()
  /** Token / user ids invalidated moments ago → until when (performance.now) their shared records are not used. */
  private readonly suspectTokens = new Map<number, number>()
  private readonly suspectUsers = new Map<number, number>()
  /** Bumped by every invalidation, so a lookup that raced one caches (and shares) nothing it read before it. */
  private generation = 0
  private readonly shared: SharedKeys
  private lastSharedWarning = -Infinity
  /** Tokens used since the last flush; a Set, so a busy token still costs one row update per minute. */
  private readonly accessed = new Set<number>()
  private readonly flushTimer: NodeJS.Timeout
  readonly stats: RelayKeyStats = { memoryHits: 0, sharedHits: 0, databaseReads: 0, unknownHits: 0, sharedErrors: 0 }

  constructor(private readonly deps: RelayKeysDeps) {
    this.shared = new SharedKeys(deps.cache, ENTRY_TTL_MS, LOAD_CLAIM_MS)
    this.flushTimer = setInterval(() => void this.flushAccessed(), ACCESS_FLUSH_MS)
    this.flushTimer.unref()
  }

  async subscribe(): Promise<void> {
    await this.deps.cache.subscribe(INVALIDATE.token, (message) => this.dropToken(Number(message)))
    await this.deps.cache.subscribe(INVALIDATE.user, (message) => this.dropUser(Number(message)))
    await this.deps.cache.subscribe(INVALIDATE.personalApi, (message) => this.dropPersonalApi(Number(message)))
  }

  async authenticate(authorization: string | undefined, clientIp: string): Promise<RelayPrincipal> {
    const match = BEARER.exec(authorization ?? '')
    if (!match) throw invalidKey()
    const key = match[1]!
    const entry = this.warm(key) ?? (await this.resolve(key))
    if (!entry) throw invalidKey()
    const { token, user } = entry
    // A key bound to a personal API costs nothing (the user pays their provider): no quota of ours gates it.
    const bound = entry.personalApi
    const free = bound.kind !== 'none'

    if (token.status !== 'enabled') throw errors.unauthorized('token_disabled', 'this API key is disabled')
    if (token.expiresAt !== null && token.expiresAt <= this.deps.clock.now()) {
      throw errors.unauthorized('token_expired', 'this API key has expired')
    }
    if (!free && !token.unlimitedQuota && token.remainQuota <= 0) throw errors.insufficientQuota("this API key's quota is used up")
    if (!entry.allow.allows(clientIp)) throw errors.forbidden('ip_not_allowed', 'this API key may not be used from your IP address')
    if (!user || user.status !== 'enabled') throw errors.forbidden('user_disabled', 'the account owning this API key is disabled')
    if (!free && user.quota <= 0) throw errors.insufficientQuota('your quota is used up; top up to continue')
    // Never a silent fallback to the gateway's (paid) channels when the bound personal API is gone.
    if (bound.kind === 'missing') {
      throw errors.forbidden('personal_api_not_found', "this API key's personal API was deleted: bind the key to another one (PATCH /api/token/{id} personal_api_id) or to none")
    }
    await assertWithinRateLimit(this.deps.cache, this.deps.clock, this.deps.log, token)

    this.accessed.add(token.id)
    const pinned = match[2] !== undefined && user.role === 'admin' ? Number(match[2]) : null
    const personalApi = bound.kind === 'target' ? bound.target : null
    return { token, user, group: token.group ?? user.group, pinnedChannelId: pinned, personalApi }
  }

  assertModelAllowed(principal: RelayPrincipal, model: string): void {
    const allowed = principal.token.models
    if (allowed.length > 0 && !allowed.includes(model)) {
      throw errors.forbidden('model_not_allowed', `this API key may not use the model '${model}'`)
    }
  }

  /** Drops the token from both tiers. */
  dropToken(tokenId: number): void {
    this.generation += 1
    this.suspectTokens.set(tokenId, performance.now() + INVALIDATION_GRACE_MS)
    prune(this.suspectTokens)
    for (const [key, entry] of this.entries) if (entry.token.id === tokenId) this.entries.delete(key)
    // A token was created or changed: a key refused a moment ago may be valid now.
    this.unknown.clear()
    this.shared.forgetToken(tokenId).catch((err: unknown) => this.sharedFailed(err))
  }

  /** Drops the user's part of every entry of theirs, in both tiers. */
  dropUser(userId: number): void {
    this.generation += 1
    this.suspectUsers.set(userId, performance.now() + INVALIDATION_GRACE_MS)
    prune(this.suspectUsers)
    for (const [key, entry] of this.entries) if (entry.token.userId === userId) this.entries.delete(key)
    this.shared.forgetUser(userId).catch((err: unknown) => this.sharedFailed(err))
  }

  /**
   * A personal API changed or was deleted: entries of keys bound to it (holding its old decrypted key) go. The
   * shared tier keeps only the id, which did not change, so nothing is deleted there.
   */
  dropPersonalApi(personalApiId: number): void {
    this.generation += 1
    for (const [key, entry] of this.entries) if (entry.token.personalApiId === personalApiId) this.entries.delete(key)
  }

  /** What this process holds (all bounded: MAX_ENTRIES, MAX_UNKNOWN, and in-flight lookups). */
  sizes(): { entries: number; unknown: number; loading: number } {
    return { entries: this.entries.size, unknown: this.unknown.size, loading: this.loading.size }
  }

  async close(): Promise<void> {
    clearInterval(this.flushTimer)
    await Promise.allSettled([...this.loading.values()])
    await this.flushAccessed()
  }

  /** The hot path: the entry when this process holds it unexpired, with no hashing and no I/O. */
  private warm(key: string): Entry | undefined {
    const entry = this.entries.get(key)
    if (entry === undefined) return undefined
    const now = this.deps.clock.now()
    if (now >= entry.expiresAt || now < entry.cachedAt) return undefined
    // Re-insert: Map order is the LRU order.
    this.entries.delete(key)
    this.entries.set(key, entry)
    this.stats.memoryHits += 1
    if (now >= entry.refreshAt && !this.loading.has(key)) this.refresh(key, entry)
    return entry
  }

  /** A key this process does not hold: through the shared tier and the database, once per key at a time. */
  private resolve(key: string): Promise<Entry | null> {
    const refusedUntil = this.unknown.get(key)
    if (refusedUntil !== undefined) {
      if (performance.now() < refusedUntil) {
        this.stats.unknownHits += 1
        return Promise.resolve(null)
      }
      this.unknown.delete(key)
    }
    const pending = this.loading.get(key)
    if (pending) return pending
    const load = this.fetch(key).finally(() => this.loading.delete(key))
    this.loading.set(key, load)
    return load
  }

  /** Near its expiry, a used entry is re-read in the background: hot keys never make a request wait. */
  private refresh(key: string, entry: Entry): void {
    const load = this.fetch(key, entry.loadedAt).finally(() => this.loading.delete(key))
    this.loading.set(key, load)
    load.catch((err: unknown) => this.deps.log.warn({ err, token_id: entry.token.id }, 'relay key refresh failed; the entry is used until it expires'))
  }

  /** `newerThan`: a refresh wants a record read after this (app clock), not the one it has. */
  private async fetch(key: string, newerThan?: number): Promise<Entry | null> {
    const generation = this.generation
    const keyHash = hashRelayKey(key)
    const record = await this.find(keyHash, newerThan)
    const current = generation === this.generation
    if (!record) {
      this.entries.delete(key)
      if (current) this.rememberUnknown(key)
      return null
    }
    const entry = this.toEntry(record, await this.boundApi(record.token))
    // What raced an invalidation answers the requests that were waiting for it, and is not kept.
    if (current) this.remember(key, entry)
    return entry
  }

  private async find(keyHash: string, newerThan: number | undefined): Promise<SharedRecord | null> {
    const read = await this.readShared(keyHash, newerThan)
    if (read.kind === 'hit') return read.record
    if (read.kind === 'bypass') return this.loadFromDatabase(keyHash)
    return this.loadOnce(keyHash, newerThan)
  }

  private async readShared(keyHash: string, newerThan: number | undefined): Promise<SharedRead> {
    try {
      const pointer = await this.shared.pointer(keyHash)
      if (!pointer) return MISS
      if (this.suspect(pointer.tokenId, pointer.userId)) return BYPASS
      const record = await this.shared.records(pointer, this.deps.clock.now())
      if (!record || (newerThan !== undefined && record.loadedAt <= newerThan)) return MISS
      // An invalidation may have arrived while the records were on their way.
      if (this.suspect(pointer.tokenId, pointer.userId)) return BYPASS
      this.stats.sharedHits += 1
      return { kind: 'hit', record }
    } catch (err) {
      this.sharedFailed(err)
      return BYPASS
    }
  }

  /** The database read for a key, by one instance at a time: the others wait for its shared record. */
  private async loadOnce(keyHash: string, newerThan: number | undefined): Promise<SharedRecord | null> {
    let claimed: boolean
    try {
      claimed = await this.shared.claimLoad(keyHash)
    } catch (err) {
      this.sharedFailed(err)
      return this.loadFromDatabase(keyHash)
    }
    if (claimed) {
      try {
        return await this.loadFromDatabase(keyHash)
      } finally {
        this.shared.releaseLoad(keyHash).catch((err: unknown) => this.sharedFailed(err))
      }
    }
    const deadline = performance.now() + LOAD_WAIT_MS
    for (let delay = 2; performance.now() < deadline; delay = Math.min(delay * 2, 50)) {
      await sleep(delay)
      let claimHeld: boolean
      try {
        claimHeld = await this.shared.loadClaimed(keyHash)
      } catch (err) {
        this.sharedFailed(err)
        break
      }
      const read = await this.readShared(keyHash, newerThan)
      if (read.kind === 'hit') return read.record
      // Released without a record: the key matched nothing, or that read failed. Read for ourselves.
      if (read.kind === 'bypass' || !claimHeld) break
    }
    return this.loadFromDatabase(keyHash)
  }

  private async loadFromDatabase(keyHash: string): Promise<SharedRecord | null> {
    const generation = this.generation
    this.stats.databaseReads += 1
    const found = await this.deps.repo.findByKeyHash(keyHash)
    // Unknown keys are never shared: random keys must not fill the shared cache.
    if (!found) return null
    const record: SharedRecord = {
      token: toRelayToken(found.token),
      user: found.user ? toRelayUser(found.user) : null,
      loadedAt: this.deps.clock.now(),
    }
    // Shared only when no invalidation arrived during the read: what was read may predate the change.
    if (generation === this.generation) {
      try {
        await this.shared.write(keyHash, record)
      } catch (err) {
        this.sharedFailed(err)
      }
    }
    return record
  }

  /** The personal API a key is bound to, decrypted by this instance (once per fill of its entry). */
  private async boundApi(token: RelayToken): Promise<BoundApi> {
    const id = token.personalApiId
    if (id === undefined || id === null) return NOT_BOUND
    const target = this.deps.personalApis ? await this.deps.personalApis.resolveTarget(token.userId, id) : null
    return target ? { kind: 'target', target } : { kind: 'missing' }
  }

  private toEntry(record: SharedRecord, personalApi: BoundApi): Entry {
    let allow: AllowList
    try {
      allow = compileAllowList(record.token.allowIps)
    } catch {
      // Entries are validated on write; an unreadable list must fail closed, not open.
      allow = { allows: () => false }
    }
    const now = this.deps.clock.now()
    // Another instance's clock may run ahead of ours: an entry is never dated in our future.
    const expiresAt = Math.min(record.loadedAt, now) + ENTRY_TTL_MS
    return {
      token: record.token,
      user: record.user,
      allow,
      personalApi,
      loadedAt: record.loadedAt,
      cachedAt: now,
      expiresAt,
      refreshAt: expiresAt - REFRESH_AHEAD_MS,
    }
  }

  private remember(key: string, entry: Entry): void {
    this.unknown.delete(key)
    this.entries.delete(key)
    this.entries.set(key, entry)
    if (this.entries.size > MAX_ENTRIES) evictOldest(this.entries)
  }

  private rememberUnknown(key: string): void {
    this.unknown.delete(key)
    this.unknown.set(key, performance.now() + UNKNOWN_TTL_MS)
    if (this.unknown.size > MAX_UNKNOWN) evictOldest(this.unknown)
  }

  private suspect(tokenId: number, userId: number): boolean {
    const now = performance.now()
    return (this.suspectTokens.get(tokenId) ?? 0) > now || (this.suspectUsers.get(userId) ?? 0) > now
  }

  /** The shared tier is down or refused a command: lookups go to the database until it is back. */
  private sharedFailed(err: unknown): void {
    this.stats.sharedErrors += 1
    const now = performance.now()
    if (now - this.lastSharedWarning < SHARED_WARN_EVERY_MS) return
    this.lastSharedWarning = now
    this.deps.log.warn({ err }, 'relay key cache: shared tier unavailable; reading the database')
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

function evictOldest(map: Map<string, unknown>): void {
  const oldest = map.keys().next().value
  if (oldest !== undefined) map.delete(oldest)
}

/** Drops expired marks once there are many (invalidations are rare; this keeps a storm of them bounded). */
function prune(marks: Map<number, number>): void {
  if (marks.size <= 1_000) return
  const now = performance.now()
  for (const [id, until] of marks) if (until <= now) marks.delete(id)
}
