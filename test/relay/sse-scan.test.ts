// The SSE event reader walks the event's bytes instead of JSON.parse-ing them (issue 10, item 6). These tests hold
// it to what JSON.parse reads — the same text, usage and usage-only flag on any well-formed OpenAI event — and
// check that it never throws and stays linear on anything else.
import fc from 'fast-check'
import { isDeepStrictEqual } from 'node:util'
import t from 'tap'
import { countTextTokens } from '../../src/billing/tokens-count.js'
import { SseEventSplitter } from '../../src/relay/sse.js'
import { SseEventReader, type ChunkInfo } from '../../src/relay/sse-event.js'

type Json = Record<string, unknown>
const isRecord = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)
const tokens = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0)

/**
 * The reference: the event's data assembled as the SSE spec says and JSON.parse-d, read the way the relay read
 * it before the scanner. Text is gathered in document order (the scanner reads bytes in order).
 */
function reference(event: string): ChunkInfo {
  const nothing: ChunkInfo = { done: false, usage: null, usageOnly: false, text: '' }
  let data: string | null = null
  for (const raw of event.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw
    if (!line.startsWith('data:')) continue
    const value = line.charCodeAt(5) === 0x20 ? line.slice(6) : line.slice(5)
    data = data === null ? value : `${data}\n${value}`
  }
  if (data === null) return nothing
  if (data.trim() === '[DONE]') return { ...nothing, done: true }
  let parsed: unknown
  try {
    parsed = JSON.parse(data)
  } catch {
    return nothing
  }
  if (!isRecord(parsed)) return nothing
  if (typeof parsed.type === 'string' && parsed.type.startsWith('response.')) {
    const usage = isRecord(parsed.response) && isRecord(parsed.response.usage) ? parsed.response.usage : null
    return {
      done: false,
      usage: usage ? { prompt_tokens: tokens(usage.input_tokens), completion_tokens: tokens(usage.output_tokens) } : null,
      usageOnly: false,
      text: parsed.type !== 'response.completed' && typeof parsed.delta === 'string' ? parsed.delta : '',
    }
  }
  const u = isRecord(parsed.usage) ? parsed.usage : null
  const usage = u ? { prompt_tokens: tokens(u.prompt_tokens), completion_tokens: tokens(u.completion_tokens), ...(typeof u.total_tokens === 'number' ? { total_tokens: u.total_tokens } : {}) } : null
  let text = ''
  if (Array.isArray(parsed.choices)) {
    for (const choice of parsed.choices) {
      if (!isRecord(choice)) continue
      for (const [key, value] of Object.entries(choice)) {
        if (key === 'text' && typeof value === 'string') text += value
        if (key !== 'delta' || !isRecord(value)) continue
        for (const [k, v] of Object.entries(value)) {
          if ((k === 'content' || k === 'reasoning_content') && typeof v === 'string') text += v
          if (k === 'tool_calls' && Array.isArray(v)) {
            for (const call of v) {
              if (isRecord(call) && isRecord(call.function) && typeof call.function.arguments === 'string') text += call.function.arguments
            }
          }
        }
      }
    }
  }
  return { done: false, usage, usageOnly: usage !== null && Array.isArray(parsed.choices) && parsed.choices.length === 0, text }
}

function read(event: string | Buffer) {
  return new SseEventReader().read(Buffer.isBuffer(event) ? event : Buffer.from(event))
}

const withoutBound = ({ done, usage, usageOnly, text }: ChunkInfo): ChunkInfo => ({ done, usage, usageOnly, text })

// ── generators of OpenAI-shaped events ──────────────────────────────────────────────────────────────────────

