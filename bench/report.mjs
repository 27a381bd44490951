// The markdown report: one table (a column per target, medians of the rounds), issue 10's goals as met / missed
// by how much, and notes. Formatting is fixed (number styles, row order) so two runs differ only in their numbers.
import { spawnSync } from 'node:child_process'
import os from 'node:os'
import { LOAD_CASES } from './cases.mjs'

// One minus sign everywhere (U+2212), whether a number is signed on purpose or just negative.
const format = (options) => {
  const nf = new Intl.NumberFormat('en-US', options)
  return { format: (x) => nf.format(x).replace('-', '−') }
}
const int = format({ maximumFractionDigits: 0 })
const fixed = (digits) => format({ minimumFractionDigits: digits, maximumFractionDigits: digits })
const f1 = fixed(1)
const f2 = fixed(2)
const ok = (x) => typeof x === 'number' && Number.isFinite(x)
const fmtInt = (x) => (ok(x) ? int.format(x) : '—')
const fmtRatio = (x) => (ok(x) ? f2.format(x) : '—')
const fmtMs = (x) => (!ok(x) ? '—' : Math.abs(x) < 10 ? f2.format(x) : Math.abs(x) < 100 ? f1.format(x) : int.format(x))
const fmtSigned = (x, fmt) => (!ok(x) ? '—' : (x >= 0 ? '+' : '−') + fmt(Math.abs(x)))
const fmtMb = (kb) => (ok(kb) ? f1.format(kb / 1024) : '—')

function median(xs) {
  const v = xs.filter(ok).sort((a, b) => a - b)
  if (!v.length) return NaN
  const mid = Math.floor(v.length / 2)
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2
}

