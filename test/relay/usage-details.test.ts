// Cached and reasoning tokens in OpenAI's usage (CONTRACT §4), read on the relay's way: from a stream's usage
// chunk by the SSE event reader (which JSON.parses the usage object only), and from a non-stream JSON body.
import t from 'tap'
import { usageFromJson } from '../../src/relay/passthrough.js'
import { SseEventReader } from '../../src/relay/sse-event.js'

const event = (json: unknown) => Buffer.from(`data: ${JSON.stringify(json)}\n\n`)
const CHAT_USAGE = {
  prompt_tokens: 2006, completion_tokens: 300, total_tokens: 2306,
  prompt_tokens_details: { cached_tokens: 1920, audio_tokens: 0 },
  completion_tokens_details: { reasoning_tokens: 192, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
}

t.test('a chat stream usage chunk: cached and reasoning tokens beside the totals', async (t) => {
  const reader = new SseEventReader()
  const r = reader.read(event({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'o3', choices: [], usage: CHAT_USAGE }))
  t.same(r.usage, { prompt_tokens: 2006, completion_tokens: 300, total_tokens: 2306, cached_tokens: 1920, reasoning_tokens: 192 })
  t.equal(r.usageOnly, true)
})

t.test('details in any key order, before or after the totals, with whitespace', async (t) => {
  const raw = 'data: {"choices":[],"usage":{ "completion_tokens_details" : {"reasoning_tokens": 7},"prompt_tokens":9, "prompt_tokens_details":{"cached_tokens":4},"completion_tokens":8 }}\n\n'
  t.same(new SseEventReader().read(Buffer.from(raw)).usage, { prompt_tokens: 9, completion_tokens: 8, cached_tokens: 4, reasoning_tokens: 7 })
})

t.test('zero, missing or malformed details leave the usage as it was', async (t) => {
  const reader = new SseEventReader()
  for (const details of [
    { prompt_tokens_details: { cached_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 0 } },
    {},
    { prompt_tokens_details: null, completion_tokens_details: 'x' },
    { prompt_tokens_details: { cached_tokens: '5' }, completion_tokens_details: { reasoning_tokens: -1 } },
    { cached_tokens: 5, reasoning_tokens: 5 },
  ]) {
    t.same(reader.read(event({ choices: [], usage: { prompt_tokens: 3, completion_tokens: 4, ...details } })).usage, { prompt_tokens: 3, completion_tokens: 4 }, JSON.stringify(details))
  }
})

t.test('details nested somewhere else are not the usage’s', async (t) => {
  const r = new SseEventReader().read(event({ choices: [{ delta: { content: 'hi', prompt_tokens_details: { cached_tokens: 5 } } }], usage: null }))
  t.equal(r.usage, null)
  t.equal(r.text, 'hi')
})

t.test('a Responses API stream: input_/output_tokens_details of response.completed', async (t) => {
  const completed = {
    type: 'response.completed',
    response: { id: 'resp_1', status: 'completed', usage: { input_tokens: 36, input_tokens_details: { cached_tokens: 12 }, output_tokens: 87, output_tokens_details: { reasoning_tokens: 40 }, total_tokens: 123 } },
  }
  t.same(new SseEventReader().read(event(completed)).usage, { prompt_tokens: 36, completion_tokens: 87, cached_tokens: 12, reasoning_tokens: 40 })
  const plain = { type: 'response.completed', response: { usage: { input_tokens: 5, output_tokens: 6, input_tokens_details: { cached_tokens: 0 } } } }
  t.same(new SseEventReader().read(event(plain)).usage, { prompt_tokens: 5, completion_tokens: 6 })
})

t.test('one reader across a stream: a usage chunk’s details do not leak into the next event', async (t) => {
  const reader = new SseEventReader()
  reader.read(event({ id: 'a', choices: [], usage: CHAT_USAGE }))
  t.equal(reader.read(event({ id: 'a', choices: [{ delta: { content: 'x' } }] })).usage, null)
  t.same(reader.read(event({ id: 'a', choices: [], usage: { prompt_tokens: 1, completion_tokens: 2 } })).usage, { prompt_tokens: 1, completion_tokens: 2 })
})

t.test('a non-stream body: chat, Responses and embeddings usage', async (t) => {
  const body = (json: unknown) => Buffer.from(JSON.stringify(json))
  t.same(usageFromJson(body({ id: 'chatcmpl-1', object: 'chat.completion', choices: [], usage: CHAT_USAGE })), { prompt_tokens: 2006, completion_tokens: 300, cached_tokens: 1920, reasoning_tokens: 192 })
  t.same(usageFromJson(body({ object: 'response', usage: { input_tokens: 36, input_tokens_details: { cached_tokens: 12 }, output_tokens: 87, output_tokens_details: { reasoning_tokens: 40 } } })), { prompt_tokens: 36, completion_tokens: 87, cached_tokens: 12, reasoning_tokens: 40 })
  t.same(usageFromJson(body({ object: 'list', data: [], usage: { prompt_tokens: 8, total_tokens: 8 } })), { prompt_tokens: 8, completion_tokens: 0 })
  t.equal(usageFromJson(body({ object: 'chat.completion', choices: [] })), null)
  t.equal(usageFromJson(body({ usage: null })), null)
  t.equal(usageFromJson(Buffer.from('{"usage":')), null)
})
