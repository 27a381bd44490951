// Closed-loop load generator: `concurrency` workers each send requests back to back for `seconds`, over one
// undici Pool of keep-alive HTTP/1.1 connections, reading every body to the end. The fallback when wrk is not
// installed; run as its own long-lived process (`node bench/load.mjs --serve`) so it does not share the bench's
// event loop — it still shares the machine's cores with whatever it measures.
import { readFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { pathToFileURL } from 'node:url'
import { Pool } from 'undici'

/** Returns { requests, seconds, rps, p50_ms, p99_ms, transport_errors, non2xx }. */
export async function load({ url, path, headers = {}, body, concurrency = 50, seconds = 10 }) {
  const target = new URL(url)
  const pool = new Pool(target.origin, {
    connections: concurrency, pipelining: 1, headersTimeout: 30_000, bodyTimeout: 30_000,
  })
  const payload = typeof body === 'string' ? body : JSON.stringify(body)
  const latencies = []
  let transportErrors = 0
  let non2xx = 0
  const started = process.hrtime.bigint()
  const deadline = Date.now() + seconds * 1000
  async function worker() {
    while (Date.now() < deadline) {
      const sent = process.hrtime.bigint()
      try {
        const res = await pool.request({
          method: 'POST', path, body: payload,
          headers: { 'content-type': 'application/json', ...headers },
        })
        await res.body.dump({ limit: Infinity })
        if (res.statusCode < 200 || res.statusCode > 299) non2xx++
      } catch {
        transportErrors++
        continue
      }
      latencies.push(Number(process.hrtime.bigint() - sent) / 1e6)
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9
  await pool.close()
  latencies.sort((a, b) => a - b)
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((latencies.length * p) / 100))] ?? NaN
  return {
    requests: latencies.length,
    seconds: elapsed,
    rps: latencies.length / elapsed,
    p50_ms: pct(50),
    p99_ms: pct(99),
    transport_errors: transportErrors,
    non2xx,
  }
}

// As a process: `--serve` reads one JSON spec per stdin line and answers one JSON result per stdout line, so the
// generator stays up (and JIT-warm) for the whole bench; exits when stdin closes. A spec names a body file,
// since a 128 KB body does not fit in one argv string.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href && process.argv[2] === '--serve') {
  const lines = createInterface({ input: process.stdin })
  for await (const line of lines) {
    const spec = JSON.parse(line)
    const result = await load({ ...spec, body: readFileSync(spec.bodyFile, 'utf8') })
    process.stdout.write(JSON.stringify(result) + '\n')
  }
  process.exit(0)
}
