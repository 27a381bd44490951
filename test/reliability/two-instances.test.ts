// Two gateway PROCESSES (A and B, the built `node dist/src/server.js`) on one MySQL database and one Redis, with one
// fake upstream — scale-out as it is deployed (issue 13, item 6). What one instance does, the other honours:
//   1. a relay key disabled on A is refused on B within 1 s;
//   2. a circuit opened on A is honoured by B (B sends nothing to that channel and shows it open);
//   3. a partner top-up retried on B after A answered is a duplicate (credited once), a nonce is single-use on both;
//   4. a recharge code raced on both (25 tries on each) credits exactly once;
//   5. rate limits are shared: a key's rate_limit_rpm, the chat turns per minute, the recharge failure limit;
//   6. usage from both adds up to the unit: usage-log rows = answered requests, the user's and the key's quota
//      deducted = Σ row costs, while running and after both stop on SIGTERM (their credit leases returned).
// The server has no cache-prefix setting, so the two processes use a Redis logical database of their own
// (TWO_INSTANCE_REDIS_DB, default 5; never 0), flushed before and after.
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import mysql from 'mysql2/promise'
import t from 'tap'
import { fetch } from 'undici'
import { canonicalString, sign } from '../../src/external/signature.js'
import { mysqlBackend } from '../support/backends.js'
import { TEST_ENCRYPTION_KEY } from '../support/build-app.js'
import { startFakeUpstream } from '../support/fake-upstream.js'
import { jsonCall, skipUnlessBuilt, startGatewayProcess, type GatewayProcess } from '../support/gateway-process.js'

const { TEST_MYSQL_URL, TEST_REDIS_URL } = process.env
const REDIS_DB = Number(process.env.TWO_INSTANCE_REDIS_DB ?? 5)
const skip =
  skipUnlessBuilt ||
  (!(TEST_MYSQL_URL && TEST_REDIS_URL) && 'two instances need TEST_MYSQL_URL and TEST_REDIS_URL (one MySQL and one Redis shared)') ||
  (!(Number.isInteger(REDIS_DB) && REDIS_DB > 0) && 'TWO_INSTANCE_REDIS_DB must be a Redis database other than 0')

const ADMIN_PASSWORD = 'two-instances-password'
const PARTNER_SECRET = 'two-instances-partner-secret'
const CHAT_PER_MIN = 4
/** fake-upstream's usage (10 prompt, 20 completion tokens) at 1 / 2 USD per 1M, QUOTA_PER_USD 500000. */
const COST = Math.ceil(((10 + 2 * 20) / 1e6) * 500_000)
const LOAD_REQUESTS = 300
const LOAD_CLIENTS = 16

type Gateway = GatewayProcess
type Call = Awaited<ReturnType<typeof jsonCall>>

