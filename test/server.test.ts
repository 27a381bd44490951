// The process as a user runs it: `node dist/src/server.js` (built by `npm test` before tap runs) with an empty
// environment in a fresh folder, and a graceful SIGTERM in the middle of a stream.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { projectRoot } from '../src/db/paths.js'
import { startFakeUpstream } from './support/fake-upstream.js'
import { freePort } from './support/gateway-process.js'

const entry = join(projectRoot(), 'dist', 'src', 'server.js')

interface Started {
  child: ChildProcess
  base: string
  output: () => string
  exited: Promise<number | null>
}

async function startServer(cwd: string, env: Record<string, string>): Promise<Started> {
  const port = await freePort()
  // Only what a shell would pass: no test variables, so the defaults are the ones under test.
  const child = spawn(process.execPath, [entry], {
    cwd,
    env: { PATH: process.env.PATH ?? '', PORT: String(port), HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout?.on('data', (b: Buffer) => (out += b.toString()))
  child.stderr?.on('data', (b: Buffer) => (out += b.toString()))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const base = `http://127.0.0.1:${port}`
  // Up to 30 s, as test/support/gateway-process.ts allows: a loaded CI machine runs migrations and argon2 slowly.
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) break
    } catch {
      // not listening yet
    }
    if (child.exitCode !== null) break
    await sleep(100)
  }
  return { child, base, output: () => out, exited }
}

async function json(base: string, method: string, path: string, token?: string, body?: unknown) {
  const res = await fetch(base + path, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await res.text()
  return { status: res.status, body: text ? JSON.parse(text) : undefined }
}

t.test('empty environment: serves on the defaults, generates secrets once, prints a working admin password', { skip: !existsSync(entry) && 'dist not built' }, async (t) => {
  const cwd = mkdtempSync(join(tmpdir(), 'nexus-server-'))
  t.teardown(() => rmSync(cwd, { recursive: true, force: true }))
  const server = await startServer(cwd, {})
  t.teardown(() => {
    if (server.child.exitCode === null) server.child.kill('SIGKILL')
  })

  for (const path of ['/healthz', '/readyz', '/metrics', '/docs/json']) {
    t.equal((await fetch(server.base + path)).status, 200, path)
  }
  t.ok(existsSync(join(cwd, 'data', 'nexus.db')), 'SQLite file at ./data/nexus.db')
  t.ok(existsSync(join(cwd, 'data', 'secrets.json')), 'generated secrets kept in ./data')
  t.match(server.output(), /JWT_SECRET and ENCRYPTION_KEY not set/)

  const printed = /password \\"([^\\]+)\\"/.exec(server.output())
  t.ok(printed, 'the generated admin password is printed')
  const login = await json(server.base, 'POST', '/api/auth/login', undefined, { username: 'root', password: printed?.[1] })
  t.equal(login.status, 200, 'the printed password logs in')
  t.equal(login.body.user.role, 'admin')

  server.child.kill('SIGTERM')
  t.equal(await server.exited, 0, 'SIGTERM exits 0')

  // Second start: same secrets (sessions survive), no second admin, no second password printed.
  const again = await startServer(cwd, {})
  t.teardown(() => {
    if (again.child.exitCode === null) again.child.kill('SIGKILL')
  })
  const self = await fetch(`${again.base}/api/user/self`, { headers: { authorization: `Bearer ${login.body.access_token}` } })
  t.equal(self.status, 200, 'a session from the first run is still valid')
  t.notMatch(again.output(), /root admin created/)
  again.child.kill('SIGTERM')
  t.equal(await again.exited, 0)
})

t.test('invalid configuration stops start-up with one line', { skip: !existsSync(entry) && 'dist not built' }, async (t) => {
  const cwd = mkdtempSync(join(tmpdir(), 'nexus-server-'))
  t.teardown(() => rmSync(cwd, { recursive: true, force: true }))
  const server = await startServer(cwd, { RELAY_RETRIES: 'lots' })
  t.equal(await server.exited, 1)
  t.equal(server.output().trim(), 'nexus-api: invalid RELAY_RETRIES: Expected integer (got "lots")')
})

t.test('SIGTERM mid-stream: new requests refused, the stream finishes, usage is flushed, exit 0', { skip: !existsSync(entry) && 'dist not built' }, async (t) => {
  const cwd = mkdtempSync(join(tmpdir(), 'nexus-server-'))
  t.teardown(() => rmSync(cwd, { recursive: true, force: true }))
  const upstream = await startFakeUpstream({ chunks: 20, paceMs: 50 })
  t.teardown(() => upstream.close())
  const server = await startServer(cwd, { ADMIN_PASSWORD: 'server-test-password' })
  t.teardown(() => {
    if (server.child.exitCode === null) server.child.kill('SIGKILL')
  })

  const admin = (await json(server.base, 'POST', '/api/auth/login', undefined, { username: 'root', password: 'server-test-password' })).body.access_token
  t.equal((await json(server.base, 'POST', '/api/channel', admin, { name: 'fake', key: 'ok-graceful-000011112222', base_url: upstream.url, models: ['mock-model'] })).status, 201)
  await json(server.base, 'PUT', '/api/pricing/mock-model', admin, { input_per_1m: 2, output_per_1m: 8 })
  const self = (await json(server.base, 'GET', '/api/user/self', admin)).body
  await json(server.base, 'POST', `/api/user/${self.id}/quota`, admin, { delta: 1_000_000, remark: 'test' })
  const key = (await json(server.base, 'POST', '/api/token', admin, { name: 'graceful' })).body.key

  const res = await fetch(`${server.base}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'mock-model', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
  })
  t.equal(res.status, 200)
  const reader = res.body!.getReader()
  const first = await reader.read()
  t.notOk(first.done, 'the stream has started')

  server.child.kill('SIGTERM')
  await sleep(200)
  const refused = await fetch(`${server.base}/healthz`).then((r) => r.status, () => 'connection refused')
  t.not(refused, 200, 'no new requests once draining')

  let text = Buffer.from(first.value ?? []).toString()
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    text += Buffer.from(value).toString()
  }
  t.ok(text.trim().endsWith('data: [DONE]'), 'the in-flight stream finished')
  t.equal((text.match(/"content":"w\d+ "/g) ?? []).length, 20, 'every chunk arrived')
  t.equal(await server.exited, 0, 'exit 0 after draining')

  // The settlement was flushed before exit: a fresh start sees it.
  const after = await startServer(cwd, { ADMIN_PASSWORD: 'server-test-password' })
  t.teardown(() => {
    if (after.child.exitCode === null) after.child.kill('SIGKILL')
  })
  const token = (await json(after.base, 'POST', '/api/auth/login', undefined, { username: 'root', password: 'server-test-password' })).body.access_token
  const logs = await json(after.base, 'GET', '/api/log/self', token)
  t.equal(logs.body.total, 1)
  t.match(logs.body.data[0], { model: 'mock-model', stream: true, quota: 90, status: 200 })
  after.child.kill('SIGTERM')
  t.equal(await after.exited, 0)
})
