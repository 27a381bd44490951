import type { CacheLogger } from '../../src/cache/redis.js'

export interface LogEntry {
  level: 'warn' | 'error' | 'info'
  obj: object
  msg: string | undefined
}

/** A logger that keeps what it was told, so tests can assert on what an outage logged. */
export function recordingLogger(): CacheLogger & { entries: LogEntry[] } {
  const entries: LogEntry[] = []
  return {
    entries,
    warn: (obj, msg) => void entries.push({ level: 'warn', obj, msg }),
    error: (obj, msg) => void entries.push({ level: 'error', obj, msg }),
    info: (obj, msg) => void entries.push({ level: 'info', obj, msg }),
  }
}
