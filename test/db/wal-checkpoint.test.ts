import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type BetterSqlite from 'better-sqlite3'
import { sql } from 'drizzle-orm'
import t from 'tap'
import { openDatabase, type Database } from '../../src/db/client.js'

const walSize = (file: string) => {
  try {
    return statSync(`${file}-wal`).size
  } catch {
    return 0
  }
}

async function until(check: () => boolean, ms = 5_000): Promise<boolean> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) return false
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  return true
}

function tempFile(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'nexus-wal-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return join(dir, 'wal.db')
}

type Sqlite = Extract<Database, { dialect: 'sqlite' }>

/** The better-sqlite3 connection under drizzle (drizzle sets `$client`; the shared type leaves it out). */
const rawClient = (database: Sqlite) => (database.sqlite as unknown as { $client: BetterSqlite.Database }).$client

function sqliteOf(database: Database): Sqlite {
  if (database.dialect !== 'sqlite') throw new Error('expected sqlite')
  return database
}

/** Many small commits, as the relay makes them: each appends pages to the WAL. */
function writeMany(database: Sqlite, rows: number): void {
  database.sqlite.run(sql`create table if not exists filler (id integer primary key, body blob)`)
  const insert = rawClient(database).prepare('insert into filler (body) values (?)')
  const body = Buffer.alloc(2_000, 1)
  for (let i = 0; i < rows; i++) insert.run(body)
}

t.test('the main connection does not checkpoint; the worker does, and truncates a grown WAL', async (t) => {
  const file = tempFile(t)
  const limit = 1024 * 1024
  const database = sqliteOf(await openDatabase(`sqlite:${file}`, { walCheckpoint: { intervalMs: 50, maxWalBytes: limit } }))
  t.teardown(() => database.close())
  const client = rawClient(database)
  t.equal(client.pragma('wal_autocheckpoint', { simple: true }), 0, 'auto-checkpoint is off on the main connection')
  t.ok(database.checkpointer?.isRunning, 'a checkpointer thread runs')
  await database.checkpointer?.ready

  // 3,000 commits of 2 pages each: without any checkpoint the WAL would hold 6,000 frames (~24 MB); SQLite's
  // own auto-checkpoint would have fired on this thread at every 1,000 pages.
  writeMany(database, 3_000)
  const checkpointer = database.checkpointer!
  t.ok(await until(() => checkpointer.checkpoints > 0), `the worker checkpointed: ${JSON.stringify(checkpointer.lastReport)}`)
  t.ok(await until(() => checkpointer.truncations > 0), 'and truncated the grown WAL')
  t.ok(await until(() => walSize(file) <= limit), `the WAL file is back under the limit (${walSize(file)} bytes)`)
  const rows = database.sqlite.get<{ n: number }>(sql`select count(*) as n from filler`)
  t.equal(rows?.n, 3_000, 'every row is there')
})

t.test('writes in bursts: the WAL is checkpointed between them and does not grow with them', async (t) => {
  const file = tempFile(t)
  const limit = 2 * 1024 * 1024
  const database = sqliteOf(await openDatabase(`sqlite:${file}`, { walCheckpoint: { intervalMs: 20, maxWalBytes: limit } }))
  t.teardown(() => database.close())
  await database.checkpointer?.ready
  let largest = 0
  let oneBurst = 0
  const bursts = 10
  for (let burst = 0; burst < bursts; burst++) {
    writeMany(database, 400)
    if (burst === 0) oneBurst = walSize(file)
    largest = Math.max(largest, walSize(file))
    await new Promise((resolve) => setTimeout(resolve, 60))
  }
  t.ok(await until(() => walSize(file) <= limit), `the WAL file ends under the limit (${walSize(file)} bytes)`)
  // Ten bursts without a checkpoint would leave ten bursts' frames in the WAL.
  t.ok(largest <= (bursts / 2) * oneBurst, `the WAL never held more than a few bursts (largest ${largest} bytes, one burst ${oneBurst})`)
  t.ok(database.checkpointer!.checkpoints >= 2, `checkpointed ${database.checkpointer!.checkpoints} times`)
})

