// A lean OpenAI-compatible upstream for benchmarks (the test fake records every request; this one only answers).
// Prints its port on stdout; exits on SIGTERM, and with BENCH_CHILD=1 also when its parent closes its stdin.
//
// Request headers choose the answer, so the gateway's body handling is not involved:
//   x-bench-events       content events in a stream (default 20, at most 100,000)
//   x-bench-interval-ms  pause before each content event (default 0: the whole stream in one write)
// A stream is role chunk, N content chunks, finish chunk, the usage-only chunk when the body asks for
// `stream_options.include_usage` (as OpenAI does), then `data: [DONE]`. The body is only searched for the two
// flags, never parsed, so a 128 KB prompt costs this process a memcpy and a byte search, not a JSON parse.
import http from 'node:http'

const DEFAULT_EVENTS = 20
const MAX_EVENTS = 100_000
const MAX_INTERVAL_MS = 60_000
const head = '{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"bench-model","choices":'
const roleEvent = `data: ${head}[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}\n\n`
const contentEvent = (i) => `data: ${head}[{"index":0,"delta":{"content":"w${i} "},"finish_reason":null}]}\n\n`
const finishEvent = `data: ${head}[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n`
const usageEvent = (prompt, completion) =>
  `data: ${head}[],"usage":{"prompt_tokens":${prompt},"completion_tokens":${completion},"total_tokens":${prompt + completion}}}\n\n`
const done = 'data: [DONE]\n\n'
const completion = (prompt) =>
  '{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"bench-model",' +
  '"choices":[{"index":0,"message":{"role":"assistant","content":"Hello from the bench upstream."},"finish_reason":"stop"}],' +
  `"usage":{"prompt_tokens":${prompt},"completion_tokens":7,"total_tokens":${prompt + 7}}}`

const STREAM_TRUE = [Buffer.from('"stream":true'), Buffer.from('"stream": true')]
const USAGE_TRUE = [Buffer.from('"include_usage":true'), Buffer.from('"include_usage": true')]
const has = (body, needles) => needles.some((n) => body.indexOf(n) >= 0)

/** Instant streams are built once per event count. */
const instantBodies = new Map()
function instantStream(events, withUsage, prompt) {
  const key = `${events}:${withUsage}`
  let body = instantBodies.get(key)
  if (!body) {
    body = roleEvent
    for (let i = 0; i < events; i++) body += contentEvent(i)
    body += finishEvent
    if (instantBodies.size < 64) instantBodies.set(key, body)
  }
  return withUsage ? body + usageEvent(prompt, events) + done : body + done
}

function slowStream(res, events, intervalMs, withUsage, prompt) {
  res.write(roleEvent)
  let sent = 0
  const timer = setInterval(() => {
    if (res.destroyed) return clearInterval(timer)
    res.write(contentEvent(sent))
    if (++sent < events) return
    clearInterval(timer)
    res.end(finishEvent + (withUsage ? usageEvent(prompt, events) : '') + done)
  }, intervalMs)
  res.once('close', () => clearInterval(timer))
}

const boundedInt = (value, fallback, max) => {
  const n = Number(value)
  return Number.isInteger(n) && n >= 0 ? Math.min(n, max) : fallback
}

const server = http.createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  const parts = []
  let length = 0
  req.on('data', (c) => {
    parts.push(c)
    length += c.length
  })
  req.on('end', () => {
    const body = parts.length === 1 ? parts[0] : Buffer.concat(parts, length)
    const prompt = Math.max(1, Math.ceil(length / 4))
    if (!has(body, STREAM_TRUE)) {
      const json = completion(prompt)
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) })
      return res.end(json)
    }
    const events = boundedInt(req.headers['x-bench-events'], DEFAULT_EVENTS, MAX_EVENTS)
    const intervalMs = boundedInt(req.headers['x-bench-interval-ms'], 0, MAX_INTERVAL_MS)
    const withUsage = has(body, USAGE_TRUE)
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
    if (intervalMs === 0 || events === 0) return res.end(instantStream(events, withUsage, prompt))
    slowStream(res, events, intervalMs, withUsage, prompt)
  })
})
server.listen({ port: Number(process.env.PORT || 0), host: '127.0.0.1', backlog: 4096 }, () =>
  process.stdout.write(`${server.address().port}\n`),
)
const stop = () => {
  server.close(() => process.exit(0))
  server.closeAllConnections()
  setTimeout(() => process.exit(0), 1000).unref()
}
process.on('SIGTERM', stop)
// Started by the bench, stdin is a pipe from it: when the bench is gone, so is the pipe, and so is this process.
if (process.env.BENCH_CHILD === '1') process.stdin.on('end', stop).on('error', stop).resume()
