// A lean, instant OpenAI-compatible upstream for benchmarks (the test fake records every request;
// this one does nothing but answer). Prints its port on stdout.
import http from 'node:http'

const CHUNKS = Number(process.env.BENCH_CHUNKS || 20)
const usage = { prompt_tokens: 10, completion_tokens: 20, total_tokens: 30 }
const completion = JSON.stringify({
  id: 'chatcmpl-bench', object: 'chat.completion', created: 1700000000, model: 'bench-model',
  choices: [{ index: 0, message: { role: 'assistant', content: 'Hello from the bench upstream.' }, finish_reason: 'stop' }],
  usage,
})
const chunk = (delta, finish = null) =>
  `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1700000000, model: 'bench-model', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`
const streamBody = (withUsage) => {
  let s = chunk({ role: 'assistant', content: '' })
  for (let i = 0; i < CHUNKS; i++) s += chunk({ content: `w${i} ` })
  s += chunk({}, 'stop')
  if (withUsage) s += `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1700000000, model: 'bench-model', choices: [], usage: { prompt_tokens: 10, completion_tokens: CHUNKS, total_tokens: 10 + CHUNKS } })}\n\n`
  return s + 'data: [DONE]\n\n'
}
const withUsage = streamBody(true)
const withoutUsage = streamBody(false)

const server = http.createServer((req, res) => {
  const parts = []
  req.on('data', (c) => parts.push(c))
  req.on('end', () => {
    const body = parts.length ? JSON.parse(Buffer.concat(parts).toString()) : {}
    if (!body.stream) {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(completion) })
      return res.end(completion)
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
    res.end(body.stream_options?.include_usage ? withUsage : withoutUsage)
  })
})
server.keepAliveTimeout = 65_000
server.listen(Number(process.env.PORT || 0), '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`))
process.on('SIGTERM', () => server.close(() => process.exit(0)))