export function renderReport({ config, targets, generator, nginxInfo, slot, results, notes, problems, seconds }) {
  const has = (id) => targets.some((t) => t.id === id)
  const runs = (caseId, targetId) => results.load[caseId]?.[targetId] ?? []
  const med = (caseId, targetId, pick) => median(runs(caseId, targetId).map(pick))
  const rps = (caseId, targetId) => med(caseId, targetId, (m) => m.rps)
  const cpu = (caseId, targetId, proc = 'target') => med(caseId, targetId, (m) => m.cpu_us[proc])
  const gateways = targets.filter((t) => t.gateway)

  const rows = []
  const row = (label, cell) => rows.push(`| ${label} | ${targets.map((t) => cell(t) ?? '—').join(' | ')} |`)

  for (const c of LOAD_CASES.filter((c) => c.id !== 'latency' && results.load[c.id])) {
    row(`${c.title}, c=${config.concurrency}: rps (÷ direct${has('nginx') ? ' / ÷ nginx' : ''})`, (t) => {
      const r = rps(c.id, t.id)
      if (t.id === 'direct') return fmtInt(r)
      const ratios = [r / rps(c.id, 'direct')]
      if (has('nginx') && t.id !== 'nginx') ratios.push(r / rps(c.id, 'nginx'))
      return `${fmtInt(r)} (${ratios.map(fmtRatio).join(' / ')})`
    })
  }
  if (results.load.hi) {
    row(`non-stream "hi", c=${config.concurrency}: latency p50 / p99 (ms)`, (t) =>
      `${fmtMs(med('hi', t.id, (m) => m.p50_ms))} / ${fmtMs(med('hi', t.id, (m) => m.p99_ms))}`)
  }
  if (results.load.latency) {
    const base50 = med('latency', 'direct', (m) => m.p50_ms)
    const base99 = med('latency', 'direct', (m) => m.p99_ms)
    row('c=1: latency p50 / p99 (ms); added over direct', (t) => {
      const p50 = med('latency', t.id, (m) => m.p50_ms)
      const p99 = med('latency', t.id, (m) => m.p99_ms)
      if (t.id === 'direct') return `${fmtMs(p50)} / ${fmtMs(p99)}`
      return `${fmtSigned(p50 - base50, fmtMs)} / ${fmtSigned(p99 - base99, fmtMs)}`
    })
  }
  for (const c of LOAD_CASES.filter((c) => c.id !== 'latency' && results.load[c.id])) {
    row(`CPU µs per request, ${c.title}`, (t) => {
      const own = fmtInt(cpu(c.id, t.id))
      const db = Object.entries(t.gateway?.dbPids ?? {}).filter(([, pid]) => pid)
      return db.length ? `${own} + ${db.map(([name]) => `${fmtInt(cpu(c.id, t.id, name))} ${name}`).join(' + ')}` : own
    })
  }
  row('RSS MB: at rest (after warm-up) / peak under c=50 load', (t) => {
    const r = results.rss[t.id] ?? {}
    return `${fmtMb(r.rest_kb)} / ${fmtMb(r.load_peak_kb)}`
  })
  row('RSS MB right after start (gateway)', (t) => (t.gateway ? fmtMb(results.rss[t.id]?.start_kb) : undefined))
  for (const id of ['hi', 'stream20'].filter((id) => results.load[id])) {
    row(`DB statements per request, ${LOAD_CASES.find((c) => c.id === id).title}`, (t) => {
      if (!t.gateway) return undefined
      const s = med(id, t.id, (m) => m.statements ?? NaN)
      if (!ok(s)) return 'n/a'
      return t.gateway.statementsSource === 'questions' ? `${f1.format(s)} (global Questions)` : f1.format(s)
    })
  }
  if (Object.keys(results.streams).length) {
    const n = fmtInt(config.streams)
    const s = (t) => results.streams[t.id]
    row(`${n} slow streams, one channel: all open after (s)`, (t) => {
      const r = s(t)
      if (!r) return undefined
      return ok(r.all_open_ms) ? f2.format(r.all_open_ms / 1000) : `not all: ${fmtInt(r.opened)} of ${n} opened`
    })
    row(`${n} slow streams: time to first event p50 / p99 (ms)`, (t) => s(t) && `${fmtMs(s(t).ttfb_p50_ms)} / ${fmtMs(s(t).ttfb_p99_ms)}`)
    row(`${n} slow streams: KB of RSS per open stream`, (t) => s(t) && f1.format(s(t).kb_per_stream))
    row(`${n} slow streams: RSS MB before / peak / ${f1.format(config.settleMs / 1000)} s after`, (t) => s(t) && `${fmtMb(s(t).rest_kb)} / ${fmtMb(s(t).peak_kb)} / ${fmtMb(s(t).after_kb)}`)
    row(`${n} slow streams: ended with 200 and [DONE]`, (t) => s(t) && `${fmtInt(s(t).ok)} / ${n}`)
  }
  if (Object.keys(results.interference).length) {
    row(`chunk gap p99 of ${config.interferenceStreams} slow streams: alone → beside 128 KB prompts (ms)`, (t) => {
      const runs = results.interference[t.id]
      if (!runs) return undefined
      const alone = median(runs.map((r) => r.alone_p99_ms))
      const beside = median(runs.map((r) => r.beside_p99_ms))
      return `${fmtMs(alone)} → ${fmtMs(beside)} (${fmtSigned(median(runs.map((r) => r.added_p99_ms)), fmtMs)})`
    })
  }
  row('failed requests and checks', (t) => fmtInt(results.failures[t.id]))
  row('requests billed / answered 2xx', (t) => results.billing[t.id]?.billed !== undefined ? `${fmtInt(results.billing[t.id].billed)} / ${fmtInt(results.billing[t.id].served)}` : undefined)
  row('gateway log: errors / warnings', (t) => results.logs[t.id] && `${fmtInt(results.logs[t.id].errors)} / ${fmtInt(results.logs[t.id].warnings)}`)

  const out = []
  out.push('# nexus-api bench', '')
  out.push(`- ${environment()} · ${new Date().toISOString().slice(0, 10)} · the run took ${fmtInt(seconds)} s`)
  out.push(`- load generator: ${generator.describe}; c=${config.concurrency} keep-alive HTTP/1.1 connections`)
  out.push(`- ${slot} s per target per case per round (BENCH_SECONDS=${config.seconds} shared by ${targets.length} targets); ${config.rounds} round${config.rounds > 1 ? 's' : ''}, targets interleaved round-robin within each case; medians shown`)
  out.push(`- upstream: bench/upstream.mjs (Node http, instant unless a case slows it); ${nginxInfo ? `reference: ${nginxInfo} proxy_pass, upstream keepalive 64, proxy_buffering off, one worker` : 'no nginx'}; gateway: dist/src/server.js, NODE_ENV=production, LOG_LEVEL=warn, all its work on (key auth, billing, usage log)`)
  out.push(`- streams ask \`stream_options.include_usage\`; ${config.tiny ? 'TINY RUN (BENCH_TINY=1): numbers are a smoke test, not a measurement' : 'every process shares the same cores: generator, upstream and target compete'}`)
  out.push('')
  out.push(`| | ${targets.map((t) => t.label).join(' | ')} |`)
  out.push(`|---|${targets.map(() => '--:').join('|')}|`)
  out.push(...rows, '')
  if (gateways.length) out.push(...goals({ config, gateways, has, rps, cpu, med, results }), '')
  out.push('## Notes', '')
  out.push('- CPU is the target\'s own process (direct: the upstream; nginx: its one worker; gateway: its Node process), from /proc/<pid>/task/*/schedstat (ns), divided by the requests the generator completed; MariaDB and Redis CPU is of the whole server process, including anything else it served meanwhile.')
  out.push('- DB statements: the gateway\'s `nexus_db_statements_total` when /metrics has it, else on MySQL the server\'s global `Questions` (anything else on that server counts too), else n/a.')
  out.push(`- KB per open stream = (peak RSS while the streams are open − RSS before) ÷ streams. The slow streams (${config.streamEvents} events ${config.streamIntervalMs} ms apart) run once per target, after the rounds; each is one connection, opened before the requests are all sent at once, and "open" means its first event arrived.`)
  out.push(`- Chunk gap: ${config.interferenceStreams} streams of ${config.interferenceEvents} events ${config.interferenceIntervalMs} ms apart, alone and then beside ${config.interferenceConcurrency} concurrent 128 KB-prompt requests in a loop, once per gateway per round; the added p99 is the median of the rounds' differences. Its floor is the machine's scheduling noise.`)
  for (const n of notes) out.push(`- ${n}`)
  for (const t of gateways) for (const s of results.logs[t.id]?.samples ?? []) out.push(`- ${t.label} logged ${s}`)
  if (problems.length) {
    out.push('', `## NOT A MEASUREMENT: ${problems.length} problem${problems.length > 1 ? 's' : ''}`, '')
    for (const p of problems.slice(0, 30)) out.push(`- ${p}`)
  }
  return out.join('\n') + '\n'
}

