// Many concurrent SSE streams over raw sockets, one connection each: `node bench/streams.mjs '<json spec>'`.
// First every connection is opened (at most `connectConcurrency` connects in flight, so a listen backlog is
// not what gets measured), then every request is written at once and the clock starts. A stream is "open"
// when its first SSE event arrives. Prints one JSON line: time to first event p50/p99, the time until all were
// open, gaps between consecutive events (p50/p99), and how many streams ended with 200 and `data: [DONE]`.
import { readFileSync } from 'node:fs'
import net from 'node:net'

const spec = JSON.parse(process.argv[2])
const { host, port, path, headers = {}, count, connectConcurrency = 100, boundSeconds = 120 } = spec
const body = readFileSync(spec.bodyFile)
if (process.env.BENCH_CHILD === '1') process.stdin.on('end', () => process.exit(1)).resume()

const EVENT = Buffer.from('data: ')
const DONE = Buffer.from('data: [DONE]')
const now = () => Number(process.hrtime.bigint()) / 1e6
const deadline = now() + boundSeconds * 1000

const request = Buffer.concat([
  Buffer.from(
    `POST ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${body.length}\r\nConnection: close\r\n` +
      Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('') + '\r\n',
  ),
  body,
])

/** Occurrences of `needle` in `tail + chunk` that end inside `chunk` (so none is counted twice). */
function countIn(tail, chunk, needle) {
  const joined = tail.length ? Buffer.concat([tail, chunk]) : chunk
  let n = 0
  for (let i = joined.indexOf(needle); i >= 0; i = joined.indexOf(needle, i + 1)) {
    if (i + needle.length > tail.length) n++
  }
  return n
}

function connectOne() {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, noDelay: true })
    socket.once('connect', () => resolve(socket))
    socket.once('error', () => resolve(null))
  })
}

async function connectAll() {
  const sockets = []
  let next = 0
  let failed = 0
  async function lane() {
    while (next < count && now() < deadline) {
      next++
      const s = await connectOne()
      if (s) sockets.push(s)
      else failed++
    }
  }
  await Promise.all(Array.from({ length: Math.min(connectConcurrency, count) }, lane))
  return { sockets, failed }
}

const connectStarted = now()
const { sockets, failed: connectErrors } = await connectAll()
const connectMs = now() - connectStarted

const streams = sockets.map(() => ({ status: 0, head: '', firstEventAt: 0, lastEventAt: 0, events: 0, done: false, ended: false, tail: Buffer.alloc(0), gaps: [] }))
let ended = 0
let resolveAllEnded
const allEnded = new Promise((r) => (resolveAllEnded = r))
const t0 = now()
sockets.forEach((socket, i) => {
  const s = streams[i]
  const finish = () => {
    if (s.ended) return
    s.ended = true
    s.endedAt = now()
    if (++ended === sockets.length) resolveAllEnded()
  }
  socket.on('data', (chunk) => {
    const at = now()
    if (!s.status) {
      s.head += chunk.toString('latin1', 0, Math.min(chunk.length, 64))
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(s.head)
      if (m) s.status = Number(m[1])
    }
    const events = countIn(s.tail, chunk, EVENT)
    if (events > 0) {
      if (!s.firstEventAt) s.firstEventAt = at
      else s.gaps.push(at - s.lastEventAt)
      for (let k = 1; k < events; k++) s.gaps.push(0)
      s.lastEventAt = at
      s.events += events
    }
    if (!s.done && countIn(s.tail, chunk, DONE) > 0) s.done = true
    s.tail = chunk.subarray(Math.max(0, chunk.length - DONE.length))
  })
  socket.on('close', finish)
  socket.on('error', finish)
  socket.write(request)
})
if (sockets.length === 0) resolveAllEnded()

const bound = setTimeout(resolveAllEnded, Math.max(0, deadline - now()))
await allEnded
clearTimeout(bound)
for (const socket of sockets) socket.destroy()

const sorted = (xs) => xs.sort((a, b) => a - b)
const pct = (xs, p) => (xs.length ? xs[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))] : null)
const ttfb = sorted(streams.filter((s) => s.firstEventAt).map((s) => s.firstEventAt - t0))
const gaps = sorted(streams.flatMap((s) => s.gaps))
const statusCounts = {}
for (const s of streams) statusCounts[s.status || 'none'] = (statusCounts[s.status || 'none'] ?? 0) + 1
const ok = streams.filter((s) => s.status === 200 && s.done).length
const eventCounts = streams.map((s) => s.events)
process.stdout.write(
  JSON.stringify({
    count,
    connected: sockets.length,
    connect_errors: connectErrors,
    connect_ms: connectMs,
    ok,
    failed: count - ok,
    status_counts: statusCounts,
    opened: ttfb.length,
    ttfb_p50_ms: pct(ttfb, 50),
    ttfb_p99_ms: pct(ttfb, 99),
    all_open_ms: ttfb.length === count ? ttfb[ttfb.length - 1] : null,
    all_done_ms: ended === count && ok === count ? Math.max(...streams.map((s) => s.endedAt - t0)) : null,
    gaps: gaps.length,
    gap_p50_ms: pct(gaps, 50),
    gap_p99_ms: pct(gaps, 99),
    events_min: eventCounts.length ? Math.min(...eventCounts) : 0,
    events_max: eventCounts.length ? Math.max(...eventCounts) : 0,
  }) + '\n',
)
process.exit(0)
