// The SSE relay writes each upstream chunk to the client in one write (issue 10, item 6): the chunk itself when
// every event in it goes on, else one buffer of the events that do. Driven here with a fake upstream and reply,
// so the writes can be counted and the bytes compared.
import type { FastifyReply, FastifyRequest } from 'fastify'
import t from 'tap'
import { replyClient } from '../../src/relay/relay-client.js'
import { ENDPOINTS } from '../../src/relay/request.js'
import { relaySse, type StreamBudget } from '../../src/relay/stream.js'
import type { BodySink, UpstreamResponse } from '../../src/relay/upstream-call.js'

const chunkEvent = (content: string): string =>
  `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content }, finish_reason: null }] })}\n\n`
const usageEvent = `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', choices: [], usage: { prompt_tokens: 10, completion_tokens: 3, total_tokens: 13 } })}\n\n`
const words = Array.from({ length: 30 }, (_, i) => `w${i} `)
const stream = words.map(chunkEvent).join('') + usageEvent + 'data: [DONE]\n\n'

interface Relayed {
  writes: Buffer[]
  ended: Buffer | null
  headers: Record<string, unknown>
  result: Awaited<ReturnType<typeof relaySse>>
}

async function relay(chunks: Buffer[], opts: { clientWantsUsage?: boolean; budget?: StreamBudget } = {}): Promise<Relayed> {
  const writes: Buffer[] = []
  let ended: Buffer | null = null
  let headers: Record<string, unknown> = {}
  const raw = {
    destroyed: false,
    writableEnded: false,
    writeHead(_status: number, h: Record<string, unknown>) {
      headers = h
    },
    write(chunk: Buffer) {
      writes.push(Buffer.from(chunk))
      return true
    },
    end(chunk?: Buffer) {
      ended = chunk ? Buffer.from(chunk) : null
      raw.writableEnded = true
    },
    once() {},
  }
  const reply = { raw, hijack() {}, getHeaders: () => ({ 'x-request-id': 'req-1' }) } as unknown as FastifyReply
  const upstream: UpstreamResponse = {
    status: 200,
    headers: { 'content-type': 'text/event-stream', 'x-request-id': 'up-1', connection: 'keep-alive' },
    async pipeTo(sink: BodySink) {
      // A chunk per turn of the event loop, as from a socket.
      for (const chunk of chunks) {
        sink.data(chunk)
        await new Promise((resolve) => setImmediate(resolve))
      }
    },
    resume() {},
    read: async () => Buffer.alloc(0),
    dump() {},
    abort() {},
  }
  const result = await relaySse(
    replyClient({ id: 'req-1', url: '/v1/chat/completions', headers: {} } as FastifyRequest, reply),
    upstream,
    {
      endpoint: ENDPOINTS.chat,
      clientWantsUsage: opts.clientWantsUsage ?? false,
      countPromptTokens: async () => 5,
      choices: 1,
      budget: opts.budget ?? { covered: () => Infinity, extend: async () => true },
    },
    new AbortController().signal,
  )
  return { writes, ended, headers, result }
}

function cut(text: string, size: number): Buffer[] {
  const bytes = Buffer.from(text)
  const out: Buffer[] = []
  for (let i = 0; i < bytes.length; i += size) out.push(bytes.subarray(i, i + size))
  return out
}

const withoutUsage = stream.replace(usageEvent, '')

t.test('at most one write per upstream chunk, whatever the chunk boundaries, and the bytes are the stream’s', async (t) => {
  for (const size of [1, 7, 64, 100, 333, 4096, 1 << 20]) {
    const chunks = cut(stream, size)
    const { writes, ended, result } = await relay(chunks)
    t.ok(writes.length <= chunks.length, `${size}-byte chunks: ${writes.length} writes for ${chunks.length} chunks`)
    t.equal(Buffer.concat([...writes, ...(ended ? [ended] : [])]).toString(), withoutUsage, `${size}-byte chunks: the usage-only chunk dropped, all else byte for byte`)
    t.same(result.usage, { prompt_tokens: 10, completion_tokens: 3 })
    t.equal(result.usageSource, 'upstream')
  }
})

t.test('a chunk of whole events that all go on is written as it came: the same buffer, no copy', async (t) => {
  const chunk = Buffer.from(words.slice(0, 5).map(chunkEvent).join(''))
  const { writes } = await relay([chunk])
  t.equal(writes.length, 1)
  t.ok(writes[0]?.equals(chunk))
})

t.test('a chunk whose last event is the dropped usage chunk is one write of the events before it', async (t) => {
  const chunks = [Buffer.from(chunkEvent('a') + chunkEvent('b') + usageEvent), Buffer.from('data: [DONE]\n\n')]
  const { writes } = await relay(chunks)
  t.same(writes.map(String), [chunkEvent('a') + chunkEvent('b'), 'data: [DONE]\n\n'])
})

t.test('the usage chunk in the middle of a chunk: the events around it are joined into one write', async (t) => {
  const { writes } = await relay([Buffer.from(chunkEvent('a') + usageEvent + 'data: [DONE]\n\n')])
  t.same(writes.map(String), [chunkEvent('a') + 'data: [DONE]\n\n'])
})

t.test('an event completed by a chunk is written with the rest of that chunk in one write', async (t) => {
  const whole = chunkEvent('a') + chunkEvent('b') + chunkEvent('c')
  const split = chunkEvent('a').length - 10
  const { writes } = await relay([Buffer.from(whole.slice(0, split)), Buffer.from(whole.slice(split))])
  t.same(writes.map(String), [whole], 'nothing written while the first event was incomplete, then one write')
})

t.test('a client that asked for usage gets every byte of the stream', async (t) => {
  const { writes, ended } = await relay(cut(stream, 50), { clientWantsUsage: true })
  t.equal(Buffer.concat([...writes, ...(ended ? [ended] : [])]).toString(), stream)
})

t.test('a stream without usage is billed from the text counted on the way', async (t) => {
  const { result } = await relay(cut(withoutUsage, 97))
  t.equal(result.usageSource, 'counted')
  t.equal(result.usage?.prompt_tokens, 5)
  t.ok((result.usage?.completion_tokens ?? 0) > 0)
})

t.test('the reservation is extended as the text grows, and the stream is cut when it cannot be', async (t) => {
  const asked: number[] = []
  const covered = 8
  const budget: StreamBudget = {
    covered: () => covered,
    async extend(tokens) {
      asked.push(tokens)
      return false
    },
  }
  const { writes, ended, result } = await relay(cut(withoutUsage, 200), { budget })
  t.ok(asked.length === 1 && (asked[0] ?? 0) > covered, `asked once for more than covered: ${asked}`)
  const body = Buffer.concat([...writes, ...(ended ? [ended] : [])]).toString()
  t.match(body, /"finish_reason":"length"/)
  t.match(body, /insufficient_quota/)
  t.ok(body.trimEnd().endsWith('data: [DONE]'))
  t.equal(result.usageSource, 'counted')
  // Counted up to the event that went past the reservation, which the client did not get.
  const billed = result.usage?.completion_tokens ?? 0
  t.ok(billed > covered && billed < covered + 10, `billed ${billed}, covered ${covered}`)
  t.notOk(body.includes('"w29 "'), 'the rest of the stream was not delivered')
})

t.test('response headers: the gateway’s own win, the upstream’s are filtered, its request id renamed', async (t) => {
  const { headers } = await relay([Buffer.from(stream)])
  t.same(headers, { 'x-request-id': 'req-1', 'content-type': 'text/event-stream', 'x-upstream-request-id': 'up-1' })
})
