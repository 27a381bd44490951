// The built gateway (`node dist/src/server.js`) as a child process, for tests of what only a real process shows:
// SIGTERM, kill -9 and restart. Runs in `cwd` (its data folder), on a random loopback port.
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Agent, fetch } from 'undici'
import { projectRoot } from '../../src/db/paths.js'

export const SERVER_ENTRY = join(projectRoot(), 'dist', 'src', 'server.js')
/** For tap's `skip`: the entry is built by `npm test` before the suite runs. */
export const skipUnlessBuilt = !existsSync(SERVER_ENTRY) && 'dist not built'

interface Teardown {
  teardown(fn: () => unknown): void
}

export interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
  /** Date.now() at the exit. */
  at: number
}

export interface GatewayProcess {
  child: ChildProcess
  base: string
  /** This test's connections to the gateway: destroying them is the client side of a test process gone. */
  client: Agent
  exited: Promise<Exit>
}

/**
 * A loopback port nothing listens on, chosen by the kernel (bind to port 0, read it, close). A port picked at
 * random may be one another test's server or an outgoing connection holds (EADDRINUSE), or worse, one another
 * test's gateway answers /healthz on; the kernel never hands out a port in use, and a reuse in the moment between
 * this close and the child's listen is what the retry in startGatewayProcess covers.
 */
export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/** Attempts at starting: a child that exits before answering (its port taken meanwhile) is started again. */
const START_ATTEMPTS = 3

/**
 * Starts the gateway and waits (up to 30 s: a loaded CI machine, migrations on a new database and hashing the
 * admin's password) until `/healthz` answers. Killed at teardown if still running.
 */
export async function startGatewayProcess(
  t: Teardown,
  cwd: string,
  opts: { env: Record<string, string>; stdio: StdioOptions; connections?: number; afterSpawn?: () => void },
): Promise<GatewayProcess> {
  for (let attempt = 1; ; attempt++) {
    const started = await startOnce(t, cwd, opts)
    if (started.kind === 'up') return started.gateway
    if (started.kind === 'timeout') throw new Error('gateway did not start')
    // Exited at start: its stderr (where the caller sends it) says why. A config error fails every attempt alike.
    if (attempt === START_ATTEMPTS) throw new Error(`gateway exited at start with ${started.code} (${attempt} attempts)`)
  }
}

type StartOnce = { kind: 'up'; gateway: GatewayProcess } | { kind: 'exited'; code: number } | { kind: 'timeout' }

async function startOnce(
  t: Teardown,
  cwd: string,
  opts: { env: Record<string, string>; stdio: StdioOptions; connections?: number; afterSpawn?: () => void },
): Promise<StartOnce> {
  const port = await freePort()
  const child = spawn(process.execPath, [SERVER_ENTRY], {
    cwd,
    env: { PATH: process.env.PATH ?? '', PORT: String(port), HOST: '127.0.0.1', ...opts.env },
    stdio: opts.stdio,
  })
  opts.afterSpawn?.()
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  const exited = new Promise<Exit>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal, at: Date.now() })))
  const base = `http://127.0.0.1:${port}`
  const client = new Agent(opts.connections ? { connections: opts.connections } : {})
  t.teardown(() => client.destroy())
  for (let i = 0; i < 300; i++) {
    // Checked after a healthy answer too: an answer on this port from anything but our child is not our gateway.
    const healthy = await fetch(`${base}/healthz`, { dispatcher: client }).then((r) => r.ok, () => false)
    if (child.exitCode !== null) return { kind: 'exited', code: child.exitCode }
    if (healthy) return { kind: 'up', gateway: { child, base, client, exited } }
    await sleep(100)
  }
  return { kind: 'timeout' }
}

/** A JSON call to the gateway; the parsed body (or undefined) and the status. */
export async function jsonCall(g: GatewayProcess, method: string, path: string, token?: string, body?: unknown) {
  const res = await fetch(g.base + path, {
    dispatcher: g.client,
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await res.text()
  return { status: res.status, body: text ? JSON.parse(text) : undefined }
}
