// Closed-loop load generator: `concurrency` workers each send requests back to back for `seconds`,
// over one undici Pool. Reads every body to the end. Returns rps and latency percentiles.
import { Pool } from 'undici'

export async function load({ url, path, headers = {}, body, concurrency = 50, seconds = 10 }) {
  const target = new URL(url)
  const pool = new Pool(target.origin, { connections: concurrency, pipelining: 1 })
  const payload = JSON.stringify(body)
  const latencies = []
  let errors = 0
  let statusErrors = 0
  const deadline = Date.now() + seconds * 1000
  async function worker() {
    while (Date.now() < deadline) {
      const started = process.hrtime.bigint()
      try {
        const res = await pool.request({
          method: 'POST', path, body: payload,
          headers: { 'content-type': 'application/json', ...headers },
        })
        await res.body.text()
        if (res.statusCode !== 200) statusErrors++
      } catch {
        errors++
        continue
      }
      latencies.push(Number(process.hrtime.bigint() - started) / 1e6)
    }
  }
  const started = Date.now()
  await Promise.all(Array.from({ length: concurrency }, worker))
  const elapsed = (Date.now() - started) / 1000
  await pool.close()
  latencies.sort((a, b) => a - b)
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((latencies.length * p) / 100))] ?? NaN
  return {
    requests: latencies.length,
    rps: Math.round(latencies.length / elapsed),
    p50_ms: +pct(50).toFixed(2),
    p99_ms: +pct(99).toFixed(2),
    errors,
    non200: statusErrors,
  }
}
