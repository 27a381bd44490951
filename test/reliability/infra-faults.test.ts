// Infrastructure faults as real processes (issue 13, item 3; CONTRACT §6; README "Operations"). The BUILT gateway
// (`node dist/src/server.js`) runs as a child process against MySQL + Redis reached through TCP proxies of this
// test (tcp-fault-proxy.ts), so Redis can be "stopped" and MySQL "restarted" without touching the shared servers,
// under load from a bounded number of concurrent clients (streams and plain answers) against the fake upstream:
//   1. Redis down for ~3 s: every relay request is still answered 200 (README: relay keys already in memory keep
//      working, rate limits are not enforced meanwhile), /readyz says 503 `cache: false` while it is down and 200
//      again by itself within a few seconds of its return.
//   2. MySQL cut for ~3 s (every connection dropped, new ones refused): each request ends in a complete 200 or a
//      5xx in the OpenAI error shape — never a hang, a reset or a crash; no partial charge (every 200 has exactly
//      one usage row, no failed request costs anything, Σ usage-log cost = what left the user and the token); the
//      pool reconnects (requests after the return succeed); the process never exits.
//   3. SIGTERM with 20 slow streams in flight (SQLite + memory always, MySQL + Redis too when set): every stream
//      finishes through [DONE], new connections are refused, exit 0 within 35 s, every stream billed exactly.
// `kill -9` and restart is test/billing/lease-crash.test.ts (SQLite); case 4 here is the same on MySQL + Redis.
// Cases 1, 2 and 4 need TEST_MYSQL_URL and TEST_REDIS_URL.
import Database from 'better-sqlite3'
import { Redis } from 'ioredis'
import mysql from 'mysql2/promise'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import { Agent, fetch } from 'undici'
import { createBillingRepository, type SettleUnit } from '../../src/billing/repository.js'
import { openDatabase } from '../../src/db/client.js'
import { mysqlBackend, type Provisioned } from '../support/backends.js'
import { startFakeUpstream } from '../support/fake-upstream.js'
import { jsonCall, skipUnlessBuilt, startGatewayProcess, type Exit, type GatewayProcess } from '../support/gateway-process.js'
import { TcpFaultProxy } from '../support/tcp-fault-proxy.js'

const { TEST_MYSQL_URL, TEST_REDIS_URL } = process.env
const ADMIN_PASSWORD = 'infra-faults-password'
const WORKERS = 20
/** A request still unanswered after this long is a hang. */
const HANG_MS = 20_000
const OUTAGE_MS = 3_000
const CONTRACT_EXIT_MS = 35_000
const TOKEN_QUOTA = 500_000_000
const skipInfra = skipUnlessBuilt || (!(TEST_MYSQL_URL && TEST_REDIS_URL) && 'needs TEST_MYSQL_URL and TEST_REDIS_URL (MySQL + Redis behind proxies)')

interface Teardown {
  teardown(fn: () => unknown): void
}

/** The price the tests set: 2 / 8 USD per 1M tokens, at QUOTA_PER_USD 500,000. */
const costOf = (prompt: number, completion: number) => Math.ceil(((prompt * 2 + completion * 8) / 1e6) * 500_000)

// ---------------------------------------------------------------------------------------------------------------
// The deployment: MySQL and Redis behind proxies, or SQLite + memory in the data folder.

interface Deployment {
  env: Record<string, string>
  /** MySQL: the database's own URL (not through the proxy). */
  directUrl?: string
  mysqlProxy?: TcpFaultProxy
  redisProxy?: TcpFaultProxy
  /** SQL against the gateway's database (directly, never through the proxy). */
  query(sql: string, params?: unknown[]): Promise<Record<string, unknown>[]>
}