function goals({ config, gateways, has, rps, cpu, med, results }) {
  const out = ['## Goals (issue 10)', '', `| goal | ${gateways.map((g) => g.label).join(' | ')} |`, `|---|${gateways.map(() => '---').join('|')}|`]
  /** value vs bound: met when value ≥ bound (atLeast) or ≤ bound; the miss in the goal's own unit. */
  const verdict = (value, bound, atLeast, fmt, unit = '') => {
    if (!ok(value)) return 'not measured'
    const met = atLeast ? value >= bound : value <= bound
    return met ? `met (${fmt(value)}${unit})` : `missed by ${fmt(Math.abs(value - bound))}${unit} (${fmt(value)}${unit})`
  }
  const goal = (label, cell) => out.push(`| ${label} | ${gateways.map((g) => cell(g) ?? '—').join(' | ')} |`)
  for (const [id, bound, what] of [['hi', 0.5, 'non-stream'], ['stream20', 0.6, 'stream, 20 events'], ['prompt16k', 0.4, '16 KB prompt']]) {
    goal(`${what}, c=${config.concurrency}: ≥ ${bound} × nginx`, (g) =>
      has('nginx') ? verdict(rps(id, g.id) / rps(id, 'nginx'), bound, true, fmtRatio, '×') : 'not checked: no nginx')
  }
  for (const [id, what] of gateways.some((g) => g.id === 'mysql') ? [['hi', 'non-stream'], ['stream20', 'stream, 20 events'], ['prompt16k', '16 KB prompt']] : []) {
    goal(`MySQL + Redis ≥ 0.8 × SQLite, ${what}`, (g) => (g.id === 'mysql' ? verdict(rps(id, 'mysql') / rps(id, 'sqlite'), 0.8, true, fmtRatio, '×') : undefined))
  }
  const added = (g, pick) => med('latency', g.id, pick) - med('latency', 'direct', pick)
  goal('added latency at c=1, p50 ≤ 0.25 ms', (g) => verdict(added(g, (m) => m.p50_ms), 0.25, false, fmtMs, ' ms'))
  goal('added latency at c=1, p99 ≤ 1.5 ms', (g) => verdict(added(g, (m) => m.p99_ms), 1.5, false, fmtMs, ' ms'))
  goal('CPU per non-stream request ≤ 100 µs', (g) => verdict(cpu('hi', g.id), 100, false, fmtInt, ' µs'))
  goal('RSS at rest ≤ 120 MB', (g) => verdict(results.rss[g.id]?.rest_kb / 1024, 120, false, (x) => f1.format(x), ' MB'))
  goal('≤ 32 KB per open stream', (g) => verdict(results.streams[g.id]?.kb_per_stream, 32, false, (x) => f1.format(x), ' KB'))
  goal(`${fmtInt(config.streams)} streams through one channel all open within 1 s`, (g) => {
    const s = results.streams[g.id]
    if (!s) return 'not measured'
    if (!ok(s.all_open_ms)) return `missed: ${fmtInt(s.opened)} of ${fmtInt(config.streams)} ever opened`
    return verdict(s.all_open_ms / 1000, 1, false, (x) => f2.format(x), ' s')
  })
  goal('a 128 KB prompt adds ≤ 1 ms to other streams\' chunk delays (p99)', (g) => {
    const runs = results.interference[g.id]
    return runs ? verdict(median(runs.map((r) => r.added_p99_ms)), 1, false, fmtMs, ' ms') : 'not measured'
  })
  return out
}

function environment() {
  const git = (...args) => spawnSync('git', args, { encoding: 'utf8', cwd: new URL('..', import.meta.url).pathname })
  const head = git('rev-parse', '--short', 'HEAD').stdout?.trim()
  const dirty = head && git('diff-index', '--quiet', 'HEAD', '--').status === 1
  const cpus = os.cpus()
  return [
    head ? `commit ${head}${dirty ? ' (with uncommitted changes)' : ''}` : 'not a git checkout',
    `Node ${process.version}`,
    `${cpus.length} CPUs (${cpus[0]?.model.trim() ?? '?'})`,
  ].join(' · ')
}
