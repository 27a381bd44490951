// CONTRACT §6: after SIGTERM the process exits 0 within 35 s whatever the reader of its stdout does (issue 10,
// item 8). Regression: with stdout's reader gone and the upstream gone at the same moment, the gateway stopped
// listening and never exited — pino's default destination (sonic-boom) retried writing its last line to the
// broken pipe every 100 ms, forever, inside process.exit. Runs the built entry (`node dist/src/server.js`).
import Database from 'better-sqlite3'
import { eq } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/better-sqlite3'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { fetch, Pool } from 'undici'
import { usageLogs } from '../src/db/schema/sqlite.js'
import { startFakeUpstream } from './support/fake-upstream.js'
import { jsonCall, skipUnlessBuilt, startGatewayProcess, type Exit, type GatewayProcess } from './support/gateway-process.js'

const skip = skipUnlessBuilt
const CONTRACT_EXIT_MS = 35_000
const ADMIN_PASSWORD = 'sigterm-test-password'

interface Teardown {
  teardown(fn: () => unknown): void
}

/** stdout's reader: a process that reads its stdin (or, with `reads: false`, never does) until it is killed. */
function startReader(t: Teardown, reads: boolean): ChildProcess {
  const reader = spawn(process.execPath, ['-e', reads ? 'process.stdin.resume()' : 'setInterval(() => {}, 1 << 30)'], {
    stdio: ['pipe', 'ignore', 'ignore'],
  })
  t.teardown(() => reader.kill('SIGKILL'))
  return reader
}

type Gateway = GatewayProcess

/** Starts `node dist/src/server.js` in `cwd` (its data folder) with stdout and stderr going to `reader`'s stdin. */
function startGateway(t: Teardown, cwd: string, reader: ChildProcess): Promise<Gateway> {
  return startGatewayProcess(t, cwd, {
    env: { ADMIN_PASSWORD },
    stdio: ['ignore', reader.stdin, reader.stdin],
    // The gateway holds its own copy of the pipe; only the reader's end decides whether anyone reads it.
    afterSpawn: () => reader.stdin?.destroy(),
  })
}

const json = jsonCall

/** An admin session, a channel to `upstream`, a priced model, a balance and a relay key. */
async function provision(gateway: Gateway, upstream: string): Promise<{ admin: string; key: string }> {
  const admin = (await json(gateway, 'POST', '/api/auth/login', undefined, { username: 'root', password: ADMIN_PASSWORD })).body.access_token
  await json(gateway, 'POST', '/api/channel', admin, { name: 'fake', key: 'ok-sigterm-000011112222', base_url: upstream, models: ['mock-model'] })
  await json(gateway, 'PUT', '/api/pricing/mock-model', admin, { input_per_1m: 2, output_per_1m: 8 })
  const self = (await json(gateway, 'GET', '/api/user/self', admin)).body
  await json(gateway, 'POST', `/api/user/${self.id}/quota`, admin, { delta: 1_000_000, remark: 'test' })
  const key = (await json(gateway, 'POST', '/api/token', admin, { name: 'sigterm' })).body.key
  return { admin, key }
}

const chatRequest = (gateway: Gateway, key: string, stream: boolean, requestId?: string) => ({
  dispatcher: gateway.client,
  method: 'POST',
  headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...(requestId ? { 'x-request-id': requestId } : {}) },
  body: JSON.stringify({ model: 'mock-model', stream, messages: [{ role: 'user', content: 'hi' }] }),
})

/** The exit, or null when the process is still there after the contract's 35 s (then it is killed). */
async function exitWithin(gateway: Gateway, ms: number): Promise<Exit | null> {
  // Unreferenced: the child process keeps this test alive while it waits, and a finished wait leaves no timer behind.
  const end = await Promise.race([gateway.exited, sleep(ms, null, { ref: false })])
  if (end === null) gateway.child.kill('SIGKILL')
  return end
}

t.test('SIGTERM as the reader of stdout and the upstream go away at the same moment: exit 0 within 35 s', { skip }, async (t) => {
  const cwd = mkdtempSync(join(tmpdir(), 'nexus-sigterm-'))
  t.teardown(() => rmSync(cwd, { recursive: true, force: true }))
  const upstream = await startFakeUpstream()
  t.teardown(() => upstream.close())
  const reader = startReader(t, true)
  const gateway = await startGateway(t, cwd, reader)
  const { key } = await provision(gateway, upstream.url)
  for (const stream of [true, false, true]) {
    t.equal((await fetch(`${gateway.base}/v1/chat/completions`, chatRequest(gateway, key, stream)).then((r) => r.text().then(() => r.status))), 200)
  }

  // As when the contract smoke exits: SIGTERM, the upstream killed, then the smoke gone — both the reader of
  // stdout and the clients, so nothing is left to drain and the close completes at once.
  const sent = Date.now()
  gateway.child.kill('SIGTERM')
  void upstream.close()
  reader.kill('SIGKILL')
  void gateway.client.destroy()
  const end = await exitWithin(gateway, CONTRACT_EXIT_MS)
  t.ok(end, 'exited within 35 s')
  if (!end) return
  t.equal(end.code, 0, 'exit code 0')
  t.comment(`exited ${end.at - sent} ms after SIGTERM`)
})

