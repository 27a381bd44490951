// A background job that one instance of a deployment runs at a time: every instance keeps a timer, and each tick
// first claims a cache lock (`setIfAbsent`) held for about one interval; the instances that find it taken skip
// that tick. Timers are unref'd (a job never keeps the process alive) and never overlap within an instance; the
// job gets an AbortSignal that fires on shutdown, which waits for a run in progress.
import type { FastifyBaseLogger } from 'fastify'
import { randomUUID } from 'node:crypto'
import type { Cache } from '../cache/cache.js'

export interface SingletonJobOptions {
  /** Names the lock (`job:<name>`) and the log lines. */
  name: string
  cache: Cache
  log: FastifyBaseLogger
  intervalMs: number
  /** Also run once right after start (deferred, off the start-up path). */
  runAtStart: boolean
  run(signal: AbortSignal): Promise<void>
}

export interface SingletonJob {
  /** One tick now: claims the lock and runs; false when another instance (or a run in progress) has it. */
  tick(): Promise<boolean>
  stop(): Promise<void>
}

/** Shared by every job of this process: who holds a lock. */
const INSTANCE_ID = randomUUID()

export function startSingletonJob(opts: SingletonJobOptions): SingletonJob {
  const controller = new AbortController()
  let running: Promise<void> | null = null
  // A little under the interval, so the holder's own next tick finds the lock free despite timer jitter.
  const lockMs = Math.max(1, Math.floor(opts.intervalMs - Math.min(1_000, opts.intervalMs / 10)))

  const tick = async (): Promise<boolean> => {
    if (running || controller.signal.aborted) return false
    let claimed: boolean
    try {
      claimed = await opts.cache.setIfAbsent(`job:${opts.name}`, INSTANCE_ID, lockMs)
    } catch (err) {
      opts.log.warn({ err, job: opts.name }, 'background job skipped: the cache is unavailable')
      return false
    }
    if (!claimed || controller.signal.aborted || running) return false
    running = opts
      .run(controller.signal)
      .catch((err: unknown) => {
        if (!controller.signal.aborted) opts.log.error({ err, job: opts.name }, 'background job failed')
      })
      .finally(() => {
        running = null
      })
    await running
    return true
  }

  const timer = setInterval(() => void tick(), opts.intervalMs)
  timer.unref()
  let first: NodeJS.Timeout | null = null
  if (opts.runAtStart) {
    first = setTimeout(() => void tick(), 0)
    first.unref()
  }

  return {
    tick,
    async stop() {
      clearInterval(timer)
      if (first) clearTimeout(first)
      controller.abort()
      await running
    },
  }
}
