// The converters are pure: JSON in, JSON out, SSE event in, SSE events out. Tables of real payloads, both ways.
import t, { type Test } from 'tap'
import { toAnthropicRequest } from '../../src/relay/adapters/anthropic/request.js'
import { fromAnthropicResponse } from '../../src/relay/adapters/anthropic/response.js'
import { AnthropicToOpenAIStream } from '../../src/relay/adapters/anthropic/stream.js'
import { AnthropicEventReader } from '../../src/relay/adapters/anthropic/usage.js'
import { SKIP_SIGNATURE, toGeminiRequest } from '../../src/relay/adapters/gemini/request.js'
import { fromGeminiResponse } from '../../src/relay/adapters/gemini/response.js'
import { GeminiToOpenAIStream } from '../../src/relay/adapters/gemini/stream.js'
import { signatureOfToolCallId, toolCallId } from '../../src/relay/adapters/gemini/tool-ids.js'
import { anthropicErrorBody } from '../../src/relay/formats/anthropic/errors.js'
import { anthropicToCanonical } from '../../src/relay/formats/anthropic/request.js'
import { toAnthropicMessage } from '../../src/relay/formats/anthropic/response.js'
import { OpenAIToAnthropicStream } from '../../src/relay/formats/anthropic/stream.js'
import { ApiError } from '../../src/errors.js'
import { convertRequest } from '../../src/relay/exchange.js'
import { openaiAdapter } from '../../src/relay/adapters/openai/index.js'
import { SseEventReader } from '../../src/relay/sse-event.js'

const ctx = { model: 'm', defaultMaxTokens: 4096 }
type Json = Record<string, unknown>

/** The JSON of every `data:` event (and `[DONE]` as the string), with the event name when there is one. */
function events(buffers: Buffer[]): { name: string | null; data: unknown }[] {
  return buffers.flatMap((b) =>
    b
      .toString('utf8')
      .split('\n\n')
      .filter((e) => e.trim())
      .map((e) => {
        const name = /^event: (.+)$/m.exec(e)?.[1] ?? null
        const data = /^data: (.*)$/m.exec(e)?.[1] ?? ''
        return { name, data: data === '[DONE]' ? data : JSON.parse(data) }
      }),
  )
}
const sse = (name: string | null, data: unknown) => Buffer.from(`${name ? `event: ${name}\n` : ''}data: ${JSON.stringify(data)}\n\n`)
const throws400 = (t: Test, fn: () => unknown, code: string, param: string) => {
  try {
    fn()
    t.fail(`expected a 400 for ${param}`)
  } catch (err) {
    t.ok(err instanceof ApiError)
    t.match(err, { statusCode: 400, code, param })
  }
}

t.test('OpenAI → Anthropic request: system, turns, tools and their results, images, stop, thinking', async (t) => {
  const body = toAnthropicRequest(
    {
      model: 'm',
      messages: [
        { role: 'system', content: 'S1' },
        { role: 'developer', content: [{ type: 'text', text: 'S2' }] },
        { role: 'user', content: [{ type: 'text', text: 'look' }, { type: 'image_url', image_url: { url: 'data:image/jpeg;base64,QUJD' } }] },
        { role: 'assistant', content: 'calling', tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }, { id: 'call_2', type: 'function', function: { name: 'g', arguments: '' } }] },
        { role: 'tool', tool_call_id: 'call_1', content: 'one' },
        { role: 'tool', tool_call_id: 'call_2', content: [{ type: 'text', text: 'two' }] },
        { role: 'user', content: 'thanks' },
      ],
      max_completion_tokens: 500,
      stop: 'X',
      top_p: 0.5,
      tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: { a: { type: 'number' } } } } }, { type: 'function', function: { name: 'g' } }],
      tool_choice: { type: 'function', function: { name: 'f' } },
      parallel_tool_calls: false,
      reasoning_effort: 'medium',
      stream: true,
      stream_options: { include_usage: true },
    },
    ctx,
  )
  t.same(body, {
    model: 'm',
    messages: [
      { role: 'user', content: [{ type: 'text', text: 'look' }, { type: 'image', source: { type: 'base64', media_type: 'image/jpeg', data: 'QUJD' } }] },
      { role: 'assistant', content: [{ type: 'text', text: 'calling' }, { type: 'tool_use', id: 'call_1', name: 'f', input: { a: 1 } }, { type: 'tool_use', id: 'call_2', name: 'g', input: {} }] },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'call_1', content: 'one' },
          { type: 'tool_result', tool_use_id: 'call_2', content: [{ type: 'text', text: 'two' }] },
          { type: 'text', text: 'thanks' },
        ],
      },
    ],
    system: [{ type: 'text', text: 'S1' }, { type: 'text', text: 'S2' }],
    // The thinking budget (2048) does not fit in 500: room for both, the answer getting at least 1024.
    max_tokens: 3072,
    top_p: 0.5,
    stop_sequences: ['X'],
    stream: true,
    tools: [{ name: 'f', input_schema: { type: 'object', properties: { a: { type: 'number' } } } }, { name: 'g', input_schema: { type: 'object', properties: {} } }],
    tool_choice: { type: 'tool', name: 'f', disable_parallel_tool_use: true },
    thinking: { type: 'enabled', budget_tokens: 2048 },
  })
})

