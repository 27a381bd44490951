import { mkdirSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import Sqlite from 'better-sqlite3'
import { sql } from 'drizzle-orm'
import { drizzle as drizzleSqlite, type BetterSQLite3Database } from 'drizzle-orm/better-sqlite3'
import { migrate as migrateSqlite } from 'drizzle-orm/better-sqlite3/migrator'
import { drizzle as drizzleMysql, type MySql2Database } from 'drizzle-orm/mysql2'
import { migrate as migrateMysql } from 'drizzle-orm/mysql2/migrator'
import mysql from 'mysql2/promise'
import * as mysqlSchema from './schema/mysql.js'
import * as sqliteSchema from './schema/sqlite.js'
import { migrationsFolder } from './paths.js'
import { WalCheckpointer, type WalCheckpointOptions } from './wal-checkpointer.js'

export type Schema = typeof sqliteSchema
export type MysqlSchema = typeof mysqlSchema
export type SqliteDb = BetterSQLite3Database<Schema>
export type MysqlDb = MySql2Database<MysqlSchema>

/**
 * Both dialects behind one handle (the Homarr approach). `db` and `t` are typed with the SQLite
 * schema for the query-builder calls the two dialects share (select / insert / update / delete,
 * awaited); at run time they are the dialect's own objects, with identical column keys.
 * Anything dialect-specific — above all the synchronous SQLite transaction vs MySQL's async
 * one — branches on `dialect` and uses `sqlite` / `mysql` (+ `mt`, the MySQL tables).
 */
interface Common {
  db: SqliteDb
  t: Schema
  ping(): Promise<boolean>
  close(): Promise<void>
}
export type Database = Common &
  (
    | {
        dialect: 'sqlite'
        sqlite: SqliteDb
        /** The background WAL checkpointer; absent for `:memory:` or when turned off. */
        checkpointer?: WalCheckpointer
      }
    | { dialect: 'mysql'; mysql: MysqlDb; mt: MysqlSchema }
  )

export interface OpenOptions {
  /**
   * SQLite files: checkpoint the WAL from a worker thread instead of inside commits on the event loop
   * (see wal-checkpointer.ts). On by default; `false` keeps SQLite's own auto-checkpoint.
   */
  walCheckpoint?: WalCheckpointOptions | false
}

export function dialectOf(url: string): 'sqlite' | 'mysql' {
  return url.startsWith('mysql://') ? 'mysql' : 'sqlite'
}

export async function openDatabase(url: string, opts: OpenOptions = {}): Promise<Database> {
  if (dialectOf(url) === 'mysql') return openMysql(url)
  return openSqlite(url.slice('sqlite:'.length), opts)
}

function openSqlite(file: string, opts: OpenOptions): Database {
  const inMemory = file === ':memory:' || file === ''
  if (!inMemory) mkdirSync(dirname(file), { recursive: true })
  const client = new Sqlite(file)
  client.pragma('journal_mode = WAL')
  client.pragma('synchronous = NORMAL')
  client.pragma('busy_timeout = 5000')
  // A memory database has no WAL (journal_mode stays 'memory'): nothing to checkpoint.
  let checkpointer: WalCheckpointer | undefined
  if (!inMemory && opts.walCheckpoint !== false && client.pragma('journal_mode', { simple: true }) === 'wal') {
    client.pragma('wal_autocheckpoint = 0')
    checkpointer = new WalCheckpointer(resolve(file), opts.walCheckpoint, () => {
      // The thread died: SQLite's own checkpoints come back rather than a WAL that grows forever.
      if (client.open) client.pragma('wal_autocheckpoint = 1000')
    })
  }
  const db = drizzleSqlite(client, { schema: sqliteSchema })
  return {
    dialect: 'sqlite',
    db,
    t: sqliteSchema,
    sqlite: db,
    checkpointer,
    async ping() {
      try {
        client.prepare('select 1').get()
        return true
      } catch {
        return false
      }
    },
    async close() {
      // The worker's connection goes first, so the main one closes last and removes the WAL.
      await checkpointer?.stop()
      if (client.open) client.close()
    },
  }
}

async function openMysql(url: string): Promise<Database> {
  await ensureMysqlDatabase(url)
  const pool = mysql.createPool({
    uri: url,
    connectionLimit: 20,
    // Dates travel as UTC; DECIMAL aggregates come back as strings and are converted by callers.
    timezone: 'Z',
    supportBigNumbers: true,
    enableKeepAlive: true,
  })
  pool.on('connection', (conn) => {
    conn.query("SET time_zone = '+00:00'")
  })
  const db = drizzleMysql(pool, { schema: mysqlSchema, mode: 'default' })
  return {
    dialect: 'mysql',
    db: db as unknown as SqliteDb,
    t: mysqlSchema as unknown as Schema,
    mysql: db,
    mt: mysqlSchema,
    async ping() {
      try {
        await db.execute(sql`select 1`)
        return true
      } catch {
        return false
      }
    },
    async close() {
      await pool.end()
    },
  }
}

/** Creates the database named in the URL when missing, so a bare MySQL server is enough. */
async function ensureMysqlDatabase(url: string): Promise<void> {
  const parsed = new URL(url)
  const name = decodeURIComponent(parsed.pathname.replace(/^\//, ''))
  if (!name) throw new Error('DATABASE_URL names no database')
  parsed.pathname = '/'
  const conn = await mysql.createConnection({ uri: parsed.toString() })
  try {
    await conn.query(`CREATE DATABASE IF NOT EXISTS \`${name.replace(/`/g, '``')}\` CHARACTER SET utf8mb4`)
  } finally {
    await conn.end()
  }
}

export async function runMigrations(database: Database): Promise<void> {
  if (database.dialect === 'sqlite') {
    migrateSqlite(database.sqlite, { migrationsFolder: migrationsFolder('sqlite') })
  } else {
    await migrateMysql(database.mysql, { migrationsFolder: migrationsFolder('mysql') })
  }
}

/** The id of a row just inserted, from either driver's result. */
export function insertedId(result: unknown): number {
  if (Array.isArray(result)) return Number((result[0] as { insertId: number | string }).insertId)
  return Number((result as { lastInsertRowid: number | bigint }).lastInsertRowid)
}

/** Rows matched by an UPDATE or DELETE, from either driver's result. */
export function affectedRows(result: unknown): number {
  if (Array.isArray(result)) return Number((result[0] as { affectedRows: number }).affectedRows)
  return Number((result as { changes: number }).changes)
}