async function mysqlRedisDeployment(t: Teardown): Promise<Deployment> {
  const provisioned: Provisioned = await mysqlBackend(TEST_MYSQL_URL!, TEST_REDIS_URL!).provision()
  t.teardown(() => provisioned.drop())
  const mysqlTarget = new URL(TEST_MYSQL_URL!)
  const redisTarget = new URL(TEST_REDIS_URL!)
  const mysqlProxy = new TcpFaultProxy({ host: mysqlTarget.hostname, port: Number(mysqlTarget.port || 3306) })
  const redisProxy = new TcpFaultProxy({ host: redisTarget.hostname, port: Number(redisTarget.port || 6379) })
  await mysqlProxy.up()
  await redisProxy.up()
  t.teardown(() => mysqlProxy.down())
  t.teardown(() => redisProxy.down())
  // The gateway has no prefix setting of its own; ioredis takes `keyPrefix` from the URL, so this run's keys
  // cannot meet another run's on the shared Redis.
  const keyPrefix = `nexus-h-infra-${randomBytes(5).toString('hex')}:`
  const redisUrl = new URL(redisProxy.rewrite(TEST_REDIS_URL!))
  redisUrl.searchParams.set('keyPrefix', keyPrefix)
  t.teardown(async () => {
    const admin = new Redis(TEST_REDIS_URL!)
    const keys = await admin.keys(`${keyPrefix}*`)
    if (keys.length > 0) await admin.del(...keys)
    await admin.quit()
  })
  const conn = await mysql.createConnection({ uri: provisioned.databaseUrl.replace(/\/[^/]*$/, '/'), supportBigNumbers: true })
  t.teardown(() => conn.end())
  const database = new URL(provisioned.databaseUrl).pathname.slice(1)
  return {
    env: { DATABASE_URL: mysqlProxy.rewrite(provisioned.databaseUrl), REDIS_URL: redisUrl.toString() },
    directUrl: provisioned.databaseUrl,
    mysqlProxy,
    redisProxy,
    async query(sql, params = []) {
      await conn.query(`USE \`${database}\``)
      const [rows] = await conn.query(sql, params)
      return rows as Record<string, unknown>[]
    },
  }
}

function sqliteDeployment(cwd: string): Deployment {
  return {
    env: {},
    async query(sql, params = []) {
      const db = new Database(join(cwd, 'data', 'nexus.db'), { readonly: true, fileMustExist: true })
      try {
        return db.prepare(sql).all(...params) as Record<string, unknown>[]
      } finally {
        db.close()
      }
    },
  }
}

interface Gateway extends GatewayProcess {
  /** Its stdout and stderr, line by line (pino JSON at `warn` and above). */
  lines: string[]
}

async function startGateway(t: Teardown, cwd: string, deployment: Deployment): Promise<Gateway> {
  const lines: string[] = []
  const g = await startGatewayProcess(t, cwd, {
    env: { ADMIN_PASSWORD, LOG_LEVEL: 'warn', ROOT_INITIAL_QUOTA: '0', ...deployment.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    connections: WORKERS * 2,
  })
  for (const stream of [g.child.stdout, g.child.stderr]) {
    let rest = ''
    stream?.setEncoding('utf8')
    stream?.on('data', (text: string) => {
      const parts = (rest + text).split('\n')
      rest = parts.pop() ?? ''
      if (lines.length < 10_000) lines.push(...parts.filter(Boolean))
    })
  }
  return { ...g, lines }
}

interface Account {
  userId: number
  key: string
  tokenId: number
}

/** An admin session, a channel to `upstream`, a priced model, a balance and a limited relay key. */
async function provision(g: Gateway, upstream: string): Promise<Account> {
  const admin = (await jsonCall(g, 'POST', '/api/auth/login', undefined, { username: 'root', password: ADMIN_PASSWORD })).body.access_token
  await jsonCall(g, 'POST', '/api/channel', admin, { name: 'fake', key: 'ok-infra-000011112222', base_url: upstream, models: ['mock-model'] })
  await jsonCall(g, 'PUT', '/api/pricing/mock-model', admin, { input_per_1m: 2, output_per_1m: 8 })
  const self = (await jsonCall(g, 'GET', '/api/user/self', admin)).body
  const grant = await jsonCall(g, 'POST', `/api/user/${self.id}/quota`, admin, { delta: 1_000_000_000, remark: 'infra faults' })
  if (grant.status !== 200) throw new Error(`grant failed: ${grant.status}`)
  const token = (await jsonCall(g, 'POST', '/api/token', admin, { name: 'infra', unlimited_quota: false, remain_quota: TOKEN_QUOTA })).body
  return { userId: self.id, key: token.key, tokenId: token.id }
}

// ---------------------------------------------------------------------------------------------------------------
// Load: WORKERS clients in a loop, streams and plain answers mixed, each request bounded by HANG_MS.

interface Outcome {
  id: string
  stream: boolean
  startedAt: number
  endedAt: number
  /** HTTP status, or 'reset' (the connection failed) / 'hang' (no complete answer within HANG_MS). */
  status: number | 'reset' | 'hang'
  /** A 200 the client got all of: the JSON with its usage, or the stream through [DONE] with no error event. */
  complete: boolean
  /** A non-200 whose body is OpenAI's error object. */
  errorShape: boolean
  body: string
}

const chat = (g: Gateway, key: string, id: string, stream: boolean, signal?: AbortSignal) =>
  fetch(`${g.base}/v1/chat/completions`, {
    dispatcher: g.client,
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'x-request-id': id },
    body: JSON.stringify({ model: 'mock-model', stream, messages: [{ role: 'user', content: 'hi' }] }),
    signal,
  })

