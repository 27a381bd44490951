import type { Cache, InvalidationHandler } from './cache.js'
import type { CacheLogger } from './redis.js'

export interface MemoryCacheOptions {
  /** How often expired keys are swept; lazy expiry alone would let never-read keys pile up. */
  sweepIntervalMs?: number
  /** Time seam for tests. */
  now?: () => number
  /** Where a throwing subscriber is reported; without it the error is dropped. */
  logger?: Pick<CacheLogger, 'error'>
}

interface Entry {
  value: string
  /** Epoch ms; Infinity when the key never expires. */
  expiresAt: number
}

const INTEGER = /^-?\d+$/

/** Rejects what Redis would reject (`PX 0`, negative or fractional TTLs), so both backends agree. */
export function checkTtl(ttlMs: number | undefined): void {
  if (ttlMs !== undefined && !(Number.isInteger(ttlMs) && ttlMs > 0)) {
    throw new RangeError(`ttlMs must be a positive integer, got ${ttlMs}`)
  }
}

/**
 * One process's cache, with Redis semantics: the same answers as RedisCache for the same calls,
 * so the in-process default and a shared Redis are interchangeable behind `Cache`.
 */
export class MemoryCache implements Cache {
  readonly kind = 'memory' as const

  private readonly entries = new Map<string, Entry>()
  private readonly subscribers = new Map<string, Set<InvalidationHandler>>()
  private readonly now: () => number
  private readonly logger: Pick<CacheLogger, 'error'> | undefined
  private readonly sweeper: NodeJS.Timeout

  constructor(opts: MemoryCacheOptions = {}) {
    this.now = opts.now ?? Date.now
    this.logger = opts.logger
    this.sweeper = setInterval(() => this.sweep(), opts.sweepIntervalMs ?? 10_000)
    // A cache must never be what keeps the process alive.
    this.sweeper.unref()
  }

  /** Keys held, expired-but-unswept included: what the process is actually paying for. */
  get size(): number {
    return this.entries.size
  }

  async get(key: string): Promise<string | null> {
    return this.live(key)?.value ?? null
  }

  async set(key: string, value: string, ttlMs?: number): Promise<void> {
    checkTtl(ttlMs)
    this.entries.set(key, { value, expiresAt: this.expiry(ttlMs) })
  }

  async setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    checkTtl(ttlMs)
    if (this.live(key)) return false
    this.entries.set(key, { value, expiresAt: this.expiry(ttlMs) })
    return true
  }

  async del(...keys: string[]): Promise<void> {
    for (const key of keys) this.entries.delete(key)
  }

  async incr(key: string, by = 1, ttlMs?: number): Promise<number> {
    checkTtl(ttlMs)
    if (!Number.isSafeInteger(by)) throw new RangeError(`incr step must be an integer, got ${by}`)
    const entry = this.live(key)
    if (!entry) {
      this.entries.set(key, { value: String(by), expiresAt: this.expiry(ttlMs) })
      return by
    }
    if (!INTEGER.test(entry.value)) throw new Error(`value at ${key} is not an integer`)
    const next = Number(entry.value) + by
    // The window stays as created: a later increment never moves the expiry.
    entry.value = String(next)
    return next
  }

  async ttl(key: string): Promise<number> {
    const entry = this.live(key)
    if (!entry) return -2
    if (entry.expiresAt === Infinity) return -1
    return entry.expiresAt - this.now()
  }

  async publish(channel: string, message: string): Promise<void> {
    const handlers = this.subscribers.get(channel)
    if (!handlers || handlers.size === 0) return
    const snapshot = [...handlers]
    // Delivered later, as Redis would: a publisher never runs its subscribers inside its own call.
    setImmediate(() => {
      for (const handler of snapshot) {
        try {
          handler(message)
        } catch (err) {
          this.logger?.error({ err, channel }, 'cache subscriber threw')
        }
      }
    })
  }

  async subscribe(channel: string, handler: InvalidationHandler): Promise<void> {
    let handlers = this.subscribers.get(channel)
    if (!handlers) {
      handlers = new Set()
      this.subscribers.set(channel, handlers)
    }
    handlers.add(handler)
  }

  async ping(): Promise<boolean> {
    return true
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper)
    this.entries.clear()
    this.subscribers.clear()
  }

  /** The entry when present and unexpired; an expired one is dropped on sight. */
  private live(key: string): Entry | undefined {
    const entry = this.entries.get(key)
    if (!entry) return undefined
    if (entry.expiresAt <= this.now()) {
      this.entries.delete(key)
      return undefined
    }
    return entry
  }

  private expiry(ttlMs: number | undefined): number {
    return ttlMs === undefined ? Infinity : this.now() + ttlMs
  }

  private sweep(): void {
    const now = this.now()
    for (const [key, entry] of this.entries) {
      if (entry.expiresAt <= now) this.entries.delete(key)
    }
  }
}
