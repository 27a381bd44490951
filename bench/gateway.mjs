// The gateway under test: the built dist/src/server.js as its own process, on a throw-away SQLite file or a
// fresh MySQL database (dropped at the end) with Redis, set up through the admin REST API the way an operator
// would: log in as root, a channel pointing at the upstream, a price for the model, quota, a relay key.
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, openSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import mysql from 'mysql2/promise'
import { findPid, freePort, onCleanup, startProcess, waitHttp } from './procs.mjs'

export const SERVER_ENTRY = fileURLToPath(new URL('../dist/src/server.js', import.meta.url))
export const MODEL = 'bench-model'
const ADMIN_PASSWORD = 'bench-admin-password'
const STATEMENTS_METRIC = 'nexus_db_statements_total'

/**
 * kind 'sqlite' (in-process cache) or 'mysql' (with Redis; needs mysqlUrl and redisUrl). `upstreamUrl` may be a
 * promise: the gateway starts while the upstream does, and needs it only for its channel.
 * Returns { label, url, pid, key, statements(), billing(), logSummary(), dbPids }.
 */
export async function startGateway(kind, { tmpDir, upstreamUrl, mysqlUrl, redisUrl }) {
  if (!existsSync(SERVER_ENTRY)) throw new Error(`${SERVER_ENTRY} is missing: run npm run build`)
  const dir = join(tmpDir, `gateway-${kind}`)
  mkdirSync(dir, { recursive: true })
  const env = {
    PORT: String(await freePort()),
    HOST: '127.0.0.1',
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    ADMIN_USERNAME: 'root',
    ADMIN_PASSWORD,
    // Explicit secrets: otherwise the gateway writes generated ones into ./data of its working folder.
    JWT_SECRET: randomBytes(32).toString('base64url'),
    ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    DATABASE_URL: `sqlite:${join(dir, 'nexus.db')}`,
    REDIS_URL: '',
  }
  let statementsSource = 'n/a'
  let mysqlAdmin = null
  if (kind === 'mysql') {
    const database = await createMysqlDatabase(mysqlUrl)
    mysqlAdmin = database.admin
    env.DATABASE_URL = database.url
    env.REDIS_URL = redisUrl
  }
  const log = join(dir, 'gateway.log')
  const logFd = openSync(log, 'a')
  const extraFlags = (process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean)
  const child = startProcess(`gateway (${kind})`, process.execPath, [...extraFlags, SERVER_ENTRY], {
    env, cwd: dir, stdio: ['ignore', logFd, logFd],
  })
  const url = `http://127.0.0.1:${env.PORT}`
  try {
    await waitHttp(`${url}/healthz`, child, 300)
  } catch (err) {
    throw new Error(`gateway (${kind}) did not start: ${err.message}\n${tailOf(log)}`)
  }

  const api = adminApi(url)
  const { access_token: admin } = await api('POST', '/api/auth/login', null, { username: 'root', password: ADMIN_PASSWORD })
  await api('POST', '/api/channel', admin, { name: 'bench', key: 'ok-bench-key-0123456789', base_url: await upstreamUrl, models: [MODEL] })
  await api('PUT', `/api/pricing/${MODEL}`, admin, { input_per_1m: 2, output_per_1m: 8 })
  const self = await api('GET', '/api/user/self', admin)
  await api('POST', `/api/user/${self.id}/quota`, admin, { delta: 1e12, remark: 'bench' })
  const { key } = await api('POST', '/api/token', admin, { name: 'bench' })

  const metricsText = async () => {
    const res = await fetch(`${url}/metrics`)
    return res.ok ? res.text() : ''
  }
  // The TYPE line: a labelled counter has no sample line until it is first incremented.
  if (new RegExp(`^# TYPE ${STATEMENTS_METRIC} `, 'm').test(await metricsText())) statementsSource = 'metric'
  else if (mysqlAdmin) statementsSource = 'questions'

  const loopback = kind === 'mysql' && ['127.0.0.1', 'localhost', '::1'].includes(new URL(mysqlUrl).hostname)
  return {
    kind,
    label: kind === 'sqlite' ? 'gateway SQLite + memory' : 'gateway MySQL + Redis',
    url,
    pid: child.pid,
    child,
    key,
    statementsSource,
    /** Database statements so far, from the gateway's own counter, else MariaDB's global `Questions`. */
    async statements() {
      if (statementsSource === 'metric') return sumMetric(await metricsText(), STATEMENTS_METRIC)
      if (statementsSource === 'questions') {
        const [rows] = await mysqlAdmin.query("SHOW GLOBAL STATUS LIKE 'Questions'")
        return Number(rows[0].Value)
      }
      return null
    },
    /** The root user's request count and used quota (every bench request is billed to it). */
    async billing() {
      const me = await api('GET', '/api/user/self', admin)
      return { requests: me.request_count, quota: me.used_quota }
    },
    /** Warnings and errors the gateway logged (pino JSON lines; level 40 = warn, 50 = error, 60 = fatal). */
    logSummary: () => summariseLog(log),
    /** MariaDB and Redis processes when they run on this machine (their CPU is reported beside the gateway's). */
    dbPids: loopback ? { mariadb: findPid(['mariadbd', 'mysqld']), redis: findPid(['redis-server']) } : {},
  }
}

async function createMysqlDatabase(mysqlUrl) {
  const server = new URL(mysqlUrl)
  server.pathname = '/'
  const name = `nexus_bench_${randomBytes(5).toString('hex')}`
  const admin = await mysql.createConnection({ uri: server.toString() })
  await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4`)
  onCleanup(async () => {
    try {
      await admin.query(`DROP DATABASE IF EXISTS \`${name}\``)
    } finally {
      await admin.end()
    }
  })
  const url = new URL(server)
  url.pathname = `/${name}`
  return { url: url.toString(), admin }
}

function adminApi(base) {
  return async function api(method, path, token, body) {
    const res = await fetch(base + path, {
      method,
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const text = await res.text()
    if (res.status >= 300) throw new Error(`${method} ${path} → ${res.status} ${text}`)
    return text ? JSON.parse(text) : undefined
  }
}

function sumMetric(text, name) {
  let sum = 0
  for (const line of text.split('\n')) {
    if (line.startsWith(name) && (line[name.length] === ' ' || line[name.length] === '{')) sum += Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return sum
}

function summariseLog(file) {
  const out = { warnings: 0, errors: 0, samples: [] }
  let text = ''
  try { text = readFileSync(file, 'utf8') } catch { return out }
  const seen = new Set()
  for (const line of text.split('\n')) {
    if (!line.trim()) continue
    let level = 50
    let msg = line
    try {
      const entry = JSON.parse(line)
      level = entry.level
      msg = `${entry.msg ?? ''}${entry.err?.message ? `: ${entry.err.message}` : ''}`
    } catch {}
    if (level >= 50) out.errors++
    else if (level >= 40) out.warnings++
    else continue
    const sample = `${level >= 50 ? 'error' : 'warn'}: ${msg.slice(0, 160)}`
    if (!seen.has(sample) && seen.size < 5) {
      seen.add(sample)
      out.samples.push(sample)
    }
  }
  return out
}

function tailOf(file) {
  try { return readFileSync(file, 'utf8').slice(-1500) } catch { return '' }
}
