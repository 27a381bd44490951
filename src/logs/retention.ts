// Usage-log retention (LOG_RETENTION_DAYS): rows older than that are deleted in small batches with a pause
// between them, by a background job that one instance runs at a time (src/infra/singleton-job.ts), once soon
// after start and then hourly. Only usage_logs rows go: balances, used_quota and top-ups are never touched, so
// `used_quota = sum(usage_log.quota)` holds only over the retained window once rows have aged out.
import type { FastifyBaseLogger } from 'fastify'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Clock } from '../clock.js'
import type { LogsRepository } from './repository.js'

export const RETENTION_INTERVAL_MS = 3_600_000
/** Rows per DELETE: a short statement, so settlements writing the same table never wait long. */
export const RETENTION_BATCH = 1_000
/** Between two batches: the database serves requests in between. */
export const RETENTION_PAUSE_MS = 100

export interface RetentionDeps {
  repo: Pick<LogsRepository, 'deleteOlderThan'>
  clock: Clock
  log: FastifyBaseLogger
  days: number
  batch?: number
  pauseMs?: number
}

/** One pass: deletes batch after batch until none is full (or shutdown); returns the rows deleted. */
export async function purgeOldUsageLogs(deps: RetentionDeps, signal: AbortSignal): Promise<number> {
  const batch = deps.batch ?? RETENTION_BATCH
  const cutoff = new Date(deps.clock.now() - deps.days * 86_400_000)
  let deleted = 0
  while (!signal.aborted) {
    const n = await deps.repo.deleteOlderThan(cutoff, batch)
    deleted += n
    if (n < batch) break
    await sleep(deps.pauseMs ?? RETENTION_PAUSE_MS, undefined, { ref: false, signal }).catch(() => {})
  }
  if (deleted > 0) deps.log.info({ deleted, before: cutoff.toISOString() }, 'usage-log retention: old rows deleted')
  return deleted
}
