// The built gateway (`node dist/src/server.js`) as a child process, for tests of what only a real process shows:
// SIGTERM, kill -9 and restart. Runs in `cwd` (its data folder), on a random loopback port.
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process'
import { existsSync } from 'node:fs'
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
 * Starts the gateway and waits (up to 30 s: a loaded CI machine, migrations on a new database and hashing the
 * admin's password) until `/healthz` answers. Killed at teardown if still running.
 */
export async function startGatewayProcess(
  t: Teardown,
  cwd: string,
  opts: { env: Record<string, string>; stdio: StdioOptions; connections?: number; afterSpawn?: () => void },
): Promise<GatewayProcess> {
  const port = 20000 + Math.floor(Math.random() * 20000)
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
    if (child.exitCode !== null) throw new Error(`gateway exited at start with ${child.exitCode}`)
    if (await fetch(`${base}/healthz`, { dispatcher: client }).then((r) => r.ok, () => false)) return { child, base, client, exited }
    await sleep(100)
  }
  throw new Error('gateway did not start')
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