t.test('OpenAI → Anthropic request: what it cannot say is a 400 naming the field', async (t) => {
  const base = { model: 'm', messages: [{ role: 'user', content: 'x' }] }
  throws400(t, () => toAnthropicRequest({ ...base, frequency_penalty: 1 }, ctx), 'unsupported_parameter', 'frequency_penalty')
  throws400(t, () => toAnthropicRequest({ ...base, audio: { voice: 'x' } }, ctx), 'unsupported_parameter', 'audio')
  throws400(t, () => toAnthropicRequest({ ...base, some_vendor_field: 1 }, ctx), 'unsupported_parameter', 'some_vendor_field')
  throws400(t, () => toAnthropicRequest({ ...base, messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: {} }] }] }, ctx), 'unsupported_parameter', 'messages[0].content[0].type')
  throws400(t, () => toAnthropicRequest({ ...base, messages: [{ role: 'assistant', tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{oops' } }] }] }, ctx), 'invalid_request', 'messages[0].tool_calls[0].function.arguments')
  throws400(t, () => toAnthropicRequest({ ...base, messages: [{ role: 'wizard', content: 'x' }] }, ctx), 'invalid_request', 'messages[0].role')
  throws400(t, () => toAnthropicRequest({ ...base, tools: [{ type: 'custom', custom: { name: 'x' } }] }, ctx), 'unsupported_parameter', 'tools[0]')
  // Hints OpenAI itself does not promise anything for are dropped; defaults pass.
  t.same(toAnthropicRequest({ ...base, seed: 1, store: true, service_tier: 'auto', n: 1, logprobs: false }, ctx), { model: 'm', messages: [{ role: 'user', content: [{ type: 'text', text: 'x' }] }], max_tokens: 4096 })
})

t.test('Anthropic → OpenAI response: blocks, stop reasons and usage', async (t) => {
  const completion = fromAnthropicResponse(
    {
      id: 'msg_1',
      type: 'message',
      role: 'assistant',
      model: 'claude',
      content: [
        { type: 'thinking', thinking: 'hmm', signature: 's' },
        { type: 'text', text: 'Hi ' },
        { type: 'text', text: 'there' },
        { type: 'tool_use', id: 'toolu_1', name: 'f', input: { a: 1 } },
      ],
      stop_reason: 'tool_use',
      usage: { input_tokens: 10, cache_read_input_tokens: 30, cache_creation_input_tokens: 5, output_tokens: 7, output_tokens_details: { thinking_tokens: 3 } },
    },
    ctx,
  )
  t.match(completion, {
    id: 'msg_1',
    object: 'chat.completion',
    model: 'claude',
    choices: [{ index: 0, finish_reason: 'tool_calls', message: { role: 'assistant', content: 'Hi there', reasoning_content: 'hmm', tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }] } }],
    usage: { prompt_tokens: 45, completion_tokens: 7, total_tokens: 52, prompt_tokens_details: { cached_tokens: 30, cache_write_tokens: 5 }, completion_tokens_details: { reasoning_tokens: 3 } },
  })
  for (const [stop, finish] of [['end_turn', 'stop'], ['stop_sequence', 'stop'], ['max_tokens', 'length'], ['refusal', 'content_filter'], ['pause_turn', 'stop']] as const) {
    t.equal((fromAnthropicResponse({ content: [], stop_reason: stop }, ctx).choices as Json[])[0]?.finish_reason, finish, stop)
  }
})

t.test('Anthropic stream → OpenAI chunks, event by event', async (t) => {
  const conv = new AnthropicToOpenAIStream(ctx)
  const out: Buffer[] = []
  const feed = (name: string, data: Json) => out.push(...conv.push(sse(name, { type: name, ...data })))
  feed('message_start', { message: { id: 'msg_9', model: 'claude', usage: { input_tokens: 5, cache_read_input_tokens: 20, output_tokens: 1 } } })
  t.equal(conv.push(sse('ping', { type: 'ping' })).length, 0)
  feed('content_block_start', { index: 0, content_block: { type: 'thinking', thinking: '' } })
  feed('content_block_delta', { index: 0, delta: { type: 'thinking_delta', thinking: 'Hm.' } })
  feed('content_block_delta', { index: 0, delta: { type: 'signature_delta', signature: 'zz' } })
  feed('content_block_stop', { index: 0 })
  feed('content_block_start', { index: 1, content_block: { type: 'text', text: '' } })
  feed('content_block_delta', { index: 1, delta: { type: 'text_delta', text: 'Yo' } })
  feed('content_block_start', { index: 2, content_block: { type: 'tool_use', id: 'toolu_7', name: 'f', input: {} } })
  feed('content_block_delta', { index: 2, delta: { type: 'input_json_delta', partial_json: '{"a"' } })
  feed('content_block_delta', { index: 2, delta: { type: 'input_json_delta', partial_json: ':1}' } })
  feed('message_delta', { delta: { stop_reason: 'tool_use' }, usage: { output_tokens: 9 } })
  feed('message_stop', {})
  t.same(conv.end(), [], 'message_stop already closed it')
  const chunks = events(out).map((e) => e.data)
  const deltas = chunks.slice(0, -2).map((c) => (c as { choices: Json[] }).choices[0])
  t.same(deltas, [
    { index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null },
    { index: 0, delta: { reasoning_content: 'Hm.' }, finish_reason: null },
    { index: 0, delta: { content: 'Yo' }, finish_reason: null },
    { index: 0, delta: { tool_calls: [{ index: 0, id: 'toolu_7', type: 'function', function: { arguments: '', name: 'f' } }] }, finish_reason: null },
    { index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: '{"a"' } }] }, finish_reason: null },
    { index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: ':1}' } }] }, finish_reason: null },
    { index: 0, delta: {}, finish_reason: 'tool_calls' },
  ])
  t.match(chunks.at(-2), { id: 'msg_9', model: 'claude', choices: [], usage: { prompt_tokens: 25, completion_tokens: 9, prompt_tokens_details: { cached_tokens: 20 } } })
  t.equal(chunks.at(-1), '[DONE]')
  t.same(conv.usage(), { prompt_tokens: 25, completion_tokens: 9, cached_tokens: 20 })
  // The relay's own scanner reads the converted chunks: text for the budget, usage for billing.
  const reader = new SseEventReader()
  let text = ''
  for (const e of out) text += reader.read(e).text
  t.equal(text, 'Hm.Yo{"a":1}')
})

