// The process's log destination (src/server.ts gives it to pino).

/** Log bytes waiting for a slow stdout reader beyond which new lines are dropped (and counted) rather than kept. */
const LOG_BACKLOG_BYTES = 16 * 1024 * 1024

export interface LogDestination {
  write(line: string): void
  /** Resolves once every line reached the kernel, stdout's reader has gone, or `ms` passed. */
  drained(ms: number): Promise<void>
}

/**
 * pino's destination for the process: stdout through Node's own non-blocking stream, one write per event-loop
 * turn. Not pino's default (sonic-boom): at exit it writes the lines still queued in a synchronous loop that
 * retries every error each 100 ms, so once stdout's reader had gone (EPIPE) a process whose last line queued
 * behind an unfinished write never finished exiting (issue 10). Here a lost reader only ends logging, a slow one
 * costs at most LOG_BACKLOG_BYTES, and nothing at exit waits without a bound.
 */
export function stdoutDestination(): LogDestination {
  const out = process.stdout
  let gone = false
  let pending = ''
  let scheduled = false
  let dropped = 0
  const lost = () => {
    gone = true
  }
  out.on('error', lost)
  // stderr carries only start-up failures, but an EPIPE on it must not become an uncaught exception either.
  process.stderr.on('error', () => {})

  const flush = () => {
    scheduled = false
    if (gone || pending === '') return
    if (dropped > 0 && out.writableLength < LOG_BACKLOG_BYTES / 2) {
      pending = `${JSON.stringify({ level: 40, time: Date.now(), dropped, msg: 'log lines dropped: stdout is not being read fast enough' })}\n${pending}`
      dropped = 0
    }
    const lines = pending
    pending = ''
    out.write(lines)
  }
  // A crash or an exit from elsewhere still gets its last lines out, if stdout takes them at once.
  process.on('exit', flush)

  return {
    write(line) {
      if (gone) return
      if (out.writableLength + pending.length > LOG_BACKLOG_BYTES) {
        dropped += 1
        return
      }
      pending += line
      if (!scheduled) {
        scheduled = true
        setImmediate(flush)
      }
    },
    drained(ms) {
      flush()
      if (gone || out.writableLength === 0) return Promise.resolve()
      return new Promise((resolve) => {
        const done = () => {
          clearTimeout(timer)
          out.off('drain', done).off('error', done).off('close', done)
          resolve()
        }
        const timer = setTimeout(done, ms)
        out.once('drain', done).once('error', done).once('close', done)
      })
    },
  }
}