async function oneRequest(g: Gateway, key: string, id: string, stream: boolean): Promise<Outcome> {
  const startedAt = Date.now()
  const outcome: Outcome = { id, stream, startedAt, endedAt: 0, status: 'reset', complete: false, errorShape: false, body: '' }
  const deadline = AbortSignal.timeout(HANG_MS)
  try {
    const res = await chat(g, key, id, stream, deadline)
    outcome.body = await res.text()
    outcome.status = res.status
    if (res.status === 200) {
      outcome.complete = stream
        ? outcome.body.trimEnd().endsWith('data: [DONE]') && !outcome.body.includes('"error"')
        : isRecord(parse(outcome.body)?.usage)
    } else {
      const error = parse(outcome.body)?.error
      outcome.errorShape = isRecord(error) && typeof error.message === 'string' && typeof error.type === 'string'
    }
  } catch (err) {
    outcome.status = deadline.aborted ? 'hang' : 'reset'
    outcome.body = String(err)
  }
  outcome.endedAt = Date.now()
  return outcome
}

function parse(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text)
    return isRecord(value) ? value : undefined
  } catch {
    return undefined
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** Runs the load until `stop()` is called (or `max` requests); resolves with every outcome. */
function startLoad(g: Gateway, key: string, tag: string, max = 3_000): { outcomes: Outcome[]; stop(): Promise<Outcome[]> } {
  const outcomes: Outcome[] = []
  let stopped = false
  let seq = 0
  const worker = async (w: number) => {
    while (!stopped && seq < max) {
      const n = seq++
      outcomes.push(await oneRequest(g, key, `${tag}-${w}-${n}`, n % 2 === 0))
      await sleep(10)
    }
  }
  const running = Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)))
  return {
    outcomes,
    async stop() {
      stopped = true
      await running
      return outcomes
    },
  }
}

/** Polls until `check` is true, every 100 ms, for at most `ms`; how long it took, or null. */
async function within(ms: number, check: () => Promise<boolean>): Promise<number | null> {
  const start = Date.now()
  while (Date.now() - start < ms) {
    if (await check()) return Date.now() - start
    await sleep(100)
  }
  return null
}

interface Ready {
  at: number
  status: number
  database?: boolean
  cache?: boolean
}

async function readyz(g: Gateway): Promise<Ready> {
  const at = Date.now()
  try {
    const res = await fetch(`${g.base}/readyz`, { dispatcher: g.client, signal: AbortSignal.timeout(5_000) })
    const body = parse(await res.text()) ?? {}
    return { at, status: res.status, database: body.database as boolean, cache: body.cache as boolean }
  } catch {
    return { at, status: 0 }
  }
}

