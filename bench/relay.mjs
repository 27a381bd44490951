// `npm run bench`: the gateway (built, SQLite + in-process cache unless DATABASE_URL/REDIS_URL are set) in front
// of a lean instant upstream, against that upstream called directly. Everything on 127.0.0.1, bounded in time,
// and every process started here is stopped here. BENCH_SECONDS, BENCH_CONCURRENCY tune it.
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { load } from './load.mjs'

const seconds = Number(process.env.BENCH_SECONDS || 10)
const concurrency = Number(process.env.BENCH_CONCURRENCY || 50)
const children = []
const stopAll = () => children.forEach((c) => c.exitCode === null && c.kill('SIGTERM'))
process.on('exit', stopAll)

function start(cmd, args, env) {
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] })
  children.push(child)
  return child
}

const upstream = start(process.execPath, [new URL('./upstream.mjs', import.meta.url).pathname], {})
const upstreamPort = Number(await new Promise((r) => upstream.stdout.once('data', (d) => r(String(d).trim()))))
const upstreamUrl = `http://127.0.0.1:${upstreamPort}`

const dir = mkdtempSync(join(tmpdir(), 'nexus-bench-'))
const gatewayPort = 20000 + Math.floor(Math.random() * 20000)
const gateway = start(process.execPath, [...(process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean), 'dist/src/server.js'], {
  PORT: String(gatewayPort), HOST: '127.0.0.1', LOG_LEVEL: 'warn',
  DATABASE_URL: process.env.DATABASE_URL || `sqlite:${join(dir, 'nexus.db')}`,
  ADMIN_USERNAME: 'root', ADMIN_PASSWORD: 'bench-admin-password',
})
gateway.stdout.resume()
const base = `http://127.0.0.1:${gatewayPort}`
for (let i = 0; i < 100; i++) {
  try { if ((await fetch(`${base}/healthz`)).ok) break } catch {}
  await sleep(100)
}

async function api(method, path, token, body) {
  const res = await fetch(base + path, {
    method, headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await res.text()
  if (res.status >= 300) throw new Error(`${method} ${path} → ${res.status} ${text}`)
  return text ? JSON.parse(text) : undefined
}

const { access_token: admin } = await api('POST', '/api/auth/login', null, { username: 'root', password: 'bench-admin-password' })
await api('POST', '/api/channel', admin, { name: 'bench', key: 'ok-bench-key-0123456789', base_url: upstreamUrl, models: ['bench-model'] })
await api('PUT', '/api/pricing/bench-model', admin, { input_per_1m: 2, output_per_1m: 8 })
const self = await api('GET', '/api/user/self', admin)
await api('POST', `/api/user/${self.id}/quota`, admin, { delta: 1e12, remark: 'bench' })
const { key } = await api('POST', '/api/token', admin, { name: 'bench' })

const chat = { model: 'bench-model', messages: [{ role: 'user', content: 'hi' }] }
const auth = { authorization: `Bearer ${key}` }
const runs = [
  ['upstream direct, non-stream', { url: upstreamUrl, path: '/v1/chat/completions', body: chat }],
  ['gateway, non-stream', { url: base, path: '/v1/chat/completions', headers: auth, body: chat }],
  ['upstream direct, stream', { url: upstreamUrl, path: '/v1/chat/completions', body: { ...chat, stream: true } }],
  ['gateway, stream', { url: base, path: '/v1/chat/completions', headers: auth, body: { ...chat, stream: true } }],
]
console.log(`# ${concurrency} concurrent clients, ${seconds} s per run, ${process.env.DATABASE_URL ? 'MySQL' : 'SQLite'} + ${process.env.REDIS_URL ? 'Redis' : 'memory'}`)
const results = []
for (const [name, opts] of runs) {
  await load({ ...opts, concurrency: 10, seconds: 1 }) // warm-up
  const r = await load({ ...opts, concurrency, seconds })
  results.push({ run: name, ...r })
  console.log(JSON.stringify({ run: name, ...r }))
}
console.table(results)
const after = await api('GET', '/api/user/self', admin)
console.log(`billed requests: ${after.request_count - self.request_count}, used quota: ${after.used_quota - self.used_quota}`)
stopAll()
await sleep(300)
rmSync(dir, { recursive: true, force: true })
process.exit(0)