const tricky = fc.constantFrom('"content":"x"', '\\', '\\"', '"', '{', '}', '[', ']', ',', ':', 'data: ', '\n', '\r\n', '\u2028', '😀', '人工', '\u0000', '"usage":{"prompt_tokens":1}')
const text = fc.oneof(fc.string({ maxLength: 12 }), fc.string({ unit: 'binary', maxLength: 12 }), tricky, fc.array(tricky, { maxLength: 4 }).map((a) => a.join('')))
const scalar = fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.constant(null), text)
/** Any JSON value, to put under keys the reader must ignore. */
const junk = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, scalar, fc.array(tie('value'), { maxLength: 3 }), fc.dictionary(fc.constantFrom('content', 'text', 'arguments', 'delta', 'usage', 'choices', 'type', 'x'), tie('value'), { maxKeys: 3 })),
})).value

/** An object with some of `fields` (each maybe absent), in a random key order. */
function shuffled(fields: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<Json> {
  const entries = Object.entries(fields).map(([key, arb]) => fc.option(arb.map((value) => [key, value] as const), { nil: undefined }))
  return fc.tuple(fc.tuple(...entries), fc.array(fc.nat(), { minLength: entries.length, maxLength: entries.length })).map(([present, order]) => {
    const kept = present.filter((e): e is readonly [string, unknown] => e !== undefined)
    const sorted = kept.map((e, i) => ({ e, k: order[i] ?? 0 })).sort((a, b) => a.k - b.k)
    return Object.fromEntries(sorted.map(({ e }) => e))
  })
}

const logprobs = fc.oneof(fc.constant(null), fc.record({ content: fc.array(fc.record({ token: text, logprob: fc.double({ noNaN: true, noDefaultInfinity: true }), bytes: fc.array(fc.nat(255), { maxLength: 3 }) }), { maxLength: 2 }) }))
const toolCall = shuffled({ index: fc.nat(3), id: fc.constantFrom('call_content', 'call_1'), type: fc.constant('function'), function: shuffled({ name: text, arguments: text }) })
const delta = shuffled({ role: fc.constant('assistant'), content: fc.oneof(text, fc.constant(null)), reasoning_content: text, refusal: fc.oneof(text, fc.constant(null)), tool_calls: fc.array(toolCall, { maxLength: 2 }), audio: junk })
const choice = shuffled({ index: fc.nat(3), delta, text, logprobs, finish_reason: fc.constantFrom(null, 'stop', 'length'), extra: junk })
const usage = fc.oneof(fc.constant(null), fc.integer(), shuffled({ prompt_tokens: fc.oneof(fc.nat(), scalar), completion_tokens: fc.oneof(fc.nat(), scalar), total_tokens: fc.oneof(fc.nat(), scalar), details: junk }))
const chatChunk = shuffled({
  id: fc.constantFrom('chatcmpl-1', 'chatcmpl-"choices"'),
  object: fc.constantFrom('chat.completion.chunk', 'text_completion'),
  created: fc.nat(),
  model: text,
  choices: fc.oneof(fc.array(choice, { maxLength: 3 }), fc.constant([]), junk),
  usage,
  obfuscation: text,
})
const responsesEvent = shuffled({
  type: fc.constantFrom('response.output_text.delta', 'response.completed', 'response.created', 'response.output_text.done', 'response.function_call_arguments.delta', 'response.incomplete', 'error'),
  delta: fc.oneof(text, junk),
  text,
  item_id: text,
  response: shuffled({ id: text, output: junk, usage: fc.oneof(fc.constant(null), shuffled({ input_tokens: fc.oneof(fc.nat(), scalar), output_tokens: fc.oneof(fc.nat(), scalar), total_tokens: fc.nat() })) }),
})

/** An SSE event around a JSON text: one data line or several (pretty-printed), LF or CRLF, maybe other fields. */
const sseEvent = fc
  .record({
    json: fc.oneof(chatChunk, responsesEvent, junk),
    indent: fc.constantFrom(0, 0, 0, 2),
    crlf: fc.boolean(),
    space: fc.boolean(),
    before: fc.constantFrom('', 'event: message\n', ': keep-alive\n', 'id: 7\n'),
  })
  .map(({ json, indent, crlf, space, before }) => {
    const eol = crlf ? '\r\n' : '\n'
    const lines = JSON.stringify(json, null, indent).split('\n')
    return before.replace('\n', eol) + lines.map((line) => `data:${space ? ' ' : ''}${line}${eol}`).join('') + eol
  })

t.test('on any well-formed event the reader reads what JSON.parse reads', async (t) => {
  // fast-check reports the smallest event on which they differ.
  fc.assert(
    fc.property(sseEvent, (event) => isDeepStrictEqual(withoutBound(read(event)), reference(event))),
    { numRuns: 3000 },
  )
  t.pass()
})

t.test('the text bound is never below the UTF-8 length of the text (and so never below its tokens)', async (t) => {
  fc.assert(
    fc.property(sseEvent, (event) => {
      const r = read(event)
      return r.textBound >= Buffer.byteLength(r.text)
    }),
    { numRuns: 2000 },
  )
  for (const s of ['人工智能正在改变世界', '😀😁😂', '\u0000\u001f', 'a\nb\tc"d\\e', '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ﷽ ꙮ']) {
    const r = read(`data: ${JSON.stringify({ choices: [{ delta: { content: s } }] })}\n\n`)
    t.equal(r.text, s)
    t.ok(r.textBound >= countTextTokens(s), `${JSON.stringify(s)}: bound ${r.textBound} ≥ ${countTextTokens(s)} tokens`)
  }
})

t.test('cut, spliced or corrupted events never make the reader throw', async (t) => {
  fc.assert(
    fc.property(sseEvent, fc.nat(), fc.nat(255), fc.constantFrom('cut', 'flip', 'insert', 'drop'), (event, at, byte, how) => {
      const bytes = Buffer.from(event)
      const i = bytes.length === 0 ? 0 : at % bytes.length
      const mutated =
        how === 'cut'
          ? bytes.subarray(0, i)
          : how === 'flip'
            ? Buffer.concat([bytes.subarray(0, i), Buffer.from([byte]), bytes.subarray(i + 1)])
            : how === 'insert'
              ? Buffer.concat([bytes.subarray(0, i), Buffer.from([byte]), bytes.subarray(i)])
              : Buffer.concat([bytes.subarray(0, i), bytes.subarray(i + 1)])
      read(mutated)
      return true
    }),
    { numRuns: 5000 },
  )
  t.pass()
})

t.test('a cut event is read as nothing, as JSON.parse would have it', async (t) => {
  const event = `data: ${JSON.stringify({ choices: [{ delta: { content: 'hello' } }], usage: { prompt_tokens: 1, completion_tokens: 2 } })}`
  for (let cut = 0; cut < event.length; cut++) {
    t.same(withoutBound(read(event.slice(0, cut))), { done: false, usage: null, usageOnly: false, text: '' }, `cut at ${cut}`)
  }
  t.equal(read(event).text, 'hello', 'whole, without its terminator, it is read')
})

t.test('content that is not generated text is not counted', async (t) => {
  const event = (choice: Json) => `data: ${JSON.stringify({ id: 'x', choices: [choice] })}\n\n`
  t.equal(read(event({ delta: { content: 'a' }, logprobs: { content: [{ token: 'tok', bytes: [1], top_logprobs: [{ token: 'alt' }] }] } })).text, 'a', 'logprobs.content is an array')
  t.equal(read(event({ delta: { tool_calls: [{ id: 'call_"content":"x"', function: { name: 'content', arguments: '{}' } }] } })).text, '{}', 'only arguments of a tool call')
  t.equal(read(event({ delta: { content: '{"content":"nested"}' } })).text, '{"content":"nested"}', 'a key inside a string is text')
  t.equal(read(event({ delta: { content: null, refusal: 'no' } })).text, '', 'null content, refusal')
  t.equal(read(event({ message: { content: 'not a delta' }, delta: {} })).text, '')
  t.equal(read(`data: ${JSON.stringify({ content: 'top', delta: 'chat chunks have no top-level delta', choices: [] })}\n\n`).text, '')
  t.equal(read(`data: ${JSON.stringify({ type: 'response.output_text.done', text: 'whole answer again' })}\n\n`).text, '', 'a Responses .done event repeats the text: not counted twice')
  t.equal(read(`data: ${JSON.stringify({ delta: 'x', type: 'response.output_text.delta' })}\n\n`).text, 'x', 'type after delta')
})

t.test('usage: only an object counts, and only the usage object is parsed', async (t) => {
  const base = { id: 'x', choices: [] as unknown[] }
  t.same(read(`data: ${JSON.stringify({ ...base, usage: { prompt_tokens: 3, completion_tokens: 4 } })}\n\n`).usage, { prompt_tokens: 3, completion_tokens: 4 })
  t.equal(read(`data: ${JSON.stringify({ ...base, usage: { prompt_tokens: 3 } })}\n\n`).usageOnly, true)
  t.equal(read(`data: ${JSON.stringify({ ...base, usage: null })}\n\n`).usage, null)
  t.equal(read(`data: ${JSON.stringify({ ...base, usage: [1] })}\n\n`).usage, null)
  t.equal(read(`data: ${JSON.stringify({ choices: [{ delta: {} }], usage: {} })}\n\n`).usageOnly, false, 'choices not empty')
  t.equal(read(`data: ${JSON.stringify({ choices: {}, usage: {} })}\n\n`).usageOnly, false, 'choices not an array')
  t.equal(read(`data: {"choices": [ ] ,"usage" : {"prompt_tokens" :1} }\n\n`).usageOnly, true, 'whitespace anywhere')
  t.same(read(`data: ${JSON.stringify({ x: { usage: { prompt_tokens: 9 } }, choices: [] })}\n\n`).usage, null, 'a nested usage is not the chunk’s')
})

t.test('malformed JSON reads as nothing where JSON.parse would refuse it', async (t) => {
  const empty = { done: false, usage: null, usageOnly: false, text: '' }
  for (const data of ['{"choices":[{"delta":{"content":"x"}}]', '{"choices":[{"delta":{"content":"x"}}]]}', '{"choices":[{"delta":{"content":"x"}}]} trailing', '{"choices":[{"delta":{"content":"\\x"}}]}', '[{"choices":[]}]', '"text"', '{"choices":[{"delta":{"content":"x}}]}']) {
    t.same(withoutBound(read(`data: ${data}\n\n`)), empty, data)
  }
})

t.test('the reader is linear: pathological events of 1 MB take milliseconds', async (t) => {
  const cases: [string, string][] = [
    ['backslash runs', `{"choices":[{"delta":{"content":"${'\\\\'.repeat(250_000)}\\""}}]}`],
    ['deep nesting', `${'{"a":['.repeat(100_000)}${']}'.repeat(100_000)}`],
    ['deep nesting, never closed', '{"choices":['.repeat(80_000)],
    ['many keys', `{${Array.from({ length: 60_000 }, (_, i) => `"content${i}":1`).join(',')}}`],
    ['many text values', `{"choices":[${Array.from({ length: 60_000 }, () => '{"text":"ab"}').join(',')}]}`],
    ['quotes only', '"'.repeat(1_000_000)],
  ]
  for (const [name, data] of cases) {
    const event = Buffer.from(`data: ${data}\n\n`)
    const started = performance.now()
    const r = read(event)
    const ms = performance.now() - started
    t.ok(ms < 250, `${name}: ${ms.toFixed(1)} ms for ${event.length} bytes`)
    if (name === 'many text values') t.equal(r.text.length, 120_000)
  }
})

t.test('an event read in pieces by the splitter is read the same as whole', async (t) => {
  fc.assert(
    fc.property(fc.array(sseEvent, { minLength: 1, maxLength: 5 }), fc.integer({ min: 1, max: 64 }), (events, size) => {
      const bytes = Buffer.from(events.join(''))
      const splitter = new SseEventSplitter()
      const out: string[] = []
      for (let i = 0; i < bytes.length; i += size) for (const e of splitter.push(bytes.subarray(i, i + size))) out.push(read(e).text)
      const rest = splitter.flush()
      if (rest) out.push(read(rest).text)
      return out.join('\u0001') === events.map((e) => reference(e).text).join('\u0001')
    }),
    { numRuns: 500 },
  )
  t.pass()
})

t.test('one reader per stream: every read starts afresh', async (t) => {
  const reader = new SseEventReader()
  reader.read(Buffer.from(`data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 1 } })}\n\n`))
  t.equal(reader.usageOnly, true)
  reader.read(Buffer.from(`data: ${JSON.stringify({ choices: [{ delta: { content: 'a' } }] })}\n\n`))
  t.match(reader, { done: false, usage: null, usageOnly: false, text: 'a', textBound: 1 })
  reader.read(Buffer.from('data: [DONE]\n\n'))
  t.match(reader, { done: true, usage: null, usageOnly: false, text: '', textBound: 0 })
})

/** A stream's events: most share one envelope (id, model, …), as OpenAI's do; some differ or are of other kinds. */
const streamOfEvents = fc
  .record({
    envelope: shuffled({ id: fc.constantFrom('chatcmpl-1', 'chatcmpl-"choices"'), object: fc.constant('chat.completion.chunk'), created: fc.nat(), model: text, usage: fc.constant(null) }),
    events: fc.array(
      fc.oneof(
        { weight: 6, arbitrary: fc.record({ choices: fc.array(choice, { maxLength: 2 }), tail: fc.option(shuffled({ usage, obfuscation: text }), { nil: undefined }) }) },
        { weight: 1, arbitrary: sseEvent },
      ),
      { minLength: 1, maxLength: 12 },
    ),
  })
  .map(({ envelope, events }) =>
    events.map((e) => (typeof e === 'string' ? e : `data: ${JSON.stringify({ ...envelope, choices: e.choices, ...e.tail })}\n\n`)),
  )

t.test('reading a whole stream with one reader (envelopes skipped) reads what JSON.parse reads, event by event', async (t) => {
  fc.assert(
    fc.property(streamOfEvents, (events) => {
      const reader = new SseEventReader()
      return events.every((event) => isDeepStrictEqual(withoutBound(reader.read(Buffer.from(event))), reference(event)))
    }),
    { numRuns: 1500 },
  )
  t.pass()
})

t.test('the envelope is skipped only when the bytes are the same, up to and including the choices key', async (t) => {
  const reader = new SseEventReader()
  const event = (envelope: string, rest: string) => Buffer.from(`data: {${envelope}"choices":${rest}}\n\n`)
  t.equal(reader.read(event('"id":"a",', '[{"delta":{"content":"x"}}]')).text, 'x')
  t.equal(reader.read(event('"id":"a",', '[{"delta":{"content":"y"}}]')).text, 'y')
  for (const time of ['first', 'second']) {
    const r = reader.read(event('"id":"a","usage":{"prompt_tokens":2},', '[]'))
    t.ok(r.usageOnly && r.usage?.prompt_tokens === 2, `usage before choices, ${time} time: not an envelope to skip`)
  }
  for (const time of ['first', 'second']) {
    t.equal(reader.read(event('"type":"response.x","delta":"d",', '[]')).text, 'd', `a Responses delta before choices, ${time} time`)
  }
  t.equal(reader.read(event('"id":"b",', '[{"text":"z"}]')).text, 'z')
  t.equal(reader.read(event('"id":"b",', '[],"usage":{"prompt_tokens":3}')).usage?.prompt_tokens, 3)
  t.same(withoutBound(reader.read(Buffer.from('data: {"id":"b","choices"\n\n'))), { done: false, usage: null, usageOnly: false, text: '' }, 'the envelope alone')
  t.same(withoutBound(reader.read(Buffer.from('data: {"id":"b","choices":[{"text":"z"}\n\n'))), { done: false, usage: null, usageOnly: false, text: '' }, 'cut after it')
})
