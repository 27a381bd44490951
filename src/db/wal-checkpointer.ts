import { createRequire } from 'node:module'
import { Worker } from 'node:worker_threads'
import { CHECKPOINT_THREAD_SOURCE } from './wal-checkpoint-thread.js'

/**
 * SQLite checkpoints off the request path. By default SQLite copies the WAL back into the database
 * (a checkpoint, with an fsync) inside whichever commit crosses 1,000 pages — synchronously, on the event
 * loop, as a p99 tail. Instead the main connection runs with `wal_autocheckpoint = 0` and a worker thread,
 * with its own connection to the same file, checkpoints on an interval: PASSIVE (blocks no one), a forced
 * RESTART only when a writer that never pauses has grown the WAL past `maxWalBytes`, and TRUNCATE of a
 * grown file once writes pause (details in wal-checkpoint-thread.ts). If the thread dies, the caller turns
 * SQLite's own auto-checkpoint back on.
 */
export interface WalCheckpointOptions {
  /** How often the worker checkpoints; default 1,000 ms. */
  intervalMs?: number
  /**
   * Past this many bytes of frames the WAL is restarted by force (a short write lock); a file bigger than
   * this is cut to zero once writes pause. Default 64 MiB.
   */
  maxWalBytes?: number
  /** Reported worker failures (the checkpointer keeps running where it can). */
  onError?: (err: Error) => void
}

/** What the thread is started with. */
export interface CheckpointWorkerData {
  /** better-sqlite3, resolved from here: the thread has no module context of its own. */
  sqliteModule: string
  file: string
  intervalMs: number
  maxWalBytes: number
}

/** One checkpoint's outcome as `PRAGMA wal_checkpoint` reports it (in frames), and what followed. */
export interface CheckpointReport {
  busy: number
  /** Frames in the WAL. */
  log: number
  /** Frames of it copied back into the database. */
  checkpointed: number
  /** The WAL file's size after this checkpoint. */
  walBytes: number
  /** The WAL had grown past `maxWalBytes` under constant writes and was restarted by force. */
  restarted: boolean
  /** Writes had paused and the file, bigger than `maxWalBytes`, was cut to zero. */
  truncated: boolean
  /** Epoch ms when it ran. */
  at: number
}

type WorkerMessage =
  | { type: 'ready' }
  | { type: 'checkpoint'; report: CheckpointReport }
  | { type: 'error'; message: string; code?: string }

const STOP_GRACE_MS = 2_000

const sqliteModule = createRequire(import.meta.url).resolve('better-sqlite3')

export class WalCheckpointer {
  /** The latest checkpoint's report; null until the first one with something to do. */
  lastReport: CheckpointReport | null = null
  /** Checkpoints that copied frames back (the test's and an operator's evidence that it works). */
  checkpoints = 0
  /** Forced restarts of a WAL that constant writes kept growing. */
  restarts = 0
  /** Grown WAL files cut to zero once writes paused. */
  truncations = 0
  /** Resolves once the thread has its connection open (or has exited); a few hundred ms after start. */
  readonly ready: Promise<void>
  private readonly worker: Worker
  private readonly exited: Promise<void>
  private running = true
  private stopping = false

  /**
   * `onUnexpectedExit` runs when the thread ends without `stop()` (it failed to start or crashed): the
   * caller turns SQLite's own auto-checkpoint back on.
   */
  constructor(
    file: string,
    private readonly opts: WalCheckpointOptions = {},
    onUnexpectedExit: () => void = () => {},
  ) {
    const data: CheckpointWorkerData = {
      sqliteModule,
      file,
      intervalMs: opts.intervalMs ?? 1_000,
      maxWalBytes: opts.maxWalBytes ?? 64 * 1024 * 1024,
    }
    // execArgv []: none of the parent's loaders (a TypeScript loader would cost the thread seconds to start).
    this.worker = new Worker(CHECKPOINT_THREAD_SOURCE, { eval: true, execArgv: [], workerData: data, name: 'sqlite-wal-checkpoint' })
    // Housekeeping must never be what keeps the process alive; close() still stops it explicitly.
    this.worker.unref()
    this.exited = new Promise((resolve) => this.worker.once('exit', () => resolve()))
    this.worker.once('exit', () => {
      this.running = false
      if (!this.stopping) onUnexpectedExit()
    })
    this.ready = new Promise((resolve) => {
      this.worker.on('message', (message: WorkerMessage) => (message.type === 'ready' ? resolve() : this.receive(message)))
      this.exited.then(resolve, resolve)
    })
    this.worker.on('error', (err) => this.report(err))
  }

  /** True until the thread has exited. */
  get isRunning(): boolean {
    return this.running
  }

  /** Stops the thread (it closes its connection first) and waits for it to be gone. */
  async stop(): Promise<void> {
    if (!this.running) return
    this.stopping = true
    this.worker.postMessage('stop')
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), STOP_GRACE_MS)
    })
    const outcome = await Promise.race([this.exited, late])
    clearTimeout(timer)
    if (outcome === 'late') await this.worker.terminate()
    await this.exited
  }

  private receive(message: Exclude<WorkerMessage, { type: 'ready' }>): void {
    if (message.type === 'error') {
      this.report(Object.assign(new Error(`WAL checkpoint failed: ${message.message}`), { code: message.code }))
      return
    }
    this.lastReport = message.report
    if (message.report.checkpointed > 0) this.checkpoints += 1
    if (message.report.restarted) this.restarts += 1
    if (message.report.truncated) this.truncations += 1
  }

  private report(err: Error): void {
    this.opts.onError?.(err)
  }
}
