// Auto-disabled channels (an upstream 401/403) come back by themselves: every CHANNEL_PROBE_INTERVAL_S one
// instance re-runs the admin's channel test (`POST /api/channel/{id}/test`) on each of them, which re-enables a
// channel that passes. A failing test changes nothing. Run by a singleton job (src/infra/singleton-job.ts).
import type { FastifyBaseLogger } from 'fastify'
import type { ChannelsRepository } from './repository.js'
import type { ChannelsService } from './service.js'

/** Channels re-tested per pass, oldest first; the rest wait for the next pass. */
export const PROBE_BATCH = 50

export interface ProbeDisabledDeps {
  repo: Pick<ChannelsRepository, 'listByStatus'>
  service: Pick<ChannelsService, 'test'>
  log: FastifyBaseLogger
}

/** One pass; returns the ids re-enabled. */
export async function probeDisabledChannels(deps: ProbeDisabledDeps, signal: AbortSignal): Promise<number[]> {
  const reEnabled: number[] = []
  for (const row of await deps.repo.listByStatus('auto_disabled', PROBE_BATCH)) {
    if (signal.aborted) break
    const result = await deps.service.test(row.id, undefined, signal)
    // The upstream's message stays out of the log: it may quote the key.
    deps.log.info({ channel_id: row.id, ok: result.ok, status: result.status }, 'auto-disabled channel re-tested')
    if (result.ok) reEnabled.push(row.id)
  }
  return reEnabled
}
