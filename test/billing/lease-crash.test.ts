// Crash safety of credit leases (issue 10 item 3): `kill -9` under load, restart, reconcile → never under-charged
// (every answer the client got is billed), over-held by at most what the requests in flight at the crash
// reserved, and every lease of the dead instance returned. Runs the built entry (`node dist/src/server.js`).
import Database from 'better-sqlite3'
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { fetch } from 'undici'
import { startFakeUpstream } from '../support/fake-upstream.js'
import { jsonCall, skipUnlessBuilt, startGatewayProcess, type GatewayProcess } from '../support/gateway-process.js'

const skip = skipUnlessBuilt
const ADMIN_PASSWORD = 'lease-crash-password'
const WORKERS = 24

type Gateway = GatewayProcess

function startGateway(t: { teardown(fn: () => unknown): void }, cwd: string): Promise<Gateway> {
  return startGatewayProcess(t, cwd, {
    env: { ADMIN_PASSWORD, LOG_LEVEL: 'warn', ROOT_INITIAL_QUOTA: '0' },
    stdio: ['ignore', 'ignore', 'inherit'],
    connections: WORKERS * 2,
  })
}

const json = jsonCall

t.test('kill -9 under load, restart: every answered request is billed, the leases come back, the ledger balances', { skip }, async (t) => {
  const cwd = mkdtempSync(join(tmpdir(), 'nexus-crash-'))
  t.teardown(() => rmSync(cwd, { recursive: true, force: true }))
  const upstream = await startFakeUpstream({ chunks: 8, paceMs: 15 })
  t.teardown(() => upstream.close())
  const first = await startGateway(t, cwd)
  const admin = (await json(first, 'POST', '/api/auth/login', undefined, { username: 'root', password: ADMIN_PASSWORD })).body.access_token
  await json(first, 'POST', '/api/channel', admin, { name: 'fake', key: 'ok-crash-000011112222', base_url: upstream.url, models: ['mock-model'] })
  await json(first, 'PUT', '/api/pricing/mock-model', admin, { input_per_1m: 2, output_per_1m: 8 })
  const self = (await json(first, 'GET', '/api/user/self', admin)).body
  t.equal((await json(first, 'POST', `/api/user/${self.id}/quota`, admin, { delta: 50_000_000, remark: 'crash test' })).status, 200)
  const key = (await json(first, 'POST', '/api/token', admin, { name: 'crash' })).body.key

  // Load: WORKERS clients in a loop, streams and plain answers mixed; an id counts as answered only when the
  // client got all of it (the whole JSON, or the stream through [DONE]).
  const answered: string[] = []
  let stop = false
  let seq = 0
  const worker = async (w: number) => {
    while (!stop) {
      const id = `crash-${w}-${seq++}`
      const stream = seq % 2 === 0
      try {
        const res = await fetch(`${first.base}/v1/chat/completions`, {
          dispatcher: first.client,
          method: 'POST',
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'x-request-id': id },
          body: JSON.stringify({ model: 'mock-model', stream, messages: [{ role: 'user', content: 'hi' }] }),
        })
        const text = await res.text()
        if (res.status === 200 && (stream ? text.trimEnd().endsWith('data: [DONE]') : text.includes('"usage"'))) answered.push(id)
      } catch {
        return // the gateway is gone
      }
    }
  }
  const load = Array.from({ length: WORKERS }, (_, w) => worker(w))

  // Wait until leases are out (the load is busy enough) and some answers are in, then kill -9.
  const dbFile = join(cwd, 'data', 'nexus.db')
  const peek = new Database(dbFile, { readonly: true, fileMustExist: true })
  let leased = 0
  for (let i = 0; i < 100 && (leased === 0 || answered.length < 100); i++) {
    await sleep(50)
    leased = Number((peek.prepare(`select count(*) as n from quota_leases where kind = 'user'`).get() as { n: number }).n)
  }
  peek.close()
  t.ok(leased > 0, 'the busy user was served from a credit lease')
  const journals = readdirSync(join(cwd, 'data', 'leases')).filter((f) => f.startsWith('lease-journal-'))
  t.equal(journals.length, 1, 'one lease journal')
  t.ok(statSync(join(cwd, 'data', 'leases', journals[0]!)).size > 0, 'the journal has entries')
  first.child.kill('SIGKILL')
  await first.exited
  stop = true
  await Promise.all(load)
  const answeredAtCrash = [...answered]
  t.ok(answeredAtCrash.length >= 100, `${answeredAtCrash.length} requests answered before the crash`)

  // Restart on the same data: the journal is replayed and the dead instance's leases returned before serving.
  const second = await startGateway(t, cwd)
  t.same(readdirSync(join(cwd, 'data', 'leases')).filter((f) => f.includes(journals[0]!.split('-').slice(3, 8).join('-'))), [], 'the old journal is gone')
  const db = new Database(dbFile, { readonly: true })
  t.teardown(() => db.close())
  const leases = db.prepare(`select count(*) as n from quota_leases`).get() as { n: number }
  t.equal(Number(leases.n), 0, "every lease of the dead instance was returned (and its watermark dropped)")
  const logged = new Set((db.prepare(`select request_id from usage_logs where quota > 0`).all() as { request_id: string }[]).map((r) => r.request_id))
  // An answer's settlement reaches the journal in the event-loop turn after its last byte went out: a kill inside
  // that turn leaves the answer without a usage row, and its reservation (≥ its cost) held instead — never less
  // money than the answer cost. At most one such answer per client in flight.
  const unbilled = answeredAtCrash.filter((id) => !logged.has(id))
  t.ok(unbilled.length <= WORKERS, `answers without a usage row: ${unbilled.length} ≤ the ${WORKERS} in flight`)
  const costs = db.prepare(`select coalesce(max(quota), 0) as most from usage_logs where user_id = ?`).get(self.id) as { most: number }
  const user = db.prepare(`select quota, used_quota from users where id = ?`).get(self.id) as { quota: number; used_quota: number }
  const logs = db.prepare(`select coalesce(sum(quota), 0) as q from usage_logs where user_id = ?`).get(self.id) as { q: number }
  const topups = db.prepare(`select coalesce(sum(quota), 0) as q from topups where user_id = ?`).get(self.id) as { q: number }
  t.equal(Number(user.used_quota), Number(logs.q), 'used_quota = Σ usage_logs.quota')
  const overHeld = Number(topups.q) - Number(user.quota) - Number(user.used_quota)
  // A request reserves its prompt bound and DEFAULT_COMPLETION_RESERVE (4,096) tokens: 4,096 × 8 / 2 plus a few
  // dozen for "hi". At most one per client was in flight.
  const perRequest = Math.ceil((100 * 2 + 4096 * 8) / 2)
  t.ok(overHeld >= unbilled.length * Number(costs.most), `never under-charged: over-held ${overHeld} covers the ${unbilled.length} answers without a row`)
  t.ok(overHeld <= WORKERS * perRequest, `over-held by at most the requests in flight at the crash (${overHeld} ≤ ${WORKERS} × ${perRequest})`)

  // And the restarted gateway serves.
  const res = await fetch(`${second.base}/v1/chat/completions`, {
    dispatcher: second.client,
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'mock-model', messages: [{ role: 'user', content: 'hi' }] }),
  })
  t.equal(res.status, 200)
  await res.text()
  second.child.kill('SIGTERM')
  await second.exited
})
