// Every process the bench starts, and what it reads about them from /proc. Each child is registered here and
// stopped here by its PID: SIGTERM, then SIGKILL after a grace period (the gateway's own SIGTERM handling is
// under test elsewhere; a bench must not hang on it). Also on SIGINT, SIGTERM and uncaught exceptions.
import { spawn, spawnSync } from 'node:child_process'
import { readFileSync, readdirSync } from 'node:fs'
import net from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'

const children = new Set()
const cleanups = []

/** Starts `cmd` and registers it; `exited` resolves with its exit code (or signal name). */
export function startProcess(name, cmd, args, { env = {}, cwd, stdio = ['pipe', 'pipe', 'pipe'] } = {}) {
  const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio })
  child.benchName = name
  child.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)))
  child.once('error', (err) => process.stderr.write(`bench: ${name} failed to start: ${err.message}\n`))
  children.add(child)
  child.exited.then(() => children.delete(child))
  return child
}

/** Stops one child by PID: SIGTERM, then SIGKILL after `graceMs`. Resolves when it has exited. */
export async function stopProcess(child, graceMs = 5000) {
  if (child.exitCode !== null || child.signalCode !== null) return
  try { process.kill(child.pid, 'SIGTERM') } catch { return }
  const killed = await Promise.race([child.exited.then(() => false), sleep(graceMs).then(() => true)])
  if (killed) {
    process.stderr.write(`bench: ${child.benchName} (pid ${child.pid}) ignored SIGTERM for ${graceMs} ms; killing it\n`)
    try { process.kill(child.pid, 'SIGKILL') } catch {}
    await Promise.race([child.exited, sleep(2000)])
  }
}

/** Runs `fn` (sync or async) at the end, after every child has been stopped; last registered runs first. */
export function onCleanup(fn) {
  cleanups.unshift(fn)
}

let cleaning = null
export function cleanup() {
  cleaning ??= (async () => {
    await Promise.all([...children].map((c) => stopProcess(c)))
    for (const fn of cleanups) {
      try { await fn() } catch (err) { process.stderr.write(`bench: cleanup failed: ${err?.message ?? err}\n`) }
    }
  })()
  return cleaning
}

// A last resort when the process is leaving anyway: nothing asynchronous runs any more, so kill outright.
process.on('exit', () => {
  for (const c of children) try { process.kill(c.pid, 'SIGKILL') } catch {}
})
let interrupted = false
/** True once SIGINT or SIGTERM arrived: what fails after that is the stopping, not the bench. */
export const wasInterrupted = () => interrupted
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    interrupted = true
    process.stderr.write(`bench: ${signal}: stopping every process it started\n`)
    cleanup().finally(() => process.exit(130))
  })
}
// A reader that went away (`npm run bench | head`) must not turn every later write into an exception.
process.stdout.on('error', () => {})
process.stderr.on('error', () => {})
let failed = false
const failHard = (err) => {
  if (failed) return
  failed = true
  process.stderr.write(`bench: ${err?.stack ?? err}\n`)
  cleanup().finally(() => process.exit(1))
}
process.on('uncaughtException', failHard)
process.on('unhandledRejection', failHard)

/** A port free on 127.0.0.1 right now (a child is then told to listen on it). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

/** The first line a child prints on stdout (the lean upstream prints its port), within `timeoutMs`. */
export function firstLine(child, timeoutMs = 10_000) {
  return new Promise((resolve, reject) => {
    let buffered = ''
    const timer = setTimeout(() => reject(new Error(`${child.benchName} printed nothing in ${timeoutMs} ms`)), timeoutMs)
    child.stdout.on('data', function onData(d) {
      buffered += d
      const nl = buffered.indexOf('\n')
      if (nl < 0) return
      clearTimeout(timer)
      child.stdout.off('data', onData)
      child.stdout.resume()
      resolve(buffered.slice(0, nl).trim())
    })
    child.exited.then((code) => reject(new Error(`${child.benchName} exited (${code}) before printing`)))
  })
}

/** Polls `url` until it answers 2xx: at most `tries` × 100 ms. */
export async function waitHttp(url, child, tries = 200) {
  for (let i = 0; i < tries; i++) {
    if (child && child.exitCode !== null) throw new Error(`${child.benchName} exited with ${child.exitCode}`)
    try {
      const res = await fetch(url)
      await res.arrayBuffer()
      if (res.ok) return
    } catch {}
    await sleep(100)
  }
  throw new Error(`${url} did not answer within ${tries / 10} s`)
}

/**
 * Whole-process CPU time in ns, two ways: `sched`, the sum of every live thread's schedstat (ns resolution), and
 * `ticks`, utime+stime (clock ticks, but including threads that have exited). Subtract with cpuDeltaNs.
 */
export function cpuNs(pid) {
  let ticks = NaN
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    ticks = ((Number(fields[11]) + Number(fields[12])) * 1e9) / CLK_TCK
  } catch {
    return { sched: NaN, ticks: NaN }
  }
  let sched = 0
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try { sched += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]) } catch {}
    }
  } catch {
    sched = NaN
  }
  return { sched, ticks }
}

/** CPU ns between two cpuNs readings: schedstat's, unless threads that exited meanwhile took more than 2 ticks. */
export function cpuDeltaNs(before, after) {
  const sched = after.sched - before.sched
  const ticks = after.ticks - before.ticks
  if (!Number.isFinite(sched) || ticks - sched > 2e9 / CLK_TCK) return ticks
  return sched
}

/** VmRSS and VmHWM of a process in KB (NaN once it is gone). */
export function memoryKb(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const field = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN)
    return { rss: field('VmRSS'), hwm: field('VmHWM') }
  } catch {
    return { rss: NaN, hwm: NaN }
  }
}

/** Samples VmRSS of `pid` every `everyMs` until stopped; `stop()` returns the peak in KB. */
export function rssSampler(pid, everyMs = 100) {
  let peak = memoryKb(pid).rss
  const timer = setInterval(() => {
    const { rss } = memoryKb(pid)
    if (rss > peak || Number.isNaN(peak)) peak = rss
  }, everyMs)
  return {
    stop() {
      clearInterval(timer)
      const { rss } = memoryKb(pid)
      return Math.max(peak, Number.isNaN(rss) ? 0 : rss)
    },
  }
}

/** The PID of a local process whose command name is one of `names` (e.g. mariadbd), or null. */
export function findPid(names) {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      if (names.includes(readFileSync(`/proc/${entry}/comm`, 'utf8').trim())) return Number(entry)
    } catch {}
  }
  return null
}

/** A command's full path when it is installed, else null. */
export function which(cmd) {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' })
  return r.status === 0 ? r.stdout.trim() || null : null
}

const CLK_TCK = (() => {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' })
  return Number(r.stdout) || 100
})()
