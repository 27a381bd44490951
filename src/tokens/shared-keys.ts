import type { Cache } from '../cache/cache.js'
import type { RelayToken, RelayUser } from '../relay/seams.js'

/**
 * The shared tier of the relay key cache: what one instance read from the database, for every instance
 * on the same cache (Redis when REDIS_URL is set; the process's own memory cache otherwise). Three records,
 * so that an invalidation, which names a token id or a user id, deletes exactly one key:
 *
 *   relay-key:v1:key:<sha256 of the key>  → "<token id>:<user id>"  (never changes for a key)
 *   relay-key:v1:token:<token id>         → the token's RelayToken, with `at` (when it was read)
 *   relay-key:v1:user:<user id>           → the owner's RelayUser (or null: owner deleted), with `at`
 *   relay-key:v1:load:<sha256 of the key> → held while one instance reads the database for that key
 *
 * Nothing here holds a key itself: only its hash, in the record's name.
 */
export interface SharedRecord {
  token: RelayToken
  /** null: the owner no longer exists. */
  user: RelayUser | null
  /** When the older of the two parts was read from the database (app clock, epoch ms). */
  loadedAt: number
}

export interface KeyPointer {
  tokenId: number
  userId: number
}

const NS = 'relay-key:v1:'
const keyOf = (keyHash: string) => `${NS}key:${keyHash}`
const tokenOf = (id: number) => `${NS}token:${id}`
const userOf = (id: number) => `${NS}user:${id}`
const loadOf = (keyHash: string) => `${NS}load:${keyHash}`

interface StoredToken {
  t: RelayToken
  at: number
}
interface StoredUser {
  u: RelayUser | null
  at: number
}

/** Our own records, but a cache can be shared with another version or tampered with: anything odd is a miss. */
function parse<T>(raw: string | null, valid: (value: T) => boolean): T | undefined {
  if (raw === null) return undefined
  try {
    const value = JSON.parse(raw) as T
    return value !== null && typeof value === 'object' && valid(value) ? value : undefined
  } catch {
    return undefined
  }
}

const isToken = (v: StoredToken) => typeof v.at === 'number' && typeof v.t?.id === 'number' && Array.isArray(v.t.allowIps)
const isUser = (v: StoredUser) => typeof v.at === 'number' && (v.u === null || typeof v.u?.id === 'number')

export class SharedKeys {
  constructor(
    private readonly cache: Cache,
    /** How long a record lives; the reader also refuses records older than this by its own clock. */
    private readonly ttlMs: number,
    /** How long the load claim lives if its holder never releases it (crashed mid-load). */
    private readonly loadClaimMs: number,
  ) {}

  async pointer(keyHash: string): Promise<KeyPointer | null> {
    const raw = await this.cache.get(keyOf(keyHash))
    if (raw === null) return null
    const [token, user] = raw.split(':')
    const tokenId = Number(token)
    const userId = Number(user)
    return Number.isSafeInteger(tokenId) && Number.isSafeInteger(userId) ? { tokenId, userId } : null
  }

  /** Both parts, or undefined when either is missing, unreadable or older than the TTL at `now`. */
  async records(pointer: KeyPointer, now: number): Promise<SharedRecord | undefined> {
    // Sent back to back on one connection: one round trip.
    const [rawToken, rawUser] = await Promise.all([this.cache.get(tokenOf(pointer.tokenId)), this.cache.get(userOf(pointer.userId))])
    const token = parse<StoredToken>(rawToken, isToken)
    const user = parse<StoredUser>(rawUser, isUser)
    if (!token || !user || token.t.id !== pointer.tokenId || token.t.userId !== pointer.userId) return undefined
    const loadedAt = Math.min(token.at, user.at)
    if (now - loadedAt >= this.ttlMs) return undefined
    return { token: token.t, user: user.u, loadedAt }
  }

  async write(keyHash: string, record: SharedRecord): Promise<void> {
    const { token, user, loadedAt } = record
    const stored: [string, string][] = [
      [keyOf(keyHash), `${token.id}:${token.userId}`],
      [tokenOf(token.id), JSON.stringify({ t: token, at: loadedAt } satisfies StoredToken)],
      [userOf(token.userId), JSON.stringify({ u: user, at: loadedAt } satisfies StoredUser)],
    ]
    await Promise.all(stored.map(([key, value]) => this.cache.set(key, value, this.ttlMs)))
  }

  async forgetToken(tokenId: number): Promise<void> {
    await this.cache.del(tokenOf(tokenId))
  }

  async forgetUser(userId: number): Promise<void> {
    await this.cache.del(userOf(userId))
  }

  /** True when this caller may read the database for the key; false when another instance already is. */
  async claimLoad(keyHash: string): Promise<boolean> {
    return this.cache.setIfAbsent(loadOf(keyHash), '1', this.loadClaimMs)
  }

  async loadClaimed(keyHash: string): Promise<boolean> {
    return (await this.cache.get(loadOf(keyHash))) !== null
  }

  async releaseLoad(keyHash: string): Promise<void> {
    await this.cache.del(loadOf(keyHash))
  }
}
