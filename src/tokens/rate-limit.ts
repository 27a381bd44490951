import type { FastifyBaseLogger } from 'fastify'
import type { Cache } from '../cache/cache.js'
import type { Clock } from '../clock.js'
import { errors } from '../errors.js'
import type { RelayToken } from '../relay/seams.js'

const WINDOW_MS = 60_000

/**
 * A key's `rate_limit_rpm`: a fixed one-minute window counted in the shared cache, so the limit
 * holds across instances. Keys without a limit cost nothing here. If the cache cannot count, the
 * request goes through (logged): a limiter outage must not stop paid traffic.
 */
export async function assertWithinRateLimit(cache: Cache, clock: Clock, log: FastifyBaseLogger, token: RelayToken): Promise<void> {
  if (token.rateLimitRpm === null) return
  const now = clock.now()
  const window = Math.floor(now / WINDOW_MS)
  let count: number
  try {
    count = await cache.incr(`ratelimit:token:${token.id}:${window}`, 1, WINDOW_MS)
  } catch (err) {
    log.warn({ err, token_id: token.id }, 'rate limit not checked: cache unavailable')
    return
  }
  if (count > token.rateLimitRpm) {
    const retryAfterS = ((window + 1) * WINDOW_MS - now) / 1000
    throw errors.rateLimited('rate_limit_exceeded', `rate limit of ${token.rateLimitRpm} requests per minute exceeded for this API key`, retryAfterS)
  }
}
