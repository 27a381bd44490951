import type { Cache } from '../cache/cache.js'
import { errors } from '../errors.js'

export interface Limit {
  /** Cache key naming the counter (the cache adds its own namespace). */
  key: string
  max: number
  windowMs: number
}

/**
 * Counts one hit against a fixed-window limit in the shared cache, so every instance sees the
 * same counter; over the limit → 429 `too_many_attempts` with `retry-after`.
 */
export async function countHit(cache: Cache, limit: Limit): Promise<void> {
  const hits = await cache.incr(limit.key, 1, limit.windowMs)
  if (hits > limit.max) await refuse(cache, limit.key)
}

/** Whether a limit still has room, without counting (for limits that count failures only). */
export async function assertUnder(cache: Cache, limit: Limit): Promise<void> {
  const hits = Number((await cache.get(limit.key)) ?? 0)
  if (hits >= limit.max) await refuse(cache, limit.key)
}

/** Counts a hit and answers whether the limit still had room, without throwing (silent limits). */
export async function tryHit(cache: Cache, limit: Limit): Promise<boolean> {
  return (await cache.incr(limit.key, 1, limit.windowMs)) <= limit.max
}

async function refuse(cache: Cache, key: string): Promise<never> {
  const ttl = await cache.ttl(key)
  throw errors.rateLimited('too_many_attempts', 'too many attempts; try again later', ttl > 0 ? ttl / 1000 : 60)
}
