// `npm run bench` cannot rot: its tiny run (BENCH_TINY=1: about a second per case, one round, 50 slow streams,
// no nginx, no MySQL) runs against the built gateway (`npm test` builds dist/ first) and must produce the report
// with numbers for the direct upstream and the SQLite gateway, and every relayed request must have succeeded.
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { projectRoot } from '../../src/db/paths.js'

const root = projectRoot()
const entry = join(root, 'dist', 'src', 'server.js')
const BOUND_MS = 60_000

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

function shellEnvironment(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const name of ['PATH', 'HOME', 'TMPDIR', 'LANG']) if (process.env[name] !== undefined) env[name] = process.env[name]
  return env
}

/** Runs the tiny bench; past BOUND_MS it is stopped by its PID (SIGTERM lets it stop its own children). */
function runTinyBench(out: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(root, 'bench', 'relay.mjs')], {
      cwd: root,
      // Only what a shell would pass: no BENCH_* tunable of the caller's, and not tap's NODE_OPTIONS and coverage
      // hooks, which every process the bench starts would otherwise inherit.
      env: { ...shellEnvironment(), BENCH_TINY: '1', BENCH_OUT: out },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const term = setTimeout(() => child.pid && process.kill(child.pid, 'SIGTERM'), BOUND_MS)
    const kill = setTimeout(() => child.pid && child.exitCode === null && process.kill(child.pid, 'SIGKILL'), BOUND_MS + 10_000)
    child.once('exit', (code) => {
      clearTimeout(term)
      clearTimeout(kill)
      resolve({ code, stdout, stderr })
    })
  })
}

/** The cells of the table row whose label starts with `label`, keyed by column header. */
function tableRow(report: string, label: string): Record<string, string> | undefined {
  const lines = report.split('\n')
  const header = lines.find((l) => l.startsWith('| | '))
  const line = lines.find((l) => l.startsWith(`| ${label}`))
  if (!header || !line) return undefined
  const names = header.split(' | ').slice(1).map((s) => s.replace(/\s*\|$/, '').trim())
  const cells = line.split(' | ').slice(1).map((s) => s.replace(/\s*\|$/, '').trim())
  return Object.fromEntries(names.map((name, i) => [name, cells[i] ?? '']))
}

const numberAtStart = (cell: string | undefined) => Number((/^[\d,.]+/.exec(cell ?? '')?.[0] ?? 'NaN').replace(/,/g, ''))

t.test('the tiny bench produces the table, with numbers and no failed request', { skip: !existsSync(entry) && 'dist not built' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nexus-bench-smoke-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const out = join(dir, 'latest.md')

  const run = await runTinyBench(out)
  t.equal(run.code, 0, `the bench exits 0\n${run.stderr.slice(-3000)}\n${run.stdout.slice(-3000)}`)
  t.notMatch(run.stdout, /NOT A MEASUREMENT/, 'no request failed and no check was broken')
  t.equal(existsSync(out) && readFileSync(out, 'utf8'), run.stdout, 'the report file is what was printed')

  const rps = tableRow(run.stdout, 'non-stream "hi", c=')
  t.ok(rps, 'the rps row is there')
  t.ok(numberAtStart(rps?.direct) > 0, `direct has a numeric rps (${rps?.direct})`)
  t.ok(numberAtStart(rps?.['gateway SQLite + memory']) > 0, `the SQLite gateway has a numeric rps (${rps?.['gateway SQLite + memory']})`)

  const failures = tableRow(run.stdout, 'failed requests and checks')
  t.same(failures, { direct: '0', 'gateway SQLite + memory': '0' }, 'every request through every target succeeded')

  const streams = tableRow(run.stdout, '50 slow streams: ended with 200 and [DONE]')
  t.same(streams, { direct: '50 / 50', 'gateway SQLite + memory': '50 / 50' }, 'every slow stream ended with [DONE]')

  const billed = tableRow(run.stdout, 'requests billed / answered 2xx')?.['gateway SQLite + memory'] ?? ''
  const [billedCount, served] = billed.split(' / ').map(numberAtStart)
  t.ok(served !== undefined && served > 0 && billedCount !== undefined && billedCount >= served, `every answered request was billed (${billed})`)
  t.match(run.stdout, /## Goals \(issue 10\)/, 'the goals are checked')
})
