// The per-user chat rate limit (CHAT_RATE_LIMIT_PER_MIN turns per minute, CONTRACT §8), with @fastify/rate-limit.
// Its counters live in the app's own cache (src/cache: Redis when REDIS_URL is set, else this process), so the
// limit holds across instances and shares the cache's key prefix; HTTP turns and WebSocket messages count
// against the same key, the user's id.
import rateLimit, { type FastifyRateLimitStore, type FastifyRateLimitStoreCtor } from '@fastify/rate-limit'
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from 'fastify'
import type { Cache } from '../cache/cache.js'
import type { Clock } from '../clock.js'
import { errors } from '../errors.js'

const WINDOW_MS = 60_000

/** Checks one more chat turn of the request's user; throws 429 `rate_limited` past the limit. */
export type ChatRateLimit = (request: FastifyRequest) => Promise<void>

/**
 * A store for @fastify/rate-limit over the app's Cache: a fixed window per key, counted atomically by
 * `cache.incr` (one round trip), aligned to the clock so every instance agrees on the window.
 */
function cacheStore(cache: Cache, clock: Clock, log: FastifyBaseLogger): FastifyRateLimitStoreCtor {
  return class CacheRateLimitStore implements FastifyRateLimitStore {
    incr(key: string, callback: (error: Error | null, result?: { current: number; ttl: number }) => void, timeWindow: number): void {
      const now = clock.now()
      const window = Math.floor(now / timeWindow)
      cache.incr(`ratelimit:${key}:${window}`, 1, timeWindow).then(
        (current) => callback(null, { current, ttl: (window + 1) * timeWindow - now }),
        (err: unknown) => {
          // A limiter outage must not stop chatting: the turn goes through (skipOnError), logged.
          log.warn({ err }, 'chat rate limit not checked: cache unavailable')
          callback(err instanceof Error ? err : new Error(String(err)))
        },
      )
    }

    child(): FastifyRateLimitStore {
      return this
    }
  }
}

/**
 * Registers @fastify/rate-limit in a scope of its own (its decorators and hooks stay there) and returns the chat's
 * limiter. `userIdOf` reads the authenticated user, so the check runs after the session guard.
 */
export async function createChatRateLimit(app: FastifyInstance, userIdOf: (request: FastifyRequest) => number): Promise<ChatRateLimit> {
  const max = app.config.chatRateLimitPerMin
  let limiter: ReturnType<FastifyInstance['createRateLimit']> | null = null
  await app.register(async (scope) => {
    await scope.register(rateLimit, { global: false, store: cacheStore(app.cache, app.clock, app.log), skipOnError: true })
    limiter = scope.createRateLimit({
      max,
      timeWindow: WINDOW_MS,
      keyGenerator: (request) => `chat:user:${userIdOf(request)}`,
      skipOnError: true,
    })
  })
  const check = limiter as ReturnType<FastifyInstance['createRateLimit']> | null
  if (!check) throw new Error('chat rate limiter was not created')
  return async (request) => {
    const result = await check(request)
    if (result.isAllowed || !result.isExceeded) return
    throw errors.rateLimited('rate_limited', `chat rate limit of ${max} turns per minute exceeded`, result.ttlInSeconds)
  }
}
