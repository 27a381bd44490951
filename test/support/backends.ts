import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mysql from 'mysql2/promise'

/**
 * The storage + cache pairs a suite runs on: SQLite + in-process cache always; MySQL + Redis
 * too when TEST_MYSQL_URL and TEST_REDIS_URL are set (CI sets both). Each backend gets its own
 * throw-away database and cache prefix, so test files can run in parallel.
 */
export interface Backend {
  name: 'sqlite+memory' | 'mysql+redis'
  /** A fresh database URL and cache prefix; `drop()` removes what it made. */
  provision(): Promise<Provisioned>
}

export interface Provisioned {
  databaseUrl: string
  redisUrl: string | undefined
  cachePrefix: string
  drop(): Promise<void>
}

const suffix = () => randomBytes(5).toString('hex')

export const sqliteBackend: Backend = {
  name: 'sqlite+memory',
  async provision() {
    const dir = mkdtempSync(join(tmpdir(), 'nexus-test-'))
    return {
      databaseUrl: `sqlite:${join(dir, 'nexus.db')}`,
      redisUrl: undefined,
      cachePrefix: `t-${suffix()}:`,
      async drop() {
        rmSync(dir, { recursive: true, force: true })
      },
    }
  },
}

export function mysqlBackend(mysqlUrl: string, redisUrl: string): Backend {
  return {
    name: 'mysql+redis',
    async provision() {
      const url = new URL(mysqlUrl)
      const base = url.pathname.replace(/^\//, '') || 'nexus_test'
      url.pathname = `/${base}_${suffix()}`
      const databaseUrl = url.toString()
      return {
        databaseUrl,
        redisUrl,
        cachePrefix: `t-${suffix()}:`,
        async drop() {
          const admin = new URL(databaseUrl)
          const name = admin.pathname.slice(1)
          admin.pathname = '/'
          const conn = await mysql.createConnection({ uri: admin.toString() })
          try {
            await conn.query(`DROP DATABASE IF EXISTS \`${name}\``)
          } finally {
            await conn.end()
          }
        },
      }
    },
  }
}

/** The backends this run covers, from the environment. */
export function backends(): Backend[] {
  const list: Backend[] = [sqliteBackend]
  const { TEST_MYSQL_URL, TEST_REDIS_URL } = process.env
  if (TEST_MYSQL_URL && TEST_REDIS_URL) list.push(mysqlBackend(TEST_MYSQL_URL, TEST_REDIS_URL))
  return list
}
