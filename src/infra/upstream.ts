import type { FastifyBaseLogger } from 'fastify'
import fp from 'fastify-plugin'
import { setTimeout as sleep } from 'node:timers/promises'
import { Agent } from 'undici'
import type { Metrics } from './metrics.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The one long-lived undici Agent (a pool per upstream origin) every upstream call goes through. */
    upstream: Agent
  }
}

/** How often a capped agent's pools are looked at. */
const SATURATION_CHECK_MS = 1_000
/** At most one warning per origin in this long, however long the cap stays reached. */
const SATURATION_WARN_EVERY_MS = 10_000
/** On close, in-flight upstream calls have ended with their clients; a pool still waiting after this is destroyed. */
const CLOSE_GRACE_MS = 1_000

const originOf = (origin: URL | string): string => (typeof origin === 'string' ? new URL(origin).origin : origin.origin)

/**
 * With UPSTREAM_MAX_CONNECTIONS set, reaching the cap is never a silent queue (CONTRACT §1): once a second each
 * origin's pool says how many requests wait for a connection (`nexus_upstream_queued_requests`), a second in
 * which the cap was reached is counted (`nexus_upstream_saturated_seconds_total`), and a warning is logged at
 * most every 10 s per origin. Nothing runs per request: the pools' own counters are read, and undici's `drain`
 * event — emitted only by a pool that had run out of connections — catches a cap reached between two looks.
 * Origins are channel base URLs, set by admins, so the label set is bounded. Returns the function that stops it.
 */
function watchSaturation(agent: Agent, cap: number, metrics: Metrics, log: FastifyBaseLogger): () => void {
  const reached = new Set<string>()
  const lastWarned = new Map<string, number>()
  const onDrain = (origin: URL | string) => reached.add(originOf(origin))
  agent.on('drain', onDrain)

  const check = () => {
    const stats = agent.stats
    const now = Date.now()
    metrics.upstreamQueued.reset()
    for (const origin of new Set([...Object.keys(stats), ...reached])) {
      const pool = stats[origin]
      // A pool has its own queue; with a cap of 1 undici uses a single Client, whose waiting requests are `pending`.
      const queued = pool === undefined ? 0 : 'queued' in pool ? pool.queued : pool.pending
      metrics.upstreamQueued.set({ origin }, queued)
      if (queued === 0 && !reached.has(origin)) continue
      metrics.upstreamSaturated.inc({ origin })
      if (now - (lastWarned.get(origin) ?? -Infinity) < SATURATION_WARN_EVERY_MS) continue
      lastWarned.set(origin, now)
      log.warn(
        { origin, max_connections: cap, connected: pool?.connected, queued },
        'upstream connection cap reached (UPSTREAM_MAX_CONNECTIONS): requests wait for a free connection',
      )
    }
    reached.clear()
  }
  const timer = setInterval(check, SATURATION_CHECK_MS)
  timer.unref()
  return () => {
    clearInterval(timer)
    agent.off('drain', onDrain)
  }
}

export default fp(
  async (app) => {
    const cap = app.config.upstreamMaxConnections
    const agent = new Agent({
      connectTimeout: 10_000,
      // No response head by then → the relay tries the next channel or answers 504.
      headersTimeout: app.config.upstreamFirstByteTimeoutMs,
      // Silence between two chunks of a body; generous because models think between tokens.
      bodyTimeout: 300_000,
      keepAliveTimeout: 30_000,
      // null = as many connections per origin as there are requests in flight (undici's Pool); a fixed cap
      // here once queued 1,000 streams through one channel in four silent waves (issue 10).
      connections: cap ?? null,
    })
    app.decorate('upstream', agent)
    const stopWatching = cap === undefined ? undefined : watchSaturation(agent, cap, app.metrics, app.log)
    app.addHook('onClose', async () => {
      stopWatching?.()
      const closed = await Promise.race([agent.close().then(() => true), sleep(CLOSE_GRACE_MS, false, { ref: false })])
      if (!closed) await agent.destroy()
    })
  },
  { name: 'upstream', dependencies: ['metrics'] },
)