t.test('two gateway processes on one MySQL + Redis', { skip }, async (t) => {
  // Teardown in reverse order of set-up, in one place: processes gone before the database is dropped.
  const undo: Array<() => unknown> = []
  const own = { teardown: (fn: () => unknown) => void undo.push(fn) }
  t.teardown(async () => {
    for (const fn of undo.reverse()) {
      try {
        await fn()
      } catch (err) {
        t.comment(`teardown: ${String(err)}`)
      }
    }
  })

  const provisioned = await mysqlBackend(TEST_MYSQL_URL!, TEST_REDIS_URL!).provision()
  own.teardown(() => provisioned.drop())
  const redisUrl = new URL(TEST_REDIS_URL!)
  redisUrl.pathname = `/${REDIS_DB}`
  const redis = new Redis(redisUrl.toString(), { lazyConnect: true, maxRetriesPerRequest: 2 })
  await redis.connect()
  await redis.flushdb()
  own.teardown(async () => {
    await redis.flushdb()
    redis.disconnect()
  })
  const upstream = await startFakeUpstream()
  own.teardown(() => upstream.close())

  const env = {
    DATABASE_URL: provisioned.databaseUrl,
    REDIS_URL: redisUrl.toString(),
    JWT_SECRET: 'two-instances-jwt-secret-0123456789',
    ENCRYPTION_KEY: TEST_ENCRYPTION_KEY,
    ADMIN_USERNAME: 'root',
    ADMIN_PASSWORD,
    ROOT_INITIAL_QUOTA: '0',
    EXTERNAL_API_SECRET: PARTNER_SECRET,
    LOG_LEVEL: 'warn',
    CHAT_RATE_LIMIT_PER_MIN: String(CHAT_PER_MIN),
    // Three failures open a circuit, which stays open for the whole file; no background probing.
    CHANNEL_FAILURE_THRESHOLD: '3',
    CHANNEL_FAILURE_WINDOW_S: '60',
    CHANNEL_COOLDOWN_S: '300',
    CHANNEL_PROBE_INTERVAL_S: '0',
  }
  // Each its own data folder (its lease journal), as on two machines; A first, so one of them runs the migrations.
  const start = async (): Promise<Gateway> => {
    const cwd = mkdtempSync(join(tmpdir(), 'nexus-two-'))
    own.teardown(() => rmSync(cwd, { recursive: true, force: true }))
    return startGatewayProcess(own, cwd, { env, stdio: ['ignore', 'ignore', 'inherit'], connections: LOAD_CLIENTS * 2 })
  }
  const a = await start()
  const b = await start()
  const both = [a, b] as const

  const login = async (g: Gateway, username: string, password: string): Promise<string> => {
    const res = await jsonCall(g, 'POST', '/api/auth/login', undefined, { username, password })
    if (res.status !== 200) throw new Error(`login ${username}: ${res.status} ${JSON.stringify(res.body)}`)
    return res.body.access_token as string
  }
  const ok = (res: Call, status = 200): Call => {
    if (res.status !== status) throw new Error(`expected ${status}, got ${res.status}: ${JSON.stringify(res.body)}`)
    return res
  }
  const admin = await login(a, 'root', ADMIN_PASSWORD)
  const rootId = ok(await jsonCall(a, 'GET', '/api/user/self', admin)).body.id as number
  ok(await jsonCall(a, 'POST', `/api/user/${rootId}/quota`, admin, { delta: 1_000_000_000, remark: 'two instances' }))
  const model = 'two-model'
  ok(await jsonCall(a, 'PUT', `/api/pricing/${model}`, admin, { input_per_1m: '1', output_per_1m: '2' }))
  const channel = async (key: string, priority = 0): Promise<number> =>
    ok(await jsonCall(a, 'POST', '/api/channel', admin, { name: key, key, base_url: upstream.url, models: [model], priority }), 201).body.id
  await channel('ok-two-main')

  let seq = 0
  /** One relayed chat request; status, error code, and whether the client got the whole answer. */
  const relay = async (g: Gateway, key: string, stream = false): Promise<{ status: number; code?: string; complete: boolean; id: string }> => {
    const id = `two-${++seq}`
    const res = await fetch(`${g.base}/v1/chat/completions`, {
      dispatcher: g.client,
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'x-request-id': id },
      body: JSON.stringify({ model, stream, messages: [{ role: 'user', content: 'Say hello' }] }),
    })
    const text = await res.text()
    if (res.status !== 200) return { status: res.status, code: JSON.parse(text).error?.code, complete: false, id }
    const complete = stream ? text.trimEnd().endsWith('data: [DONE]') : JSON.parse(text).usage?.total_tokens === 30
    return { status: res.status, complete, id }
  }
  /** Polls until `check` holds or `ms` passed; the last value. */
  const until = async <T>(read: () => Promise<T>, check: (v: T) => boolean, ms = 3000, every = 20): Promise<T> => {
    const end = Date.now() + ms
    for (;;) {
      const v = await read()
      if (check(v) || Date.now() > end) return v
      await sleep(every)
    }
  }
  const newKey = async (g: Gateway, session: string, body: Record<string, unknown>) =>
    ok(await jsonCall(g, 'POST', '/api/token', session, body), 201).body as { id: number; key: string }
  // Both instances route the channel made on A before anything is measured.
  const routeKey = (await newKey(a, admin, { name: 'warm' })).key
  for (const g of both) t.equal((await until(() => relay(g, routeKey), (r) => r.status === 200)).status, 200, 'routes the new channel')

  t.test('a key disabled on A is refused on B within 1 s', async (t) => {
    const token = await newKey(a, admin, { name: 'to-disable' })
    // B has the key in its memory (and the shared tier): the case where a stale copy could keep it alive.
    t.equal((await relay(b, token.key)).status, 200, 'served on B')
    t.equal((await relay(a, token.key)).status, 200, 'served on A')
    const changed = Date.now()
    ok(await jsonCall(a, 'PATCH', `/api/token/${token.id}`, admin, { status: 'disabled' }))
    let last: Awaited<ReturnType<typeof relay>> | undefined
    let elapsed = 0
    while (Date.now() - changed < 3000) {
      last = await relay(b, token.key)
      elapsed = Date.now() - changed
      if (last.status === 401) break
      await sleep(50)
    }
    t.equal(last?.status, 401, 'B refuses it')
    t.equal(last?.code, 'token_disabled', 'as token_disabled')
    t.ok(elapsed < 1000, `within 1 s (${elapsed} ms)`)
    t.equal((await relay(a, token.key)).code, 'token_disabled', 'and A, of course')
    ok(await jsonCall(b, 'PATCH', `/api/token/${token.id}`, admin, { status: 'enabled' }))
    t.equal((await until(() => relay(a, token.key), (r) => r.status === 200, 1000, 50)).status, 200, 're-enabled on B → served on A')
  })

  t.test('a circuit opened on A is honoured by B', async (t) => {
    const flakyKey = 'ok-two-flaky'
    const flaky = await channel(flakyKey, 10)
    // Both send to it while it is healthy: B knows the channel and would pick it first.
    for (const g of both) {
      const before = upstream.countFor(flakyKey)
      await until(() => relay(g, routeKey), () => upstream.countFor(flakyKey) > before)
      t.ok(upstream.countFor(flakyKey) > before, `${g === a ? 'A' : 'B'} routes to the new channel`)
    }
    upstream.setStatus(flakyKey, 500)
    const sent = upstream.countFor(flakyKey)
    for (let i = 0; i < 3; i++) t.equal((await relay(a, routeKey)).status, 200, 'A fails over to the other channel')
    t.equal(upstream.countFor(flakyKey), sent + 3, 'three failures on A')
    const circuitOn = (g: Gateway) => jsonCall(g, 'GET', `/api/channel/${flaky}`, admin).then((r) => r.body.circuit as string)
    t.equal(await until(() => circuitOn(a), (s) => s === 'open'), 'open', 'A opened it')
    t.equal(await until(() => circuitOn(b), (s) => s === 'open', 1000), 'open', "B's channel output shows it open")
    const metrics = await fetch(`${b.base}/metrics`, { dispatcher: b.client }).then((r) => r.text())
    t.match(metrics, new RegExp(`^nexus_channel_circuit_state\\{channel="${flaky}"\\} 1$`, 'm'), "and B's /metrics")
    const onB = await Promise.all(Array.from({ length: 10 }, () => relay(b, routeKey)))
    t.same(onB.map((r) => r.status), Array(10).fill(200), 'B answers from the other channel')
    t.equal(upstream.countFor(flakyKey), sent + 3, 'B sent nothing to the open channel')
    // Out of the way of the cases below: disabled (an open circuit would still be tried if it were the only one).
    ok(await jsonCall(a, 'PATCH', `/api/channel/${flaky}`, admin, { status: 'disabled' }))
    upstream.setStatus(flakyKey, null)
  })

  t.test('a partner top-up retried on B after A answered is a duplicate', async (t) => {
    /** A signed partner request as a partner's client sends it; the headers too, to replay them. */
    const partner = async (g: Gateway, method: 'GET' | 'POST', path: string, body?: unknown, replay?: Record<string, string>) => {
      const raw = body === undefined ? '' : JSON.stringify(body)
      const timestamp = String(Math.floor(Date.now() / 1000))
      const nonce = randomBytes(12).toString('hex')
      const headers = replay ?? {
        'x-timestamp': timestamp,
        'x-nonce': nonce,
        'x-signature': sign(PARTNER_SECRET, canonicalString({ method, path, timestamp, nonce, body: raw })),
      }
      const res = await fetch(g.base + path, {
        dispatcher: g.client,
        method,
        headers: { ...headers, ...(raw ? { 'content-type': 'application/json' } : {}) },
        body: raw || undefined,
      })
      const text = await res.text()
      return { status: res.status, body: text ? JSON.parse(text) : undefined, headers }
    }
    t.equal((await partner(a, 'POST', '/api/user/external/sync', { external_user_id: 'ext-two' })).status, 201, 'synced on A')
    const pay = { external_user_id: 'ext-two', amount_usd: '2', payment_id: 'pay-two-1' }
    const first = await partner(a, 'POST', '/api/user/external/topup', pay)
    const credited = { external_user_id: 'ext-two', payment_id: 'pay-two-1', amount_usd: '2', added_quota: 1_000_000, quota: 1_000_000, duplicate: false }
    t.same(first.body, credited, 'A credits it')
    const retry = await partner(b, 'POST', '/api/user/external/topup', pay)
    t.equal(retry.status, 200, 'the retry on B: 200')
    t.same(retry.body, { ...first.body, duplicate: true }, 'B: duplicate, the original added_quota, nothing added')
    const conflict = await partner(b, 'POST', '/api/user/external/topup', { ...pay, amount_usd: '3' })
    t.equal(conflict.status, 409, 'another amount under that payment_id on B')
    t.equal(conflict.body.error.code, 'payment_id_conflict', 'payment_id_conflict')
    const replayed = await partner(b, 'POST', '/api/user/external/topup', pay, first.headers)
    t.equal(replayed.status, 401, "A's signed request replayed on B")
    t.equal(replayed.body.error.code, 'nonce_reused', 'nonce_reused: nonces are shared')

    // Retries racing on both: one credit.
    const race = { external_user_id: 'ext-two', amount_usd: '0.5', payment_id: 'pay-two-race' }
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => partner(both[i % 2]!, 'POST', '/api/user/external/topup', race)))
    t.same(answers.map((r) => r.status), Array(20).fill(200), '20 concurrent retries of another payment, over A and B: all 200')
    t.equal(answers.filter((r) => r.body.duplicate === false).length, 1, 'one credit among 20 concurrent tries')
    const user = await partner(b, 'GET', '/api/user/external/ext-two')
    t.equal(user.body.quota, 1_250_000, 'credited once per payment')
    const topups = await partner(a, 'GET', '/api/user/external/ext-two/topups')
    t.equal(topups.body.total, 2, 'two ledger rows')
  })

  // Users registered through the API (split over both instances), each with a session from the other one.
  const users = async (n: number, tag: string): Promise<Array<{ id: number; session: string }>> =>
    Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const username = `${tag}${i}${randomBytes(3).toString('hex')}`
        const password = `pw-${username}`
        const made = ok(await jsonCall(both[i % 2]!, 'POST', '/api/auth/register', undefined, { username, password }), 201)
        return { id: made.body.id as number, session: await login(both[(i + 1) % 2]!, username, password) }
      }),
    )

  t.test('a recharge code raced on both instances credits exactly once', async (t) => {
    const code = ok(await jsonCall(a, 'POST', '/api/redemption', admin, { name: 'race', amount_usd: '3', count: 1 }), 201).body.codes[0] as string
    // 10 users × 5 tries (the failure limit is 5 per user): 25 tries on each instance, all at once.
    const racers = await users(10, 'race')
    const tries = racers.flatMap((user, u) => Array.from({ length: 5 }, (_, i) => ({ user, g: both[(u * 5 + i) % 2]! })))
    t.equal(tries.filter((x) => x.g === a).length, 25, '25 tries on A, 25 on B')
    const answers = await Promise.all(tries.map(({ user, g }) => jsonCall(g, 'POST', '/api/user/self/redeem', user.session, { code })))
    const won = answers.filter((r) => r.status === 200)
    t.equal(won.length, 1, 'one 200')
    t.equal(answers.filter((r) => r.status === 400 && r.body.error.code === 'invalid_code').length, 49, '49 × 400 invalid_code')
    t.same(won[0]?.body, { added_quota: 1_500_000, quota: 1_500_000 })
    const balances = await Promise.all(racers.map((u) => jsonCall(b, 'GET', '/api/user/self', u.session).then((r) => r.body.quota as number)))
    t.same(balances.sort((x, y) => y - x), [1_500_000, ...Array(9).fill(0)], 'credited once, to one user')
  })

  t.test('rate limits are shared', async (t) => {
    const limited = await newKey(b, admin, { name: 'rpm', rate_limit_rpm: 6 })
    const [chatter, guesser] = await users(2, 'limit')
    const conversation = ok(await jsonCall(a, 'POST', '/api/conversations', chatter!.session, { model }), 201).body.id as number
    ok(await jsonCall(a, 'POST', `/api/user/${chatter!.id}/quota`, admin, { delta: 1_000_000, remark: 'chat' }))
    // Fixed one-minute windows: start well inside one, so the key's and the chat's counts fall in the same window.
    const intoWindow = Date.now() % 60_000
    if (intoWindow > 50_000) await sleep(60_000 - intoWindow + 100)

    const statuses: number[] = []
    for (let i = 0; i < 10; i++) {
      const r = await relay(both[i % 2]!, limited.key)
      statuses.push(r.status)
      if (r.status === 429) t.equal(r.code, 'rate_limit_exceeded', `try ${i + 1}: rate_limit_exceeded`)
    }
    t.same(statuses, [...Array(6).fill(200), ...Array(4).fill(429)], "a key's 6 per minute, over A and B together")

    const turns: number[] = []
    for (let i = 0; i <= CHAT_PER_MIN; i++) {
      turns.push((await jsonCall(both[i % 2]!, 'POST', `/api/conversations/${conversation}/messages`, chatter!.session, { content: 'hi' })).status)
    }
    t.same(turns, [...Array(CHAT_PER_MIN).fill(201), 429], `${CHAT_PER_MIN} chat turns per minute, over A and B together`)

    const guesses: number[] = []
    for (let i = 0; i < 6; i++) {
      guesses.push((await jsonCall(both[i % 2]!, 'POST', '/api/user/self/redeem', guesser!.session, { code: `nxr-${'x'.repeat(32)}` })).status)
    }
    t.same(guesses, [400, 400, 400, 400, 400, 429], '5 failed recharge codes, over A and B together')
  })

  t.test('usage from both adds up exactly, also after both stop on SIGTERM', async (t) => {
    const [spender] = await users(1, 'spend')
    const GRANT = 50_000_000
    const KEY_QUOTA = 20_000_000
    ok(await jsonCall(a, 'POST', `/api/user/${spender!.id}/quota`, admin, { delta: GRANT, remark: 'load' }))
    const key = await newKey(b, spender!.session, { name: 'load', unlimited_quota: false, remain_quota: KEY_QUOTA })

    const db = await mysql.createConnection({ uri: provisioned.databaseUrl })
    t.teardown(() => db.end())
    const one = async (query: string, args: unknown[] = []) => ((await db.query(query, args)) as unknown as [Record<string, unknown>[]])[0][0]!
    const rows = async () => {
      const r = await one('select count(*) as n, coalesce(sum(quota), 0) as q, coalesce(max(quota), 0) as hi, coalesce(min(quota), 0) as lo from usage_logs where token_id = ?', [key.id])
      return { n: Number(r.n), quota: Number(r.q), max: Number(r.hi), min: Number(r.lo) }
    }
    const leaseInstances = async () =>
      Number((await one(`select count(distinct instance_id) as n from quota_leases where kind = 'user' and subject_id = ?`, [spender!.id])).n)

    /** `count` requests from LOAD_CLIENTS clients, alternating instance and stream / non-stream. */
    const load = async (count: number) => {
      const results: Array<Awaited<ReturnType<typeof relay>>> = []
      let next = 0
      let sampling = true
      let leasedOn = 0
      const sampler = (async () => {
        while (sampling) {
          leasedOn = Math.max(leasedOn, await leaseInstances())
          await sleep(25)
        }
      })()
      await Promise.all(
        Array.from({ length: LOAD_CLIENTS }, async () => {
          while (next < count) {
            const i = next++
            results.push(await relay(both[i % 2]!, key.key, i % 4 < 2))
          }
        }),
      )
      sampling = false
      await sampler
      return { results, leasedOn }
    }

    const phase1 = await load(LOAD_REQUESTS / 2)
    const answered1 = phase1.results.filter((r) => r.status === 200 && r.complete)
    t.equal(answered1.length, LOAD_REQUESTS / 2, 'every request answered in full')
    t.ok(phase1.leasedOn >= 1, `the busy user was served from credit leases (on ${phase1.leasedOn} instance(s) at once)`)
    const settled = await until(rows, (r) => r.n >= answered1.length, 10_000, 50)
    t.equal(settled.n, answered1.length, 'usage-log rows = 200 answers')
    t.same([settled.min, settled.max], [COST, COST], `each row costs ${COST}`)
    const self = ok(await jsonCall(a, 'GET', '/api/user/self', spender!.session)).body
    t.equal(self.used_quota, settled.quota, 'running: used_quota = Σ row costs')
    t.equal(self.quota + self.held_quota, GRANT - settled.quota, 'running: quota + held (leases of both) = grant − Σ row costs')
    const tokenNow = await one(`select t.remain_quota + coalesce(sum(l.amount), 0) as bal, t.used_quota as used from tokens t
      left join quota_leases l on l.kind = 'token' and l.subject_id = t.id where t.id = ? group by t.id`, [key.id])
    t.equal(Number(tokenNow.used), settled.quota, "running: the key's used_quota = Σ row costs")
    t.equal(Number(tokenNow.bal), KEY_QUOTA - settled.quota, "running: the key's remain + held = its quota − Σ row costs")

    // Second half, then SIGTERM to both at once while their leases are still out.
    const phase2 = await load(LOAD_REQUESTS / 2)
    const answered = [...answered1, ...phase2.results.filter((r) => r.status === 200 && r.complete)]
    t.equal(answered.length, LOAD_REQUESTS, 'every request answered in full')
    const outAtStop = Number((await one(`select count(*) as n from quota_leases where kind in ('user', 'token')`)).n)
    const stopped = Date.now()
    for (const g of both) g.child.kill('SIGTERM')
    const exits = await Promise.all(both.map((g) => g.exited))
    t.same(exits.map((e) => e.code), [0, 0], 'both exit 0')
    t.ok(Math.max(...exits.map((e) => e.at)) - stopped < 35_000, 'within 35 s')
    t.ok(outAtStop > 0, `leases were out when SIGTERM came (${outAtStop} rows)`)

    const final = await rows()
    t.equal(final.n, LOAD_REQUESTS, `usage-log rows = ${LOAD_REQUESTS} answers (${LOAD_REQUESTS / 2} on each instance)`)
    t.equal(final.quota, COST * LOAD_REQUESTS, 'Σ row costs, to the unit')
    const logged = new Set(
      ((await db.query('select request_id from usage_logs where token_id = ?', [key.id])) as unknown as [Array<{ request_id: string }>])[0].map((r) => r.request_id),
    )
    t.same(answered.filter((r) => !logged.has(r.id)), [], 'every answer has its row')
    t.equal(Number((await one('select count(*) as n from quota_leases')).n), 0, 'every lease returned, every watermark row gone')
    const user = await one('select quota, used_quota from users where id = ?', [spender!.id])
    t.equal(Number(user.used_quota), final.quota, "the user's used_quota = Σ row costs")
    t.equal(Number(user.quota), GRANT - final.quota, "the user's quota = grant − Σ row costs")
    const token = await one('select remain_quota, used_quota from tokens where id = ?', [key.id])
    t.equal(Number(token.used_quota), final.quota, "the key's used_quota = Σ row costs")
    t.equal(Number(token.remain_quota), KEY_QUOTA - final.quota, "the key's remain_quota = its quota − Σ row costs")
    const ledger = await one(`select coalesce(sum(quota), 0) as q from topups where user_id = ?`, [spender!.id])
    t.equal(Number(user.quota) + Number(user.used_quota), Number(ledger.q), 'quota + used_quota = Σ ledger')
  })
})
