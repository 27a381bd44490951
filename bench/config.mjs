// The bench's tunables, from the environment. BENCH_TINY=1 is the smoke run the test uses: about a second per
// case, one round, 50 slow streams, no nginx, no MySQL.
import { ALL_CASE_IDS } from './cases.mjs'

function number(name, fallback, { min = 0, max = Infinity } = {}) {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const n = Number(raw)
  if (!Number.isFinite(n) || n < min || n > max) throw new Error(`${name} must be a number in [${min}, ${max}], got ${raw}`)
  return n
}

export function benchConfig() {
  const tiny = process.env.BENCH_TINY === '1'
  const cases = (process.env.BENCH_CASES ?? '').split(',').map((s) => s.trim()).filter(Boolean)
  const unknown = cases.filter((c) => !ALL_CASE_IDS.includes(c))
  if (unknown.length) throw new Error(`BENCH_CASES: unknown ${unknown.join(', ')}; the cases are ${ALL_CASE_IDS.join(', ')}`)
  return {
    tiny,
    /** Load per case per round, shared by the targets (each gets a whole number of seconds: wrk's unit). */
    seconds: tiny ? 1 : number('BENCH_SECONDS', 5, { min: 1, max: 600 }),
    concurrency: number('BENCH_CONCURRENCY', 50, { min: 1, max: 1000 }),
    rounds: tiny ? 1 : number('BENCH_ROUNDS', 3, { min: 1, max: 20 }),
    cases: cases.length ? cases : ALL_CASE_IDS,
    /** Slow streams through one channel: how many at once, events each, ms between events. */
    streams: number('BENCH_STREAMS', tiny ? 50 : 1000, { min: 1, max: 10_000 }),
    streamEvents: tiny ? 5 : 20,
    streamIntervalMs: tiny ? 100 : 500,
    /** Chunk delays of slow streams with and without a loop of 128 KB prompts beside them. */
    interferenceStreams: tiny ? 5 : 20,
    interferenceEvents: tiny ? 10 : 30,
    interferenceIntervalMs: 50,
    interferenceConcurrency: 2,
    warmup: !tiny,
    /** Idle pauses: before "at rest" is read, and before "RSS after" the slow streams. */
    settleMs: tiny ? 200 : 1000,
    nginx: !tiny && process.env.BENCH_NGINX !== '0',
    /** The bare Fastify + @fastify/http-proxy column: the stack's floor. */
    nodeProxy: !tiny && process.env.BENCH_NODE_PROXY !== '0',
    mysqlUrl: tiny ? undefined : process.env.BENCH_MYSQL_URL || undefined,
    redisUrl: tiny ? undefined : process.env.BENCH_REDIS_URL || undefined,
    out: process.env.BENCH_OUT || (tiny ? null : new URL('./results/latest.md', import.meta.url).pathname),
  }
}
