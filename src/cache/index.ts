import type { Cache } from './cache.js'
import { MemoryCache } from './memory.js'
import { RedisCache, type CacheLogger } from './redis.js'

export type { Cache, InvalidationHandler } from './cache.js'
export type { CacheLogger } from './redis.js'
export { MemoryCache } from './memory.js'
export { RedisCache } from './redis.js'

export interface CreateCacheOptions {
  /** REDIS_URL; unset means this process keeps its own in-memory cache. */
  url?: string
  prefix?: string
  logger: CacheLogger
}

/** Never throws and never waits for Redis: an unreachable Redis shows up in `ping()`, not at boot. */
export function createCache(opts: CreateCacheOptions): Cache {
  if (opts.url) {
    return new RedisCache({ url: opts.url, prefix: opts.prefix, logger: opts.logger })
  }
  return new MemoryCache({ logger: opts.logger })
}
