// One measurement each: a closed-loop run against one target with the target's CPU, RSS and database statements
// read around it; the slow-streams case; the chunk-delay case with and without 128 KB prompts beside it.
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import { PATH, streamHeaders } from './cases.mjs'
import { collect } from './generator.mjs'
import { cpuDeltaNs, cpuNs, memoryKb, rssSampler, startProcess } from './procs.mjs'

const STREAMS_SCRIPT = fileURLToPath(new URL('./streams.mjs', import.meta.url))

/** CPU ns of the target and (for the MySQL gateway) of MariaDB and Redis, read together. */
function cpuOf(target) {
  const out = { target: cpuNs(target.pid) }
  for (const [name, pid] of Object.entries(target.gateway?.dbPids ?? {})) if (pid) out[name] = cpuNs(pid)
  return out
}

/**
 * A closed-loop run of `loadCase` against `target`. Returns { rps, p50_ms, p99_ms, requests, failures,
 * cpu_us (per request, per process), statements (per request, or null), rss_peak_kb }.
 */
export async function measureLoad({ generator, target, loadCase, bodyFile, seconds, concurrency }) {
  const gateway = target.gateway
  const statementsBefore = gateway ? await gateway.statements() : null
  const cpuBefore = cpuOf(target)
  const sampler = rssSampler(target.pid)
  const r = await generator.run({
    url: target.url,
    path: PATH,
    headers: { ...target.headers, ...(loadCase.stream ? streamHeaders(loadCase.stream) : {}) },
    bodyFile,
    concurrency: loadCase.concurrency ?? concurrency,
    seconds,
  })
  const rssPeak = sampler.stop()
  const cpuAfter = cpuOf(target)
  const statementsAfter = gateway ? await gateway.statements() : null
  const served = Math.max(1, r.requests)
  const cpuUs = {}
  for (const name of Object.keys(cpuBefore)) cpuUs[name] = cpuDeltaNs(cpuBefore[name], cpuAfter[name]) / 1000 / served
  let statements = null
  if (statementsBefore !== null && statementsAfter !== null) {
    // MariaDB's `Questions` also counts the SHOW STATUS that read it.
    const own = gateway.statementsSource === 'questions' ? 1 : 0
    statements = (statementsAfter - statementsBefore - own) / served
  }
  return {
    rps: r.rps,
    p50_ms: r.p50_ms,
    p99_ms: r.p99_ms,
    requests: r.requests,
    ok: r.requests - r.non2xx,
    failures: r.non2xx + r.transport_errors,
    cpu_us: cpuUs,
    statements,
    rss_peak_kb: rssPeak,
  }
}

/** Runs bench/streams.mjs against a target; resolves with its JSON result. */
export async function runStreams({ target, bodyFile, count, events, intervalMs, boundSeconds }) {
  const url = new URL(target.url)
  const spec = {
    host: url.hostname,
    port: Number(url.port),
    path: PATH,
    headers: { ...target.headers, ...streamHeaders(events, intervalMs) },
    bodyFile,
    count,
    boundSeconds,
  }
  const child = startProcess('stream client', process.execPath, [STREAMS_SCRIPT, JSON.stringify(spec)], {
    env: { BENCH_CHILD: '1' },
  })
  const out = await collect(child, boundSeconds + 30)
  return JSON.parse(out.trim().split('\n').pop())
}

/**
 * `count` slow streams at once through the target's one channel: time to first event, the time until all are
 * open, RSS at rest / peak while open / `settleMs` after, and KB of RSS per open stream.
 */
export async function measureSlowStreams({ target, bodyFile, count, events, intervalMs, settleMs }) {
  const streamSeconds = (events * intervalMs) / 1000
  const boundSeconds = Math.max(60, Math.ceil(streamSeconds * 4))
  const restKb = memoryKb(target.pid).rss
  const sampler = rssSampler(target.pid, 50)
  const r = await runStreams({ target, bodyFile, count, events, intervalMs, boundSeconds })
  const peakKb = sampler.stop()
  await sleep(settleMs)
  const afterKb = memoryKb(target.pid).rss
  return { ...r, rest_kb: restKb, peak_kb: peakKb, after_kb: afterKb, kb_per_stream: (peakKb - restKb) / count }
}

/**
 * Gaps between consecutive events of `streams` slow streams, alone and then beside a closed loop of 128 KB
 * prompts (`concurrency` at a time) on the same target. Returns both p99s and the loop's request count.
 */
export async function measureInterference({ generator, target, streamsBody, bigBody, streams, events, intervalMs, concurrency }) {
  const phase = () => runStreams({ target, bodyFile: streamsBody, count: streams, events, intervalMs, boundSeconds: 60 })
  const alone = await phase()
  const phaseSeconds = (events * intervalMs) / 1000
  const loop = generator.run({
    url: target.url, path: PATH, headers: target.headers, bodyFile: bigBody, concurrency,
    seconds: Math.ceil(phaseSeconds + 1),
  })
  await sleep(300)
  const beside = await phase()
  const bg = await loop
  return {
    alone_p99_ms: alone.gap_p99_ms,
    beside_p99_ms: beside.gap_p99_ms,
    added_p99_ms: beside.gap_p99_ms - alone.gap_p99_ms,
    big_requests: bg.requests,
    failures: alone.failed + beside.failed + bg.non2xx + bg.transport_errors,
    ok: alone.ok + beside.ok + bg.requests - bg.non2xx,
  }
}