/** Polls /readyz every 200 ms until stopped. */
function watchReady(g: Gateway): { seen: Ready[]; stop(): Promise<Ready[]> } {
  const seen: Ready[] = []
  let stopped = false
  const running = (async () => {
    while (!stopped) {
      seen.push(await readyz(g))
      await sleep(200)
    }
  })()
  return {
    seen,
    async stop() {
      stopped = true
      await running
      return seen
    },
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Money: read after the load, once the leases have gone back (2 s idle).

interface Money {
  userQuota: number
  userUsed: number
  topups: number
  tokenRemain: number
  tokenUsed: number
  leased: number
  /** request id → its usage rows' costs. */
  rows: Map<string, { quota: number; prompt: number; completion: number }[]>
  logged: number
  loggedForToken: number
}

async function readMoney(d: Deployment, a: Account): Promise<Money> {
  const one = async (sql: string, params: unknown[]) => (await d.query(sql, params))[0] ?? {}
  const user = await one('select quota, used_quota from users where id = ?', [a.userId])
  const token = await one('select remain_quota, used_quota from tokens where id = ?', [a.tokenId])
  const topups = await one('select coalesce(sum(quota), 0) as q from topups where user_id = ?', [a.userId])
  const leases = await one(`select coalesce(sum(amount), 0) as q from quota_leases where kind in ('user', 'token')`, [])
  const rows = new Map<string, { quota: number; prompt: number; completion: number }[]>()
  let logged = 0
  let loggedForToken = 0
  for (const r of await d.query('select request_id, token_id, quota, prompt_tokens, completion_tokens from usage_logs where user_id = ?', [a.userId])) {
    const id = String(r.request_id)
    const row = { quota: Number(r.quota), prompt: Number(r.prompt_tokens), completion: Number(r.completion_tokens) }
    rows.set(id, [...(rows.get(id) ?? []), row])
    logged += row.quota
    if (Number(r.token_id) === a.tokenId) loggedForToken += row.quota
  }
  return {
    userQuota: Number(user.quota),
    userUsed: Number(user.used_quota),
    topups: Number(topups.q),
    tokenRemain: Number(token.remain_quota),
    tokenUsed: Number(token.used_quota),
    leased: Number(leases.q),
    rows,
    logged,
    loggedForToken,
  }
}

/** Waits for the leases to go back (they do after 2 s without use), then checks the money against the outcomes. */
async function checkMoney(t: Test, d: Deployment, a: Account, outcomes: readonly Outcome[]): Promise<void> {
  let money = await readMoney(d, a)
  await within(15_000, async () => (money = await readMoney(d, a)).leased === 0)
  t.equal(money.leased, 0, 'every credit lease went back to the balance')
  // Read once more: readMoney's queries are not one snapshot, and the idle sweep returns a user's lease and its
  // token's in two transactions, so the read that saw no lease left may have read the token before its return.
  money = await readMoney(d, a)
  t.equal(money.topups - money.userQuota, money.logged, `what left the user (${money.topups - money.userQuota}) = Σ usage-log cost`)
  t.equal(money.userUsed, money.logged, 'users.used_quota = Σ usage-log cost')
  t.equal(TOKEN_QUOTA - money.tokenRemain, money.loggedForToken, `what left the token (${TOKEN_QUOTA - money.tokenRemain}) = Σ its usage-log cost`)
  t.equal(money.tokenUsed, money.loggedForToken, 'tokens.used_quota = Σ its usage-log cost')
  const answered = outcomes.filter((o) => o.status === 200 && o.complete)
  const unbilled = answered.filter((o) => (money.rows.get(o.id) ?? []).length !== 1 || money.rows.get(o.id)![0]!.quota <= 0)
  t.same(unbilled.map((o) => `${o.id}: ${JSON.stringify(money.rows.get(o.id) ?? [])}`), [], `each of the ${answered.length} answered requests has exactly one charged usage row`)
  const wrong = answered.flatMap((o) => money.rows.get(o.id) ?? []).filter((r) => r.quota !== costOf(r.prompt, r.completion))
  t.same(wrong, [], 'each charged exactly its tokens at the price')
  const failedButCharged = outcomes.filter((o) => !(o.status === 200 && o.complete) && (money.rows.get(o.id) ?? []).some((r) => r.quota > 0))
  t.same(failedButCharged.map((o) => `${o.id} ${o.status}`), [], 'no request the client did not get costs anything')
  const doubled = [...money.rows].filter(([, rows]) => rows.length > 1).map(([id]) => id)
  t.same(doubled, [], 'no request has two usage rows')
}

function summary(outcomes: readonly Outcome[]): string {
  const counts = new Map<string, number>()
  for (const o of outcomes) {
    const k = `${o.status}${o.status === 200 && !o.complete ? ' incomplete' : ''}`
    counts.set(k, (counts.get(k) ?? 0) + 1)
  }
  return [...counts].map(([k, n]) => `${k}: ${n}`).join(', ')
}

const logsOf = (g: Gateway, match: string) => g.lines.filter((l) => l.includes(match))

// ---------------------------------------------------------------------------------------------------------------

t.test('MySQL + Redis through proxies: Redis down, then MySQL restarted, under load', { skip: skipInfra }, async (t) => {
  const cwd = mkdtempSync(join(tmpdir(), 'nexus-infra-'))
  t.teardown(() => rmSync(cwd, { recursive: true, force: true }))
  const upstream = await startFakeUpstream({ chunks: 10, paceMs: 20 })
  t.teardown(() => upstream.close())
  const d = await mysqlRedisDeployment(t)
  const g = await startGateway(t, cwd, d)
  const account = await provision(g, upstream.url)
  t.equal((await readyz(g)).status, 200, 'ready before the faults')

  await t.test('Redis stopped for 3 s mid-load: every request answered 200, /readyz degraded, recovers by itself', async (t) => {
    const load = startLoad(g, account.key, 'redis')
    await within(5_000, async () => load.outcomes.length >= 50)
    const ready = watchReady(g)
    const cutAt = Date.now()
    await d.redisProxy!.down()
    await sleep(OUTAGE_MS)
    const servedDuringOutage = load.outcomes.filter((o) => o.startedAt >= cutAt).length
    const restoredAt = Date.now()
    await d.redisProxy!.up()
    const recovered = await within(5_000, async () => (await readyz(g)).status === 200)
    await sleep(1_000)
    const outcomes = await load.stop()
    const seen = await ready.stop()
    t.comment(`${outcomes.length} requests (${servedDuringOutage} started during the outage): ${summary(outcomes)}`)

    t.ok(servedDuringOutage >= WORKERS, `the load went on during the outage (${servedDuringOutage} requests started)`)
    t.same(outcomes.filter((o) => !(o.status === 200 && o.complete)).map((o) => `${o.id} ${o.status} ${o.body.slice(0, 200)}`), [], 'every request was answered 200 in full')
    const degraded = seen.filter((r) => r.at >= cutAt && r.at < restoredAt)
    const firstDown = degraded.find((r) => r.status === 503)
    t.ok(firstDown && firstDown.at - cutAt <= 1_500, `/readyz answered 503 within 1.5 s of the cut (${firstDown ? firstDown.at - cutAt : '–'} ms)`)
    t.same(
      degraded.filter((r) => firstDown && r.at >= firstDown.at).filter((r) => !(r.status === 503 && r.database === true && r.cache === false)),
      [],
      'from then until Redis was back: 503 with database true, cache false',
    )
    t.not(recovered, null, `/readyz answered 200 again ${recovered} ms after Redis came back`)
    t.equal(g.child.exitCode, null, 'the process is running')
    t.equal(logsOf(g, 'redis unavailable').length > 0, true, 'the outage was logged')
    await checkMoney(t, d, account, outcomes)
  })

  await t.test('MySQL restarted mid-load (every connection cut, refused for 3 s): clean failures, no partial charge, reconnects', async (t) => {
    const load = startLoad(g, account.key, 'mysql')
    await within(5_000, async () => load.outcomes.length >= 50)
    const ready = watchReady(g)
    const acceptedBefore = d.mysqlProxy!.accepted
    const cutAt = Date.now()
    await d.mysqlProxy!.down()
    t.comment(`cut ${d.mysqlProxy!.dropped} MySQL connections`)
    await sleep(OUTAGE_MS)
    const restoredAt = Date.now()
    await d.mysqlProxy!.up()
    const recovered = await within(5_000, async () => (await readyz(g)).status === 200)
    await sleep(2_000)
    const outcomes = await load.stop()
    const seen = await ready.stop()
    t.comment(`${outcomes.length} requests: ${summary(outcomes)}`)

    const unclean = outcomes.filter((o) => !(o.status === 200 && o.complete) && !(typeof o.status === 'number' && o.status >= 500 && o.errorShape))
    t.same(unclean.map((o) => `${o.id} ${o.status} ${o.body.slice(0, 200)}`), [], 'every request ended in a complete 200 or a 5xx in the OpenAI error shape')
    t.ok(seen.some((r) => r.at >= cutAt && r.at < restoredAt && r.status === 503 && r.database === false), '/readyz answered 503 (database false) while MySQL was away')
    t.not(recovered, null, `/readyz answered 200 again ${recovered} ms after MySQL came back`)
    t.ok(d.mysqlProxy!.accepted > acceptedBefore, 'the pool opened new connections')
    const after = outcomes.filter((o) => o.startedAt >= restoredAt + 1_000)
    t.ok(after.length >= WORKERS, `${after.length} requests started a second after the return`)
    t.same(after.filter((o) => !(o.status === 200 && o.complete)).map((o) => `${o.id} ${o.status}`), [], 'and every one of them was answered 200')
    t.equal(g.child.exitCode, null, 'the process never exited')
    const unsettled = logsOf(g, 'settlement failed')
    t.same(unsettled.slice(0, 3), [], 'no settlement was given up')
    await checkMoney(t, d, account, outcomes)
  })

  // The settlement retry's guard: a batch whose connection dropped during COMMIT is looked up before it is written
  // again (src/billing/meter.ts), so a commit that did go through is never charged twice.
  await t.test('a settlement batch that reached the database is recognised as settled', async (t) => {
    const database = await openDatabase(d.directUrl!)
    t.teardown(() => database.close())
    const repo = createBillingRepository(database)
    const [row] = await d.query('select request_id, user_id, token_id, created_at from usage_logs where quota > 0 order by id desc limit 1')
    const log = { requestId: String(row!.request_id), userId: Number(row!.user_id), tokenId: Number(row!.token_id), createdAt: new Date(row!.created_at as Date) }
    const unit = (l: typeof log) => ({ log: l }) as unknown as SettleUnit
    t.equal(await repo.settledAlready([unit(log)]), true, 'its row is found')
    t.equal(await repo.settledAlready([unit({ ...log, createdAt: new Date(log.createdAt.getTime() + 1) })]), false, 'the same request id settled at another moment is not it')
    t.equal(await repo.settledAlready([unit(log), unit({ ...log, requestId: 'never-settled' })]), false, 'a batch is settled only when all of it is there')
  })

  g.child.kill('SIGTERM')
  const end = await Promise.race([g.exited, sleep(CONTRACT_EXIT_MS, null, { ref: false })])
  t.equal(end?.code, 0, 'exit 0 after both faults')
})

// ---------------------------------------------------------------------------------------------------------------

const STREAMS = 20
const SLOW_CHUNKS = 30

for (const backend of ['sqlite+memory', 'mysql+redis'] as const) {
  const skip = backend === 'sqlite+memory' ? skipUnlessBuilt : skipInfra
  t.test(`SIGTERM with ${STREAMS} slow streams in flight (${backend}): all finish, new connections refused, exit 0, all billed`, { skip }, async (t) => {
    const cwd = mkdtempSync(join(tmpdir(), 'nexus-infra-'))
    t.teardown(() => rmSync(cwd, { recursive: true, force: true }))
    // About 3 s per stream.
    const upstream = await startFakeUpstream({ chunks: SLOW_CHUNKS, paceMs: 100 })
    t.teardown(() => upstream.close())
    const d = backend === 'sqlite+memory' ? sqliteDeployment(cwd) : await mysqlRedisDeployment(t)
    const g = await startGateway(t, cwd, d)
    const account = await provision(g, upstream.url)

    // Every stream is open and has its first bytes before the signal.
    const streams = await Promise.all(
      Array.from({ length: STREAMS }, async (_, i) => {
        const id = `sigterm-${i}`
        const res = await chat(g, account.key, id, true)
        const reader = res.body!.getReader()
        const first = await reader.read()
        return { id, status: res.status, reader, text: Buffer.from(first.value ?? []).toString() }
      }),
    )
    t.same(streams.map((s) => s.status), Array(STREAMS).fill(200), 'every stream started')

    const sent = Date.now()
    g.child.kill('SIGTERM')
    const reading = Promise.all(
      streams.map(async (s) => {
        for (;;) {
          const { done, value } = await s.reader.read()
          if (done) return Date.now()
          s.text += Buffer.from(value).toString()
        }
      }),
    )
    // A new connection (not one of the streams' keep-alive ones) is refused once the listener is closed.
    let refusedAt: number | null = null
    let servedAfterSignal = 0
    for (let i = 0; i < 40 && refusedAt === null; i++) {
      const fresh = new Agent()
      try {
        const res = await fetch(`${g.base}/healthz`, { dispatcher: fresh, signal: AbortSignal.timeout(2_000) })
        await res.text()
        servedAfterSignal += 1
      } catch (err) {
        const code = (err as { cause?: { code?: string } }).cause?.code
        if (code === 'ECONNREFUSED') refusedAt = Date.now()
      } finally {
        await fresh.destroy()
      }
      await sleep(50)
    }
    const ended = await reading
    const lastStreamEnd = Math.max(...ended)
    t.ok(refusedAt !== null && refusedAt < lastStreamEnd, `a new connection was refused ${refusedAt === null ? 'never' : `${refusedAt - sent} ms after SIGTERM`}, while the streams still ran`)
    t.ok(servedAfterSignal <= 1, `at most one new connection got in before the listener closed (${servedAfterSignal})`)

    const unfinished = streams.filter((s) => !s.text.trimEnd().endsWith('data: [DONE]') || (s.text.match(/"content":"w\d+ "/g) ?? []).length !== SLOW_CHUNKS)
    t.same(unfinished.map((s) => `${s.id}: ${s.text.slice(-200)}`), [], `every stream finished: ${SLOW_CHUNKS} chunks and [DONE]`)

    const end = (await Promise.race([g.exited, sleep(CONTRACT_EXIT_MS, null, { ref: false })])) as Exit | null
    if (end === null) g.child.kill('SIGKILL')
    t.ok(end, 'exited within 35 s')
    t.equal(end?.code, 0, 'exit code 0')
    t.ok(end && end.at >= lastStreamEnd - 50, 'not before the last stream had finished')
    t.comment(`streams ended by ${lastStreamEnd - sent} ms, the process ${end ? end.at - sent : '–'} ms after SIGTERM`)

    const money = await readMoney(d, account)
    const rows = streams.map((s) => money.rows.get(s.id) ?? [])
    t.same(rows.map((r) => r.length), Array(STREAMS).fill(1), 'one usage row per stream')
    t.same(rows.map((r) => r[0]?.quota), Array(STREAMS).fill(costOf(10, SLOW_CHUNKS)), `each billed ${costOf(10, SLOW_CHUNKS)}: 10 prompt and ${SLOW_CHUNKS} completion tokens`)
    t.equal(money.leased, 0, 'every lease went back at the clean stop')
    t.equal(money.logged, STREAMS * costOf(10, SLOW_CHUNKS), 'nothing else was charged')
    t.equal(money.topups - money.userQuota, money.logged, 'what left the user = Σ usage-log cost')
    t.equal(money.userUsed, money.logged, 'users.used_quota = Σ usage-log cost')
    t.equal(TOKEN_QUOTA - money.tokenRemain, money.loggedForToken, 'what left the token = Σ its usage-log cost')
  })
}

// ---------------------------------------------------------------------------------------------------------------
// 4. kill -9 and restart. test/billing/lease-crash.test.ts proves the README's reconciliation on SQLite; the same
// on MySQL + Redis (where lease rows, the watermark and the replay go through the pool): every answer the client
// got is billed, the dead instance's leases come back less what its requests in flight held, and it serves again.

t.test('kill -9 under load on MySQL + Redis, restart: every answer billed, leases back, over-held at most the in-flight', { skip: skipInfra }, async (t) => {
  const cwd = mkdtempSync(join(tmpdir(), 'nexus-infra-'))
  t.teardown(() => rmSync(cwd, { recursive: true, force: true }))
  const upstream = await startFakeUpstream({ chunks: 8, paceMs: 15 })
  t.teardown(() => upstream.close())
  const d = await mysqlRedisDeployment(t)
  const first = await startGateway(t, cwd, d)
  const account = await provision(first, upstream.url)

  const load = startLoad(first, account.key, 'crash')
  const leased = await within(10_000, async () => load.outcomes.length >= 100 && Number((await d.query(`select count(*) as n from quota_leases where kind = 'user'`))[0]?.n) > 0)
  t.not(leased, null, 'the busy user was served from a credit lease')
  first.child.kill('SIGKILL')
  await first.exited
  const outcomes = await load.stop()
  const answered = outcomes.filter((o) => o.status === 200 && o.complete)
  t.ok(answered.length >= 100, `${answered.length} requests answered before the crash`)

  // Same data folder (the journal) and the same database URL (through the same proxy port).
  const second = await startGateway(t, cwd, d)
  const money = await readMoney(d, account)
  t.equal(money.leased, 0, "every lease of the dead instance was returned before serving")
  // As README "Crash safety, exactly" states: an answer whose last byte left in the kill's own event-loop turn has no
  // usage row (its settlement is journaled a turn later); its reservation, at least its cost, stays held instead.
  const unbilled = answered.filter((o) => !(money.rows.get(o.id) ?? []).some((r) => r.quota > 0))
  t.ok(unbilled.length <= WORKERS, `answers without a usage row: ${unbilled.length} ≤ the ${WORKERS} in flight`)
  const mostPerAnswer = Math.max(0, ...[...money.rows.values()].flat().map((r) => r.quota))
  t.same([...money.rows].filter(([, rows]) => rows.length > 1).map(([id]) => id), [], 'no settlement replayed twice')
  t.equal(money.userUsed, money.logged, 'users.used_quota = Σ usage-log cost')
  const overHeld = money.topups - money.userQuota - money.userUsed
  // As in lease-crash.test.ts: a request reserves its prompt bound and 4,096 completion tokens; at most one per client in flight.
  const perRequest = Math.ceil((100 * 2 + 4096 * 8) / 2)
  t.ok(overHeld >= unbilled.length * mostPerAnswer, `never under-charged: over-held ${overHeld} covers the ${unbilled.length} answers without a row`)
  t.ok(overHeld <= WORKERS * perRequest, `over-held ${overHeld}: at most the requests in flight at the crash (${WORKERS} × ${perRequest})`)
  t.equal(TOKEN_QUOTA - money.tokenRemain - money.tokenUsed, overHeld, 'the token is over-held by the same amount')
  const after = await oneRequest(second, account.key, 'after-restart', false)
  t.equal(after.status, 200, 'the restarted gateway serves')
  second.child.kill('SIGTERM')
  t.equal((await second.exited).code, 0, 'and stops cleanly')
})
