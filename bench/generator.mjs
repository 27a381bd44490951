// The closed-loop load generator, always in a process of its own: wrk (-t1, C, a few MB of RSS) when installed,
// else the Node generator in bench/load.mjs. Both keep HTTP/1.1 connections alive, send the same bytes and
// count transport errors and non-2xx answers separately from the requests that succeeded.
import { spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startProcess, which } from './procs.mjs'

const LOAD_SCRIPT = fileURLToPath(new URL('./load.mjs', import.meta.url))

// wrk's Lua: the body is read from a file (a 128 KB prompt does not fit in argv), headers come as name/value
// pairs, and done() prints one JSON line. Latency percentiles are wrk's, in µs.
const WRK_LUA = `
local req
function init(args)
  local f = assert(io.open(args[1], "rb"))
  local body = f:read("*a")
  f:close()
  local headers = { ["Content-Type"] = "application/json" }
  for i = 2, #args - 1, 2 do headers[args[i]] = args[i + 1] end
  req = wrk.format("POST", nil, headers, body)
end
function request() return req end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"non2xx":%d,"transport_errors":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), e.status,
    e.connect + e.read + e.write + e.timeout))
end
`

/** The generator this run uses: { name, describe, run(spec) }. BENCH_GENERATOR=node forces the Node one. */
export function chooseGenerator(tmpDir) {
  const wrk = process.env.BENCH_GENERATOR === 'node' ? null : which('wrk')
  if (wrk) {
    const version = /wrk (\S+)/.exec(spawnSync(wrk, ['-v'], { encoding: 'utf8' }).stdout ?? '')?.[1] ?? ''
    const script = join(tmpDir, 'bench.lua')
    writeFileSync(script, WRK_LUA)
    return {
      name: 'wrk',
      describe: `wrk ${version} -t1 in its own process (C, event-driven)`,
      run: (spec) => runWrk(wrk, script, spec),
    }
  }
  return {
    name: 'node',
    describe: `Node (undici Pool) in its own process (${process.env.BENCH_GENERATOR === 'node' ? 'BENCH_GENERATOR=node' : 'wrk is not installed'}); it needs most of a core at high rps, so direct and nginx are underestimated`,
    run: nodeGenerator(),
  }
}

/**
 * spec: { url (origin), path, headers, bodyFile, concurrency, seconds (whole for wrk) }.
 * Returns { requests, seconds, rps, p50_ms, p99_ms, transport_errors, non2xx }.
 */
async function runWrk(wrk, script, spec) {
  const seconds = Math.max(1, Math.round(spec.seconds))
  const args = [
    '-t1', `-c${spec.concurrency}`, `-d${seconds}s`, '--timeout', '30s', '-s', script,
    spec.url + spec.path, '--', spec.bodyFile,
    ...Object.entries(spec.headers ?? {}).flat(),
  ]
  const out = await collect(startProcess('wrk', wrk, args, { stdio: ['ignore', 'pipe', 'pipe'] }), seconds + 40)
  const line = out.split('\n').find((l) => l.startsWith('{"requests"'))
  if (!line) throw new Error(`wrk printed no result: ${out.slice(-400)}`)
  const r = JSON.parse(line)
  const elapsed = r.duration_us / 1e6
  return {
    requests: r.requests,
    seconds: elapsed,
    rps: r.requests / elapsed,
    p50_ms: r.p50_us / 1000,
    p99_ms: r.p99_us / 1000,
    transport_errors: r.transport_errors,
    non2xx: r.non2xx,
  }
}

/** One Node generator process for the whole run (warm JIT), fed one spec per line; runs are sequential. */
function nodeGenerator() {
  let child = null
  let queue = Promise.resolve()
  const pending = []
  const start = () => {
    child = startProcess('node load generator', process.execPath, [LOAD_SCRIPT, '--serve'], { env: { BENCH_CHILD: '1' } })
    let buffered = ''
    child.stdout.on('data', (d) => {
      buffered += d
      for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
        const line = buffered.slice(0, nl)
        buffered = buffered.slice(nl + 1)
        pending.shift()?.resolve(JSON.parse(line))
      }
    })
    child.exited.then((code) => {
      child = null
      for (const p of pending.splice(0)) p.reject(new Error(`the node load generator exited (${code})`))
    })
  }
  const runOne = (spec) =>
    new Promise((resolve, reject) => {
      if (!child) start()
      const timer = setTimeout(() => {
        process.stderr.write(`bench: the node load generator overran ${spec.seconds + 40} s; killing it\n`)
        try { process.kill(child.pid, 'SIGKILL') } catch {}
      }, (spec.seconds + 40) * 1000)
      const done = (fn) => (value) => {
        clearTimeout(timer)
        fn(value)
      }
      pending.push({ resolve: done(resolve), reject: done(reject) })
      child.stdin.write(JSON.stringify(spec) + '\n')
    })
  return (spec) => (queue = queue.then(() => runOne(spec), () => runOne(spec)))
}

/** stdout of a child that must finish within `boundSeconds`; it is killed (by PID) past that. */
export async function collect(child, boundSeconds) {
  let out = ''
  let err = ''
  child.stdout.on('data', (d) => (out += d))
  child.stderr?.on('data', (d) => (err += d))
  const timer = setTimeout(() => {
    process.stderr.write(`bench: ${child.benchName} (pid ${child.pid}) overran ${boundSeconds} s; killing it\n`)
    try { process.kill(child.pid, 'SIGKILL') } catch {}
  }, boundSeconds * 1000)
  const code = await child.exited
  clearTimeout(timer)
  if (code !== 0) throw new Error(`${child.benchName} exited with ${code}: ${(err || out).slice(-600)}`)
  return out
}
