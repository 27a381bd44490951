/**
 * The SQLite WAL checkpointer's thread (see wal-checkpointer.ts), as the source it is started from.
 * It is plain CommonJS run with `eval` and no execArgv, so the thread needs no TypeScript loader and
 * costs a bare isolate (~0.2 s and a few MB to start), whether the gateway runs from dist/ or from source.
 *
 * Every interval, when another connection has committed since the last look (PRAGMA data_version):
 * - PASSIVE: copies the WAL back into the database without waiting for, or blocking, anyone. Once a PASSIVE
 *   checkpoint has caught up, the main thread's next commit starts the WAL over from its beginning.
 * - A writer that never pauses long enough for that (commits every few ms) keeps the WAL growing. Past
 *   `maxWalBytes` of frames: a second PASSIVE for what came in during the first, then RESTART, which holds
 *   the write lock only for the few frames left and an fsync, and makes the next commit start over.
 *   (TRUNCATE there would also cut the file under the lock: measured at 70–90 ms stalls, RESTART 15–25 ms.)
 * When nobody has written for a whole interval and the file is bigger than `maxWalBytes`, TRUNCATE gives the
 * disk back at no one's expense. An idle database costs one PRAGMA per interval and no message.
 *
 * workerData: { sqliteModule, file, intervalMs, maxWalBytes } (CheckpointWorkerData).
 * Messages out: { type: 'ready' } | { type: 'checkpoint', report: CheckpointReport } | { type: 'error', message, code }.
 */
export const CHECKPOINT_THREAD_SOURCE = String.raw`
'use strict'
const { statSync } = require('node:fs')
const { parentPort, workerData } = require('node:worker_threads')
const Sqlite = require(workerData.sqliteModule)
const { file, intervalMs, maxWalBytes } = workerData
// While writes outpace the checkpoints, the next one comes sooner: less to copy each time.
const catchUpMs = Math.min(intervalMs, 100)

const db = new Sqlite(file, { fileMustExist: true })
// Only RESTART and TRUNCATE wait on other connections, for a gap between the main thread's transactions:
// never long.
db.pragma('busy_timeout = 50')
const frameBytes = db.pragma('page_size', { simple: true }) + 24
parentPort.postMessage({ type: 'ready' })

function walBytes() {
  try {
    return statSync(file + '-wal').size
  } catch {
    return 0
  }
}

function checkpoint(mode) {
  const rows = db.pragma('wal_checkpoint(' + mode + ')')
  return rows[0] || { busy: 1, log: -1, checkpointed: -1 }
}

function report(row, restarted, truncated) {
  const at = Date.now()
  parentPort.postMessage({
    type: 'checkpoint',
    report: { busy: row.busy, log: row.log, checkpointed: row.checkpointed, walBytes: walBytes(), restarted, truncated, at },
  })
}

let seenVersion = -1
let caughtUp = false

function tick() {
  // data_version moves whenever another connection commits.
  const version = db.pragma('data_version', { simple: true })
  const idle = version === seenVersion
  seenVersion = version
  if (idle && caughtUp) {
    if (walBytes() > maxWalBytes) {
      const row = checkpoint('TRUNCATE')
      if (row.busy === 0) report(row, false, true)
    }
    return
  }
  if (walBytes() === 0) {
    caughtUp = true
    return
  }
  const row = checkpoint('PASSIVE')
  caughtUp = row.busy === 0 && row.log >= 0 && row.log === row.checkpointed
  let restarted = false
  if (row.log * frameBytes > maxWalBytes) {
    checkpoint('PASSIVE')
    restarted = checkpoint('RESTART').busy === 0
    if (restarted) caughtUp = true
  }
  report(row, restarted, false)
}

function safeTick() {
  try {
    tick()
  } catch (err) {
    // SQLITE_BUSY (another connection is checkpointing) is routine; anything else is reported and retried.
    const code = err && err.code
    if (code !== 'SQLITE_BUSY' && code !== 'SQLITE_LOCKED') {
      parentPort.postMessage({ type: 'error', message: err && err.message ? err.message : String(err), code })
    }
  }
}

let timer = setTimeout(function loop() {
  safeTick()
  timer = setTimeout(loop, caughtUp ? intervalMs : catchUpMs)
}, intervalMs)

parentPort.on('message', (message) => {
  if (message !== 'stop') return
  clearTimeout(timer)
  try {
    if (db.open) db.close()
  } finally {
    parentPort.close()
  }
})
`
