/**
 * The one cache contract. Two implementations sit behind it, side by side like
 * @fastify/rate-limit's stores: `memory.ts` (one process) and `redis.ts` (shared by every
 * instance on the same database). Keys are plain strings; the implementation adds its own
 * namespace prefix so tests and tenants can share one Redis.
 */
export type InvalidationHandler = (message: string) => void

export interface Cache {
  readonly kind: 'memory' | 'redis'

  /** A string value, or null when absent or expired. */
  get(key: string): Promise<string | null>
  /** Stores a value; `ttlMs` omitted means no expiry. */
  set(key: string, value: string, ttlMs?: number): Promise<void>
  /** Stores only when the key is absent; true when this call stored it (nonces, idempotency). */
  setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean>
  del(...keys: string[]): Promise<void>

  /**
   * Atomically adds `by` to an integer counter and returns the new value. The TTL is set when
   * the counter is created and is not extended by later increments (a fixed window).
   */
  incr(key: string, by?: number, ttlMs?: number): Promise<number>
  /** Remaining time to live in ms; -1 when the key has no expiry, -2 when it does not exist. */
  ttl(key: string): Promise<number>

  /**
   * Broadcasts a message on a channel to every subscriber of every instance sharing this cache,
   * this instance included. Used to invalidate local copies (tokens, users, channels).
   */
  publish(channel: string, message: string): Promise<void>
  subscribe(channel: string, handler: InvalidationHandler): Promise<void>

  /** True when the backend answers right now (for /readyz). Never throws. */
  ping(): Promise<boolean>
  close(): Promise<void>
}

/**
 * A cache command that could not run (the backend is unreachable). Callers may let it propagate:
 * the error handler answers 503 `cache_unavailable`, which a client can retry.
 */
export class CacheUnavailableError extends Error {
  constructor(cause: unknown) {
    super('cache unavailable', { cause })
    this.name = 'CacheUnavailableError'
  }
}