t.test('Anthropic stream: an error event becomes an OpenAI error event and ends the stream', async (t) => {
  const conv = new AnthropicToOpenAIStream(ctx)
  conv.push(sse('message_start', { type: 'message_start', message: { id: 'msg_1', usage: { input_tokens: 1, output_tokens: 1 } } }))
  const out = events(conv.push(sse('error', { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } })))
  t.same(out.map((e) => e.data), [{ error: { message: 'Overloaded', type: 'upstream_error', code: 'overloaded_error', param: null } }, '[DONE]'])
  t.same(conv.push(sse('message_stop', { type: 'message_stop' })), [])
})

t.test('the native Anthropic reader: usage from message_start and message_delta, text from every delta', async (t) => {
  const reader = new AnthropicEventReader()
  t.same(reader.read(sse('message_start', { type: 'message_start', message: { usage: { input_tokens: 4, cache_creation_input_tokens: 6, output_tokens: 1 } } })).usage, { prompt_tokens: 10, completion_tokens: 1, cache_write_tokens: 6 })
  const delta = reader.read(sse('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'héllo' } }))
  t.equal(delta.text, 'héllo')
  t.equal(delta.textBound, 6, 'UTF-8 bytes bound the tokens')
  t.equal(delta.usage, null)
  t.same(reader.read(sse('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 12 } })).usage, { prompt_tokens: 10, completion_tokens: 12, cache_write_tokens: 6 })
  t.equal(reader.read(sse('message_stop', { type: 'message_stop' })).done, true)
})

t.test('OpenAI → Gemini request: contents, system, config, tools, results named after their call', async (t) => {
  const signed = toolCallId('c2ln')
  const body = toGeminiRequest(
    {
      model: 'g',
      messages: [
        { role: 'system', content: 'S' },
        { role: 'user', content: [{ type: 'text', text: 'hi' }, { type: 'image_url', image_url: { url: 'https://x.test/p.webp' } }, { type: 'input_audio', input_audio: { data: 'QQ==', format: 'wav' } }] },
        { role: 'assistant', content: null, tool_calls: [{ id: signed, type: 'function', function: { name: 'f', arguments: '{"a":1}' } }, { id: 'call_plain', type: 'function', function: { name: 'g', arguments: '{}' } }] },
        { role: 'tool', tool_call_id: signed, content: '{"ok":true}' },
        { role: 'tool', tool_call_id: 'call_plain', content: 'plain text' },
      ],
      max_tokens: 64,
      temperature: 0.3,
      top_k: 4,
      n: 2,
      stop: ['A', 'B'],
      seed: 3,
      response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'object' } } },
      reasoning_effort: 'none',
      tools: [{ type: 'function', function: { name: 'f', description: 'F', parameters: { type: 'object', additionalProperties: false } } }],
      tool_choice: 'none',
      stream_options: { include_usage: true },
      user: 'dropped',
    },
    ctx,
  )
  t.same(body, {
    contents: [
      { role: 'user', parts: [{ text: 'hi' }, { fileData: { mimeType: 'image/webp', fileUri: 'https://x.test/p.webp' } }, { inlineData: { mimeType: 'audio/wav', data: 'QQ==' } }] },
      { role: 'model', parts: [{ functionCall: { name: 'f', args: { a: 1 } }, thoughtSignature: 'c2ln' }, { functionCall: { name: 'g', args: {} } }] },
      { role: 'user', parts: [{ functionResponse: { name: 'f', response: { ok: true } } }, { functionResponse: { name: 'g', response: { content: 'plain text' } } }] },
    ],
    systemInstruction: { parts: [{ text: 'S' }] },
    generationConfig: {
      maxOutputTokens: 64,
      temperature: 0.3,
      topK: 4,
      candidateCount: 2,
      seed: 3,
      stopSequences: ['A', 'B'],
      responseMimeType: 'application/json',
      responseJsonSchema: { type: 'object' },
      thinkingConfig: { thinkingBudget: 0 },
    },
    tools: [{ functionDeclarations: [{ name: 'f', description: 'F', parametersJsonSchema: { type: 'object', additionalProperties: false } }] }],
    toolConfig: { functionCallingConfig: { mode: 'NONE' } },
  })
  // A turn whose calls never had a signature gets Google's documented placeholder on its first call.
  const unsigned = toGeminiRequest({ model: 'g', messages: [{ role: 'assistant', tool_calls: [{ id: 'call_x', type: 'function', function: { name: 'f', arguments: '{}' } }] }] }, ctx)
  t.match(unsigned, { contents: [{ role: 'model', parts: [{ thoughtSignature: SKIP_SIGNATURE }] }] })
  throws400(t, () => toGeminiRequest({ model: 'g', messages: [{ role: 'tool', tool_call_id: 'nope', content: 'x' }] }, ctx), 'invalid_request', 'messages[0].tool_call_id')
  throws400(t, () => toGeminiRequest({ model: 'g', messages: [], logit_bias: { 1: 1 } }, ctx), 'unsupported_parameter', 'logit_bias')
  throws400(t, () => toGeminiRequest({ model: 'g', messages: [], parallel_tool_calls: false }, ctx), 'unsupported_parameter', 'parallel_tool_calls')
})

t.test('tool call ids carry a thought signature there and back', async (t) => {
  for (const signature of ['c2lnLWdlbWluaQ==', 'a+b/c==', 'abc']) {
    const id = toolCallId(signature)
    t.match(id, /^call_[A-Za-z0-9_-]+$/)
    t.equal(signatureOfToolCallId(id)?.replace(/=+$/, ''), signature.replace(/=+$/, ''))
  }
  t.equal(signatureOfToolCallId('call_abc'), null)
  t.equal(signatureOfToolCallId(toolCallId(null)), null)
})

t.test('Gemini → OpenAI response and stream', async (t) => {
  const answer = {
    candidates: [
      { index: 0, content: { role: 'model', parts: [{ text: 'why', thought: true }, { text: 'A' }, { functionCall: { name: 'f', args: { x: 1 } }, thoughtSignature: 'c2ln' }] }, finishReason: 'STOP' },
      { index: 1, content: { role: 'model', parts: [{ text: 'B' }] }, finishReason: 'MAX_TOKENS' },
    ],
    usageMetadata: { promptTokenCount: 100, cachedContentTokenCount: 40, candidatesTokenCount: 10, thoughtsTokenCount: 4 },
    modelVersion: 'gemini-x',
    responseId: 'r1',
  }
  const completion = fromGeminiResponse(answer, ctx)
  t.match(completion, {
    id: 'r1',
    model: 'gemini-x',
    choices: [
      { index: 0, finish_reason: 'tool_calls', message: { content: 'A', reasoning_content: 'why', tool_calls: [{ type: 'function', function: { name: 'f', arguments: '{"x":1}' } }] } },
      { index: 1, finish_reason: 'length', message: { content: 'B' } },
    ],
    usage: { prompt_tokens: 100, completion_tokens: 14, prompt_tokens_details: { cached_tokens: 40 }, completion_tokens_details: { reasoning_tokens: 4 } },
  })
  const call = ((completion.choices as Json[])[0]?.message as { tool_calls: { id: string }[] }).tool_calls[0]
  t.equal(signatureOfToolCallId(call?.id ?? ''), 'c2ln')
  t.match(fromGeminiResponse({ promptFeedback: { blockReason: 'SAFETY' } }, ctx), { choices: [{ finish_reason: 'content_filter', message: { content: '' } }] })

  const conv = new GeminiToOpenAIStream(ctx)
  const piece = (parts: Json[], finish?: string, candidates = 1) => Buffer.from(`data: ${JSON.stringify({ candidates: [{ content: { role: 'model', parts }, index: 0, ...(finish ? { finishReason: finish } : {}) }], usageMetadata: { promptTokenCount: 9, candidatesTokenCount: candidates }, responseId: 'r2' })}\r\n\r\n`)
  const out = [...conv.push(piece([{ text: 'Hel' }])), ...conv.push(piece([{ text: 'lo' }], 'STOP', 2)), ...conv.end()]
  const chunks = events(out).map((e) => e.data) as Json[]
  t.same(chunks.slice(0, 3).map((c) => (c.choices as Json[])[0]), [
    { index: 0, delta: { role: 'assistant', content: 'Hel' }, finish_reason: null },
    { index: 0, delta: { content: 'lo' }, finish_reason: null },
    { index: 0, delta: {}, finish_reason: 'stop' },
  ])
  t.match(chunks[3], { id: 'r2', choices: [], usage: { prompt_tokens: 9, completion_tokens: 2 } })
  t.equal(chunks[4], '[DONE]')
  const failed = new GeminiToOpenAIStream(ctx)
  t.match(events(failed.push(Buffer.from(`data: ${JSON.stringify({ error: { code: 500, message: 'boom', status: 'INTERNAL' } })}\n\n`))).map((e) => e.data), [{ error: { message: 'boom', code: 'INTERNAL' } }, '[DONE]'])
})

t.test('Anthropic → canonical request: system, blocks, tool results first, thinking and tool choice', async (t) => {
  const canonical = anthropicToCanonical(
    {
      model: 'c',
      max_tokens: 100,
      system: [{ type: 'text', text: 'S1' }, { type: 'text', text: 'S2', cache_control: { type: 'ephemeral' } }],
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'see' }, { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'QQ==' } }, { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: 'UERG' } }] },
        { role: 'assistant', content: [{ type: 'thinking', thinking: 't', signature: 's' }, { type: 'text', text: 'ok' }, { type: 'tool_use', id: 'toolu_1', name: 'f', input: { a: 1 } }] },
        { role: 'user', content: [{ type: 'text', text: 'and?' }, { type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'text', text: 'r' }, { type: 'image', source: { type: 'url', url: 'https://x.test/i.png' } }] }] },
      ],
      stop_sequences: ['Z'],
      stream: true,
      tools: [{ name: 'f', description: 'F', input_schema: { type: 'object' }, cache_control: { type: 'ephemeral' } }],
      tool_choice: { type: 'any', disable_parallel_tool_use: true },
      thinking: { type: 'enabled', budget_tokens: 20000 },
      metadata: { user_id: 'u' },
      service_tier: 'auto',
    },
    'openai',
  )
  t.same(canonical, {
    model: 'c',
    messages: [
      { role: 'system', content: 'S1\nS2' },
      { role: 'user', content: [{ type: 'text', text: 'see' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,QQ==' } }, { type: 'file', file: { filename: 'document.pdf', file_data: 'data:application/pdf;base64,UERG' } }] },
      { role: 'assistant', content: 'ok', tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }] },
      { role: 'tool', tool_call_id: 'toolu_1', content: 'r' },
      { role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://x.test/i.png' } }] },
      { role: 'user', content: 'and?' },
    ],
    max_tokens: 100,
    stop: ['Z'],
    stream: true,
    stream_options: { include_usage: true },
    tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' }, description: 'F' } }],
    tool_choice: 'required',
    parallel_tool_calls: false,
    reasoning_effort: 'high',
    user: 'u',
  })
  throws400(t, () => anthropicToCanonical({ model: 'c', messages: [], top_k: 3 }, 'openai'), 'unsupported_parameter', 'top_k')
  t.equal(anthropicToCanonical({ model: 'c', messages: [], top_k: 3 }, 'gemini').top_k, 3, 'Gemini has top_k')
  throws400(t, () => anthropicToCanonical({ model: 'c', messages: [], mcp_servers: [{}] }, 'openai'), 'unsupported_parameter', 'mcp_servers')
  throws400(t, () => anthropicToCanonical({ model: 'c', messages: [{ role: 'user', content: [{ type: 'server_tool_use' }] }] }, 'gemini'), 'unsupported_parameter', 'messages[0].content[0].type')
})