t.test('a writer that never pauses for long: the WAL is restarted by force past its size, so it stays bounded', async (t) => {
  const file = tempFile(t)
  const limit = 2 * 1024 * 1024
  const database = sqliteOf(await openDatabase(`sqlite:${file}`, { walCheckpoint: { intervalMs: 20, maxWalBytes: limit } }))
  t.teardown(() => database.close())
  await database.checkpointer?.ready
  writeMany(database, 1)
  const client = rawClient(database)
  const insert = client.prepare('insert into filler (body) values (?)')
  // The gateway's pattern: a batch transaction every few ms (usage rows), never a pause long enough for a
  // PASSIVE checkpoint to finish between two commits.
  const batch = client.transaction((rows: number) => {
    for (let i = 0; i < rows; i++) insert.run(Buffer.alloc(2_000, 1))
  })
  let largest = 0
  let frames = 0
  const until = performance.now() + 1_500
  while (performance.now() < until) {
    batch(20)
    frames += 21
    largest = Math.max(largest, walSize(file))
    await new Promise((resolve) => setTimeout(resolve, 2))
  }
  const checkpointer = database.checkpointer!
  t.ok(checkpointer.restarts > 0, `forced restarts: ${checkpointer.restarts}`)
  // Without them the WAL would hold every frame written (about one page per row, plus the commit's).
  const unchecked = frames * (4096 + 24)
  t.ok(largest < unchecked / 3, `the WAL stayed bounded (largest ${largest} bytes; about ${unchecked} without restarts)`)
})

t.test('close() stops the thread and closes both connections', async (t) => {
  const file = tempFile(t)
  const database = sqliteOf(await openDatabase(`sqlite:${file}`, { walCheckpoint: { intervalMs: 20 } }))
  writeMany(database, 100)
  const checkpointer = database.checkpointer
  t.ok(checkpointer?.isRunning)
  await database.close()
  t.equal(checkpointer?.isRunning, false, 'the worker has exited')
  t.equal(rawClient(database).open, false)
  t.equal(walSize(file), 0, 'the last connection to close removed the WAL')
  await database.close()
  t.pass('closing twice is harmless')
})

t.test('walCheckpoint: false keeps SQLite’s own auto-checkpoint and starts no thread', async (t) => {
  const file = tempFile(t)
  const database = sqliteOf(await openDatabase(`sqlite:${file}`, { walCheckpoint: false }))
  t.teardown(() => database.close())
  t.equal(database.checkpointer, undefined)
  t.equal(rawClient(database).pragma('wal_autocheckpoint', { simple: true }), 1000)
})

t.test(':memory: databases have no WAL and no checkpointer', async (t) => {
  const database = sqliteOf(await openDatabase('sqlite::memory:'))
  t.teardown(() => database.close())
  t.equal(database.checkpointer, undefined)
  writeMany(database, 10)
  t.equal(database.sqlite.get<{ n: number }>(sql`select count(*) as n from filler`)?.n, 10)
})

t.test('a checkpointer thread that dies hands checkpoints back to SQLite (the WAL never grows unchecked)', async (t) => {
  const file = tempFile(t)
  const errors: Error[] = []
  const database = sqliteOf(await openDatabase(`sqlite:${file}`, { walCheckpoint: { intervalMs: 20, onError: (err) => errors.push(err) } }))
  t.teardown(() => database.close())
  // Stands in for a crash: the thread ends without stop().
  await (database.checkpointer as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate()
  t.ok(await until(() => rawClient(database).pragma('wal_autocheckpoint', { simple: true }) === 1000))
  t.equal(database.checkpointer?.isRunning, false)
})

t.test('the app: a file database runs the checkpointer; closing the app stops it', async (t) => {
  const { sqliteBackend } = await import('../support/backends.js')
  const { buildApp } = await import('../support/build-app.js')
  const built = await buildApp(t, sqliteBackend)
  const database = sqliteOf(built.app.db)
  const checkpointer = database.checkpointer
  t.ok(checkpointer?.isRunning)
  t.equal(rawClient(database).pragma('wal_autocheckpoint', { simple: true }), 0)
  await built.close()
  t.equal(checkpointer?.isRunning, false)
})
