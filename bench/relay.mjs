// `npm run bench`: the lean upstream called directly, nginx proxy_pass (when installed), the gateway on SQLite +
// in-process cache and (with BENCH_MYSQL_URL and BENCH_REDIS_URL) on MySQL + Redis — side by side in one run,
// targets interleaved round-robin within each case, medians of the rounds. Writes a markdown report to stdout
// and to bench/results/latest.md (BENCH_OUT elsewhere). Everything on 127.0.0.1; every process it starts is
// stopped by PID, also on SIGINT or an exception. Tunables: bench/config.mjs; the whole story: bench/README.md.
// Exits 1 when any request failed or any check did not hold: a bench with errors is not a measurement.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { checkOnce, LOAD_CASES, writeBodies } from './cases.mjs'
import { benchConfig } from './config.mjs'
import { chooseGenerator } from './generator.mjs'
import { measureInterference, measureLoad, measureSlowStreams } from './measure.mjs'
import { cleanup, memoryKb, onCleanup, wasInterrupted } from './procs.mjs'
import { renderReport } from './report.mjs'
import { startTargets } from './targets.mjs'

const config = benchConfig()
const started = Date.now()
const log = (msg) => process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s] ${msg}\n`)

/** What one run has measured and found wrong so far. */
function newRun(targets) {
  const run = {
    load: {}, rss: {}, streams: {}, interference: {}, failures: {}, served: {}, billing: {}, logs: {},
    problems: [],
    /** `n` requests or checks against `target` went wrong: counted, and the run is not a measurement. */
    fail(target, n, what) {
      if (n <= 0) return
      run.failures[target.id] += n
      run.problems.push(`${target.label}: ${what}`)
    },
  }
  for (const t of targets) {
    run.failures[t.id] = 0
    run.served[t.id] = 0
    run.rss[t.id] = {}
  }
  return run
}

/** Every target answers every case as expected once; the gateways then get a short warm-up (JIT, pools,
 * caches), not measured. nginx is C, and the upstream warms up behind the gateways. */
async function checkAndWarmUp({ run, targets, loadCases, generator, bodies }) {
  for (const c of loadCases) {
    for (const t of targets) {
      const wrong = await checkOnce(t, c, bodies[c.id], readFileSync(bodies[c.id], 'utf8'))
      if (wrong) run.fail(t, 1, `${c.title}: ${wrong}`)
      else run.served[t.id]++
      if (!config.warmup || !t.gateway || c.id === 'latency') continue
      const w = await measureLoad({ generator, target: t, loadCase: c, bodyFile: bodies[c.id], seconds: 1, concurrency: config.concurrency })
      run.served[t.id] += w.ok
      run.fail(t, w.failures, `${c.title} (warm-up): ${w.failures} failed requests`)
    }
  }
}

/** The closed-loop cases: every round, every case, every target — each round starting with the next target. */
async function loadRounds({ run, targets, loadCases, generator, bodies, slot }) {
  for (let round = 0; round < config.rounds; round++) {
    for (const [index, c] of loadCases.entries()) {
      const order = targets.map((_, i) => targets[(i + round + index) % targets.length])
      for (const t of order) {
        const m = await measureLoad({ generator, target: t, loadCase: c, bodyFile: bodies[c.id], seconds: slot, concurrency: config.concurrency })
        ;((run.load[c.id] ??= {})[t.id] ??= []).push(m)
        run.served[t.id] += m.ok
        run.fail(t, m.failures, `${c.title}, round ${round + 1}: ${m.failures} of ${m.requests} requests failed`)
        run.rss[t.id].load_peak_kb = Math.max(run.rss[t.id].load_peak_kb ?? 0, m.rss_peak_kb)
        log(`round ${round + 1}/${config.rounds} ${c.id.padEnd(10)} ${t.label.padEnd(24)} ${Math.round(m.rps)} rps, ` +
          `p50 ${m.p50_ms.toFixed(2)} ms, ${Math.round(m.cpu_us.target)} µs CPU/req${m.failures ? `, ${m.failures} FAILED` : ''}`)
      }
    }
  }
}

/** BENCH_STREAMS slow streams at once through each target (once per target: they last seconds by design). */
async function slowStreams({ run, targets, bodies }) {
  const { streams: count, streamEvents: events, streamIntervalMs: intervalMs, settleMs } = config
  for (const t of targets) {
    log(`${count} slow streams (${events} events ${intervalMs} ms apart) through ${t.label}`)
    const s = await measureSlowStreams({ target: t, bodyFile: bodies.streams, count, events, intervalMs, settleMs })
    run.streams[t.id] = s
    run.served[t.id] += s.ok
    run.fail(t, s.failed, `${count} slow streams: ${s.failed} did not end with 200 and [DONE] (status ${JSON.stringify(s.status_counts)}, ${s.connect_errors} connect errors)`)
    if (s.ok && s.events_min !== events + 4) run.fail(t, 1, `slow streams: ${s.events_min}–${s.events_max} events, expected ${events + 4}`)
    log(`  all open after ${s.all_open_ms?.toFixed(0) ?? '—'} ms, ttfb p99 ${s.ttfb_p99_ms?.toFixed(1)} ms, ${s.kb_per_stream.toFixed(1)} KB/stream`)
  }
}

/** Chunk gaps of slow streams alone and beside a loop of 128 KB prompts, per gateway, every round. */
async function interference({ run, gateways, generator, bodies }) {
  for (const t of gateways) {
    for (let round = 0; round < config.rounds; round++) {
      const m = await measureInterference({
        generator, target: t, streamsBody: bodies.interference, bigBody: bodies.prompt128k,
        streams: config.interferenceStreams, events: config.interferenceEvents, intervalMs: config.interferenceIntervalMs,
        concurrency: config.interferenceConcurrency,
      })
      ;(run.interference[t.id] ??= []).push(m)
      run.served[t.id] += m.ok
      run.fail(t, m.failures, `128 KB prompts beside slow streams, round ${round + 1}: ${m.failures} failed`)
      log(`interference ${t.label}: chunk gap p99 ${m.alone_p99_ms.toFixed(2)} → ${m.beside_p99_ms.toFixed(2)} ms beside ${m.big_requests} 128 KB prompts`)
    }
  }
}

/** Every request a gateway answered 2xx must be billed (settlements are batched: they get up to 5 s). */
async function checkBilling({ run, gateways, billedBefore }) {
  for (const t of gateways) {
    let billed = 0
    for (let i = 0; i < 50; i++) {
      billed = (await t.gateway.billing()).requests - billedBefore[t.id]
      if (billed >= run.served[t.id]) break
      await sleep(100)
    }
    run.billing[t.id] = { billed, served: run.served[t.id] }
    if (billed < run.served[t.id]) run.problems.push(`${t.label}: ${run.served[t.id]} requests answered 2xx but only ${billed} billed`)
  }
}

/** Roughly how long the measurements take (for the log; the report says how long the run took). */
function estimateSeconds({ targets, gateways, loadCases, slot }) {
  const perRun = 0.25
  const warmup = config.warmup ? gateways.length * loadCases.length * (1 + perRun) : 0
  const rounds = config.rounds * loadCases.length * targets.length * (slot + perRun)
  const streams = config.cases.includes('streams') ? targets.length * ((config.streamEvents * config.streamIntervalMs + config.settleMs) / 1000 + 2) : 0
  const phase = (config.interferenceEvents * config.interferenceIntervalMs) / 1000
  const chunkGaps = config.cases.includes('interference') ? gateways.length * config.rounds * (2 * phase + 2) : 0
  return warmup + rounds + streams + chunkGaps + config.settleMs / 1000
}

async function main(tmpDir) {
  const notes = []
  const { targets, gateways, nginxInfo } = await startTargets(config, tmpDir, notes)
  const run = newRun(targets)
  const billedBefore = {}
  for (const t of gateways) {
    run.rss[t.id].start_kb = memoryKb(t.pid).rss
    billedBefore[t.id] = (await t.gateway.billing()).requests
    log(`${t.label} up on ${t.url} (pid ${t.pid})`)
  }
  const generator = chooseGenerator(tmpDir)
  const bodies = writeBodies(tmpDir, config)
  const loadCases = LOAD_CASES.filter((c) => config.cases.includes(c.id))
  const slot = Math.ceil(config.seconds / targets.length)
  const context = { run, targets, gateways, loadCases, generator, bodies, slot }
  log(`targets: ${targets.map((t) => t.label).join(', ')}; generator: ${generator.name}; ${slot} s per target per case per round; ` +
    `about ${Math.round(estimateSeconds(context))} s to go`)

  await checkAndWarmUp(context)
  await sleep(config.settleMs)
  for (const t of targets) run.rss[t.id].rest_kb = memoryKb(t.pid).rss
  await loadRounds(context)
  // The kernel's high-water mark covers every moment of the warm-up and the rounds, not only the samples.
  if (loadCases.length) for (const t of targets) run.rss[t.id].load_peak_kb = Math.max(run.rss[t.id].load_peak_kb ?? 0, memoryKb(t.pid).hwm)
  if (config.cases.includes('streams')) await slowStreams(context)
  if (config.cases.includes('interference')) await interference(context)
  await checkBilling({ run, gateways, billedBefore })
  for (const t of gateways) run.logs[t.id] = t.gateway.logSummary()
  const report = renderReport({ config, targets, generator, nginxInfo, slot, results: run, notes, problems: run.problems, seconds: (Date.now() - started) / 1000 })
  return { report, ok: run.problems.length === 0 }
}

let exitCode = 1
try {
  const tmpDir = mkdtempSync(join(tmpdir(), 'nexus-bench-'))
  onCleanup(() => rmSync(tmpDir, { recursive: true, force: true }))
  const { report, ok } = await main(tmpDir)
  process.stdout.write(report)
  if (config.out) {
    mkdirSync(dirname(config.out), { recursive: true })
    writeFileSync(config.out, report)
    log(`written to ${config.out}`)
  }
  exitCode = ok ? 0 : 1
} catch (err) {
  if (!wasInterrupted()) process.stderr.write(`bench: ${err?.stack ?? err}\n`)
} finally {
  await cleanup()
}
process.exit(exitCode)