t.test('a converted request for an OpenAI reasoning model takes max_completion_tokens; a balance cap wins', async (t) => {
  const body = { model: 'c', max_tokens: 100, messages: [{ role: 'user', content: 'x' }] }
  t.match(convertRequest('messages', body, openaiAdapter, { model: 'o3-mini', defaultMaxTokens: 1 }, null), { model: 'o3-mini', max_completion_tokens: 100 })
  t.notOk('max_tokens' in convertRequest('messages', body, openaiAdapter, { model: 'o3-mini', defaultMaxTokens: 1 }, null))
  t.match(convertRequest('messages', body, openaiAdapter, { model: 'gpt-4o', defaultMaxTokens: 1 }, 40), { model: 'gpt-4o', max_tokens: 40 })
})

t.test('canonical → Anthropic message and stream', async (t) => {
  const message = toAnthropicMessage(
    {
      id: 'chatcmpl-1',
      model: 'gpt',
      choices: [{ index: 0, finish_reason: 'length', message: { role: 'assistant', content: 'Hi', reasoning_content: 'r', tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: 'not json' } }] } }],
    },
    { prompt_tokens: 100, completion_tokens: 10, cached_tokens: 60, cache_write_tokens: 5, reasoning_tokens: 2 },
    'gpt',
  )
  t.match(message, {
    type: 'message',
    role: 'assistant',
    model: 'gpt',
    stop_reason: 'max_tokens',
    stop_sequence: null,
    content: [{ type: 'thinking', thinking: 'r' }, { type: 'text', text: 'Hi' }, { type: 'tool_use', id: 'call_1', name: 'f', input: { raw: 'not json' } }],
    usage: { input_tokens: 35, cache_read_input_tokens: 60, cache_creation_input_tokens: 5, output_tokens: 10, output_tokens_details: { thinking_tokens: 2 } },
  })
  t.match(message.id, /^msg_/)

  const writer = new OpenAIToAnthropicStream('gpt')
  const chunk = (delta: Json, finish: string | null = null) => sse(null, { id: 'chatcmpl-2', model: 'gpt', choices: [{ index: 0, delta, finish_reason: finish }] })
  const out = [
    ...writer.push(chunk({ role: 'assistant', content: '' })),
    ...writer.push(chunk({ reasoning_content: 'think' })),
    ...writer.push(chunk({ content: 'Hel' })),
    ...writer.push(chunk({ content: 'lo' })),
    ...writer.push(chunk({ tool_calls: [{ index: 0, id: 'call_9', type: 'function', function: { name: 'f', arguments: '' } }] })),
    ...writer.push(chunk({ tool_calls: [{ index: 0, function: { arguments: '{}' } }] })),
    ...writer.push(chunk({}, 'tool_calls')),
    ...writer.push(sse(null, { id: 'chatcmpl-2', choices: [], usage: { prompt_tokens: 50, completion_tokens: 5, prompt_tokens_details: { cached_tokens: 20 } } })),
    ...writer.push(Buffer.from('data: [DONE]\n\n')),
  ]
  t.same(writer.end(), [])
  const got = events(out)
  t.same(got.map((e) => e.name), [
    'message_start',
    'content_block_start', 'content_block_delta',
    'content_block_stop', 'content_block_start', 'content_block_delta', 'content_block_delta',
    'content_block_stop', 'content_block_start', 'content_block_delta',
    'content_block_stop', 'message_delta', 'message_stop',
  ])
  t.match(got[1]?.data, { index: 0, content_block: { type: 'thinking' } })
  t.match(got[6]?.data, { index: 1, delta: { type: 'text_delta', text: 'lo' } })
  t.match(got[8]?.data, { index: 2, content_block: { type: 'tool_use', id: 'call_9', name: 'f', input: {} } })
  t.match(got[9]?.data, { index: 2, delta: { type: 'input_json_delta', partial_json: '{}' } })
  t.match(got[11]?.data, { delta: { stop_reason: 'tool_use' }, usage: { input_tokens: 30, cache_read_input_tokens: 20, output_tokens: 5 } })

  const failing = new OpenAIToAnthropicStream('gpt')
  failing.push(chunk({ content: 'a' }))
  t.same(events(failing.push(sse(null, { error: { message: 'quota', type: 'insufficient_quota', code: 'insufficient_quota' } }))), [
    { name: 'error', data: { type: 'error', error: { type: 'billing_error', message: 'quota' } } },
  ])
  t.same(failing.end(), [])
})

t.test("the gateway's own errors in Anthropic's shape", async (t) => {
  const cases: [ApiError, string][] = [
    [new ApiError(401, 'invalid_api_key', 'x'), 'authentication_error'],
    [new ApiError(403, 'model_not_allowed', 'x'), 'permission_error'],
    [new ApiError(404, 'not_found', 'x'), 'not_found_error'],
    [new ApiError(413, 'body_too_large', 'x'), 'request_too_large'],
    [new ApiError(429, 'insufficient_quota', 'x'), 'billing_error'],
    [new ApiError(429, 'rate_limit_exceeded', 'x'), 'rate_limit_error'],
    [new ApiError(500, 'no_available_channel', 'x'), 'api_error'],
    [new ApiError(503, 'channel_unavailable', 'x'), 'overloaded_error'],
    [new ApiError(504, 'upstream_error', 'x'), 'timeout_error'],
    [new ApiError(400, 'invalid_request', 'x'), 'invalid_request_error'],
  ]
  for (const [error, type] of cases) t.same(anthropicErrorBody(error, 'req-1'), { type: 'error', error: { type, message: 'x' }, request_id: 'req-1' }, type)
})
