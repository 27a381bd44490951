import { Redis, type Result } from 'ioredis'
import { CacheUnavailableError, type Cache, type InvalidationHandler } from './cache.js'
import { checkTtl } from './memory.js'

/** The slice of a pino logger the cache needs. */
export interface CacheLogger {
  warn(obj: object, msg?: string): void
  error(obj: object, msg?: string): void
  info(obj: object, msg?: string): void
}

export interface RedisCacheOptions {
  /** `redis://[user:pass@]host:port/db`; never logged, it may hold a password. */
  url: string
  /** Namespace for every key and channel, so tenants and test runs can share one Redis. */
  prefix?: string
  logger: CacheLogger
  /** How long `ping()` waits before calling Redis unavailable. */
  pingTimeoutMs?: number
  /** Upper bound on any one command, so a Redis that accepts but never answers cannot hang a request. */
  commandTimeoutMs?: number
}

/**
 * INCRBY, and PEXPIRE only when this call created the counter: later increments never move
 * the expiry, which is what makes a fixed rate-limit window. One script, so it is atomic.
 */
const INCR_FIXED_WINDOW = `
local created = redis.call('EXISTS', KEYS[1]) == 0
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if created and tonumber(ARGV[2]) > 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return value
`

declare module 'ioredis' {
  interface RedisCommander<Context> {
    nexusIncrFixedWindow(key: string, by: number, ttlMs: number): Result<number, Context>
  }
}

/** Backoff that never gives up: Redis coming back after an hour must still be picked up. */
export function reconnectDelay(attempt: number): number {
  return Math.min(50 * 2 ** Math.min(attempt, 6), 2_000)
}

type Role = 'command' | 'subscriber'

/**
 * The shared cache. Redis being down degrades the gateway (commands reject at once, `ping()` is
 * false) but never crashes or stalls it; both connections keep retrying and recover by themselves.
 */
export class RedisCache implements Cache {
  readonly kind = 'redis' as const

  private readonly prefix: string
  private readonly logger: CacheLogger
  private readonly pingTimeoutMs: number
  private readonly redis: Redis
  private readonly sub: Redis
  private readonly handlers = new Map<string, Set<InvalidationHandler>>()
  private closing = false
  /**
   * Until a connection's first attempt has an outcome, calls wait for it instead of failing with
   * "not connected" merely because the process just started. Cleared once settled (hot path: one check).
   */
  private commandGate: Promise<void> | undefined
  private subscriberGate: Promise<void> | undefined

  constructor(opts: RedisCacheOptions) {
    this.prefix = opts.prefix ?? 'nexus:'
    this.logger = opts.logger
    this.pingTimeoutMs = opts.pingTimeoutMs ?? 500
    const commandTimeout = opts.commandTimeoutMs ?? 2_000

    const options = {
      lazyConnect: true,
      // Fail fast while down: a request must get an error, not wait in a queue for Redis.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      retryStrategy: reconnectDelay,
      connectTimeout: 2_000,
      commandTimeout,
    }
    this.redis = new Redis(opts.url, options)
    // Subscriptions are replayed by us on every 'ready' (see onSubscriberReady), including those
    // asked for while Redis was down, which ioredis itself would not remember.
    this.sub = new Redis(opts.url, { ...options, autoResubscribe: false })

    this.watch(this.redis, 'command')
    this.watch(this.sub, 'subscriber')
    this.redis.defineCommand('nexusIncrFixedWindow', { numberOfKeys: 1, lua: INCR_FIXED_WINDOW })
    this.sub.on('ready', () => this.onSubscriberReady())
    this.sub.on('message', (channel: string, message: string) => this.deliver(channel, message))

    this.commandGate = firstOutcome(this.redis).then(() => {
      this.commandGate = undefined
    })
    this.subscriberGate = firstOutcome(this.sub).then(() => {
      this.subscriberGate = undefined
    })
    this.redis.connect().catch(() => {
      // Reported by the 'error' listener; retryStrategy keeps trying.
    })
    this.sub.connect().catch(() => {})
  }

  /** Runs one command once Redis is usable; any failure to run it becomes a CacheUnavailableError. */
  private async run<T>(command: () => Promise<T>): Promise<T> {
    try {
      await this.usable()
      return await command()
    } catch (err) {
      throw new CacheUnavailableError(err)
    }
  }

  async get(key: string): Promise<string | null> {
    return this.run(() => this.redis.get(this.prefix + key))
  }

  async set(key: string, value: string, ttlMs?: number): Promise<void> {
    checkTtl(ttlMs)
    await this.run(() =>
      ttlMs === undefined ? this.redis.set(this.prefix + key, value) : this.redis.set(this.prefix + key, value, 'PX', ttlMs),
    )
  }