// Deterministic forms of the same hang: log lines queued behind a full pipe at exit were retried forever,
// whether the reader stayed (EAGAIN) or went away (EPIPE).
for (const readerGoes of [false, true]) {
  const title = readerGoes ? 'then goes away' : 'and stays'
  t.test(`SIGTERM while stdout is full (its reader never reads ${title}): exit 0 within 35 s`, { skip }, async (t) => {
    const cwd = mkdtempSync(join(tmpdir(), 'nexus-sigterm-'))
    t.teardown(() => rmSync(cwd, { recursive: true, force: true }))
    const reader = startReader(t, false)
    const gateway = await startGateway(t, cwd, reader)
    // About 500 bytes of request log each, 750 KB in all: more than a pipe holds, so log lines queue in the gateway.
    const client = new Pool(gateway.base, { connections: 20 })
    t.teardown(() => client.destroy())
    const statuses = await Promise.all(
      Array.from({ length: 1500 }, () => client.request({ method: 'GET', path: '/healthz' }).then(async (r) => (await r.body.dump(), r.statusCode))),
    )
    t.ok(statuses.every((s) => s === 200), 'a blocked stdout does not block serving')
    await client.close()

    const sent = Date.now()
    gateway.child.kill('SIGTERM')
    if (readerGoes) setTimeout(() => reader.kill('SIGKILL'), 100)
    const end = await exitWithin(gateway, CONTRACT_EXIT_MS)
    t.ok(end, 'exited within 35 s')
    if (!end) return
    t.equal(end.code, 0, 'exit code 0')
    t.comment(`exited ${end.at - sent} ms after SIGTERM`)
  })
}

t.test('SIGTERM mid-stream with the reader of stdout gone: the stream finishes, usage is written, exit 0', { skip }, async (t) => {
  const cwd = mkdtempSync(join(tmpdir(), 'nexus-sigterm-'))
  t.teardown(() => rmSync(cwd, { recursive: true, force: true }))
  const upstream = await startFakeUpstream({ chunks: 20, paceMs: 75 })
  t.teardown(() => upstream.close())
  const reader = startReader(t, true)
  const gateway = await startGateway(t, cwd, reader)
  const { key } = await provision(gateway, upstream.url)

  const res = await fetch(`${gateway.base}/v1/chat/completions`, chatRequest(gateway, key, true, 'sigterm-mid-stream'))
  t.equal(res.status, 200)
  const body = res.body!.getReader()
  const first = await body.read()
  t.notOk(first.done, 'the stream has started')

  reader.kill('SIGKILL')
  const sent = Date.now()
  gateway.child.kill('SIGTERM')
  let text = Buffer.from(first.value ?? []).toString()
  for (;;) {
    const { done, value } = await body.read()
    if (done) break
    text += Buffer.from(value).toString()
  }
  const streamEnded = Date.now()
  t.ok(text.trim().endsWith('data: [DONE]'), 'the in-flight stream finished')
  t.equal((text.match(/"content":"w\d+ "/g) ?? []).length, 20, 'every chunk arrived')

  const end = await exitWithin(gateway, CONTRACT_EXIT_MS)
  t.ok(end, 'exited within 35 s')
  if (!end) return
  t.equal(end.code, 0, 'exit code 0')
  t.ok(end.at >= streamEnded - 50, 'not before the stream had finished')
  t.comment(`stream ended ${streamEnded - sent} ms and the process ${end.at - sent} ms after SIGTERM`)

  // The settlement was flushed before exit: the database file holds its usage row.
  const sqlite = new Database(join(cwd, 'data', 'nexus.db'), { readonly: true })
  t.teardown(() => sqlite.close())
  const rows = drizzle(sqlite).select().from(usageLogs).where(eq(usageLogs.requestId, 'sigterm-mid-stream')).all()
  t.equal(rows.length, 1, 'one usage row')
  t.match(rows[0], { model: 'mock-model', stream: true, status: 200, completionTokens: 20 })
  t.ok((rows[0]?.quota ?? 0) > 0, 'billed')
})
