import type { UsageLogEntry } from './repository.js'

// Column widths of usage_logs: a longer client-sent request id or upstream error is cut, not refused.
const cut = (value: string | null, max: number) => (value === null || value.length <= max ? value : value.slice(0, max))

/** Every text column cut to its width, every number a safe integer: what the database will take. */
export function fitLogEntry(entry: UsageLogEntry): UsageLogEntry {
  return {
    ...entry,
    requestId: cut(String(entry.requestId), 64) ?? '',
    model: cut(String(entry.model), 128) ?? '',
    upstreamModel: typeof entry.upstreamModel === 'string' ? cut(entry.upstreamModel, 128) : null,
    error: typeof entry.error === 'string' ? cut(entry.error, 1024) : null,
  }
}

/**
 * The row written when the full one was refused: the money and its accounting fields stay, every free-text
 * field is replaced, and the reason is kept in `error`, so the ledger still explains the charge.
 */
export function reducedLogEntry(entry: UsageLogEntry, err: unknown): UsageLogEntry {
  const reason = err instanceof Error ? err.message : String(err)
  const count = (value: unknown) => (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : 0)
  return {
    ...entry,
    latencyMs: count(entry.latencyMs),
    firstByteMs: null,
    status: typeof entry.status === 'number' && Number.isInteger(entry.status) && entry.status >= 100 && entry.status <= 999 ? entry.status : 500,
    requestId: /^[A-Za-z0-9._:-]{1,64}$/.test(String(entry.requestId)) ? entry.requestId : 'unknown',
    model: '(unrecorded)',
    upstreamModel: null,
    error: cut(`usage-log row reduced: ${reason}`, 1024),
  }
}