  async setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    checkTtl(ttlMs)
    const stored = await this.run(() => this.redis.set(this.prefix + key, value, 'PX', ttlMs, 'NX'))
    return stored === 'OK'
  }

  async del(...keys: string[]): Promise<void> {
    if (keys.length === 0) return
    await this.run(() => this.redis.del(...keys.map((key) => this.prefix + key)))
  }

  async incr(key: string, by = 1, ttlMs?: number): Promise<number> {
    checkTtl(ttlMs)
    if (!Number.isSafeInteger(by)) throw new RangeError(`incr step must be an integer, got ${by}`)
    return this.run(() => this.redis.nexusIncrFixedWindow(this.prefix + key, by, ttlMs ?? 0))
  }

  async ttl(key: string): Promise<number> {
    return this.run(() => this.redis.pttl(this.prefix + key))
  }

  async publish(channel: string, message: string): Promise<void> {
    await this.run(() => this.redis.publish(this.prefix + channel, message))
  }

  /**
   * Registers the handler at once and subscribes when Redis is reachable. Never rejects for an
   * outage: the subscription is replayed on the next reconnect, which is all a caller could do.
   */
  async subscribe(channel: string, handler: InvalidationHandler): Promise<void> {
    let set = this.handlers.get(channel)
    if (!set) {
      set = new Set()
      this.handlers.set(channel, set)
    }
    set.add(handler)
    if (this.subscriberGate) await this.subscriberGate
    if (this.sub.status !== 'ready') return
    try {
      await this.sub.subscribe(this.prefix + channel)
    } catch (err) {
      this.logger.warn({ err: describe(err), channel }, 'cache subscribe failed; will retry on reconnect')
    }
  }

  async ping(): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), this.pingTimeoutMs)
      timer.unref()
    })
    const answer = this.usable()
      .then(() => this.redis.ping())
      .then((reply) => reply === 'PONG')
      .catch(() => false)
    try {
      return await Promise.race([answer, timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  async close(): Promise<void> {
    this.closing = true
    await Promise.all([quit(this.redis), quit(this.sub)])
  }

  private async usable(): Promise<void> {
    if (this.commandGate) await this.commandGate
  }

  /** Logs each outage once per connection, and its end, however many retries happen in between. */
  private watch(client: Redis, role: Role): void {
    let down = false
    const lost = (err?: unknown): void => {
      if (this.closing || down) return
      down = true
      this.logger.error({ connection: role, err: err === undefined ? 'connection closed' : describe(err) },
        'redis unavailable; cache commands fail until it is back')
    }
    client.on('error', (err: unknown) => lost(err))
    client.on('close', () => lost())
    client.on('ready', () => {
      if (!down) return
      down = false
      this.logger.info({ connection: role }, 'redis recovered')
    })
  }

  private onSubscriberReady(): void {
    const channels = [...this.handlers.keys()].map((channel) => this.prefix + channel)
    if (channels.length === 0) return
    this.sub.subscribe(...channels).catch((err: unknown) => {
      this.logger.warn({ err: describe(err) }, 'cache resubscribe failed; will retry on reconnect')
    })
  }

  private deliver(prefixedChannel: string, message: string): void {
    if (!prefixedChannel.startsWith(this.prefix)) return
    const channel = prefixedChannel.slice(this.prefix.length)
    for (const handler of this.handlers.get(channel) ?? []) {
      try {
        handler(message)
      } catch (err) {
        this.logger.error({ err: describe(err), channel }, 'cache subscriber threw')
      }
    }
  }
}

/** Resolves on a connection's first outcome (ready, error or close), or after a bound. */
function firstOutcome(client: Redis): Promise<void> {
  return new Promise<void>((resolve) => {
    const settle = (): void => {
      clearTimeout(timer)
      client.off('ready', settle)
      client.off('error', settle)
      client.off('close', settle)
      resolve()
    }
    const timer = setTimeout(settle, 2_500)
    timer.unref()
    client.on('ready', settle)
    client.on('error', settle)
    client.on('close', settle)
  })
}

async function quit(client: Redis): Promise<void> {
  if (client.status === 'end') return
  try {
    await client.quit()
  } catch {
    // Down or mid-reconnect: QUIT cannot be sent, so drop the socket and stop retrying.
    client.disconnect()
  }
}

/** An error's message and code only: ioredis errors can carry the command's arguments. */
function describe(err: unknown): { message: string; code?: string } {
  if (err instanceof Error) {
    const code = (err as Error & { code?: unknown }).code
    return typeof code === 'string' ? { message: err.message, code } : { message: err.message }
  }
  return { message: String(err) }
}
