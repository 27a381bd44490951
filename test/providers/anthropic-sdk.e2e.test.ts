// The official Anthropic SDK against `POST /v1/messages` (CONTRACT §3, §9): passed through to Anthropic channels as
// it is, converted for OpenAI-compatible and Gemini channels, stream and non-stream, tool use and thinking, billed
// from the usage each provider reports, and every error in Anthropic's own shape.
import Anthropic, { APIError, AuthenticationError, BadRequestError } from '@anthropic-ai/sdk'
import type { MessageParam, Tool } from '@anthropic-ai/sdk/resources/messages'
import t from 'tap'
import { backends } from '../support/backends.js'
import { ANTHROPIC_TEXT, ANTHROPIC_THINKING, ANTHROPIC_TOOL_ID } from '../support/fake-anthropic.js'
import { AZURE_REASONING, AZURE_TEXT, AZURE_TOOL_ID } from '../support/fake-azure.js'
import { GEMINI_SIGNATURE, GEMINI_TEXT, GEMINI_THOUGHT } from '../support/fake-gemini.js'
import { expectedQuota, requestId, startProviderRig } from './rig.js'

const WEATHER: Tool = { name: 'get_weather', description: 'Weather in a city', input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } }
const CLAUDE = { input: 3_000_000, output: 15_000_000, read: 300_000, write: 3_750_000 }
const GPT = { input: 2_500_000, output: 10_000_000, read: 1_250_000, write: 2_500_000 }
const GEMINI = { input: 1_250_000, output: 10_000_000, read: 310_000, write: 1_250_000 }

for (const backend of backends()) {
  t.test(backend.name, async (t) => {
    const rig = await startProviderRig(t, backend)
    await rig.channel({ type: 'anthropic', key: 'ok-anth', base_url: rig.anthropic.url, models: ['claude-native'] })
    await rig.channel({ type: 'anthropic', key: 'err400-anth', base_url: rig.anthropic.url, models: ['claude-err'] })
    await rig.channel({ type: 'openai', key: 'ok-oai', base_url: rig.azure.url, models: ['gpt-conv'] })
    await rig.channel({ type: 'gemini', key: 'ok-gem', base_url: rig.gemini.url, models: ['gemini-conv'] })
    await rig.channel({ type: 'gemini', key: 'bad-gem', base_url: rig.gemini.url, models: ['gemini-badkey'] })
    await rig.price('claude-native', { input_per_1m: '3', output_per_1m: '15', cache_read_per_1m: '0.3', cache_write_per_1m: '3.75' })
    await rig.price('gpt-conv', { input_per_1m: '2.5', output_per_1m: '10', cache_read_per_1m: '1.25' })
    await rig.price('gemini-conv', { input_per_1m: '1.25', output_per_1m: '10', cache_read_per_1m: '0.31' })
    for (const model of ['claude-err', 'gemini-badkey', 'no-channel-model']) await rig.price(model, { input_per_1m: '1', output_per_1m: '1' })
    const key = await rig.token()
    const client = new Anthropic({ apiKey: key, baseURL: rig.url, maxRetries: 0 })
    const withId = (id: string) => ({ headers: { 'x-request-id': id } })
    // `extra` is loose: this SDK version no longer types sampling fields (temperature, top_k) that clients still send.
    const ask = (model: string, messages: MessageParam[], extra: Record<string, unknown> = {}, id?: string) =>
      client.messages.create({ model, max_tokens: 256, messages, ...extra } as Anthropic.MessageCreateParamsNonStreaming, id ? withId(id) : undefined)

    t.test('anthropic channel, non-stream: passed through, usage with cache reads and writes billed exactly', async (t) => {
      const id = requestId('native')
      const message = await ask('claude-native', [{ role: 'user', content: 'Say hello' }], { system: 'Be brief.' }, id)
      t.equal(message.type, 'message')
      t.match(message.content, [{ type: 'text', text: ANTHROPIC_TEXT }])
      t.match(message.usage, { input_tokens: 12, cache_read_input_tokens: 100, cache_creation_input_tokens: 50, output_tokens: 20 })
      const upstream = rig.anthropic.lastFor('ok-anth')
      t.same(upstream?.body, { model: 'claude-native', max_tokens: 256, messages: [{ role: 'user', content: 'Say hello' }], system: 'Be brief.' }, 'the body as the client sent it')
      t.equal(upstream?.headers['x-api-key'], 'ok-anth', "the channel's key, never the client's")
      t.ok(upstream?.headers['anthropic-version'], "the client's anthropic-version travels on")
      const row = await rig.usageRow(id)
      t.match(row, { promptTokens: 162, completionTokens: 20, cachedTokens: 100, cacheWriteTokens: 50, status: 200 })
      t.equal(row?.quota, expectedQuota({ prompt: 162, cached: 100, written: 50, completion: 20 }, CLAUDE))
    })

    t.test('anthropic channel, stream (key as Authorization: Bearer): events as they came, usage from message_start and message_delta', async (t) => {
      const id = requestId('native-stream')
      const bearerClient = new Anthropic({ authToken: key, apiKey: null, baseURL: rig.url, maxRetries: 0 })
      const stream = bearerClient.messages.stream({ model: 'claude-native', max_tokens: 256, messages: [{ role: 'user', content: 'hi' }] }, withId(id))
      const types: string[] = []
      for await (const event of stream) types.push(event.type)
      const final = await stream.finalMessage()
      t.equal(types[0], 'message_start')
      t.equal(types[types.length - 1], 'message_stop')
      t.match(final.content, [{ type: 'text', text: ANTHROPIC_TEXT }])
      t.match(final.usage, { input_tokens: 12, output_tokens: 20, cache_read_input_tokens: 100 })
      const row = await rig.usageRow(id)
      t.match(row, { promptTokens: 162, completionTokens: 20, cachedTokens: 100, cacheWriteTokens: 50 })
      t.equal(row?.quota, expectedQuota({ prompt: 162, cached: 100, written: 50, completion: 20 }, CLAUDE))
    })

    t.test('anthropic channel: tool use round trip and thinking, streamed', async (t) => {
      const messages: MessageParam[] = [{ role: 'user', content: 'Weather in Paris?' }]
      const first = await client.messages.stream({ model: 'claude-native', max_tokens: 2048, messages, tools: [WEATHER], thinking: { type: 'enabled', budget_tokens: 1024 } }).finalMessage()
      t.equal(first.stop_reason, 'tool_use')
      t.match(first.content, [{ type: 'thinking', thinking: ANTHROPIC_THINKING }, { type: 'tool_use', id: ANTHROPIC_TOOL_ID, name: 'get_weather', input: { city: 'Paris' } }])
      messages.push({ role: 'assistant', content: first.content }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: ANTHROPIC_TOOL_ID, content: 'sunny' }] })
      const second = await ask('claude-native', messages, { tools: [WEATHER] })
      t.match(second.content, [{ type: 'text', text: `Tool ${ANTHROPIC_TOOL_ID} said: sunny` }])
    })

    t.test('openai channel, non-stream: converted to chat completions and back, cached tokens in Anthropic terms', async (t) => {
      const id = requestId('conv-oai')
      const message = await ask('gpt-conv', [{ role: 'user', content: 'hi' }], { system: 'Be brief.', temperature: 0.2, stop_sequences: ['END'] }, id)
      t.match(message, { type: 'message', role: 'assistant', stop_reason: 'end_turn', content: [{ type: 'text', text: AZURE_TEXT }] })
      t.match(message.usage, { input_tokens: 50, cache_read_input_tokens: 150, output_tokens: 30 })
      t.match(rig.azure.lastFor('ok-oai'), {
        path: '/v1/chat/completions',
        body: { model: 'gpt-conv', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'hi' }], max_tokens: 256, temperature: 0.2, stop: ['END'] },
      })
      t.equal(rig.azure.lastFor('ok-oai')?.headers.authorization, 'Bearer ok-oai')
      t.equal(rig.azure.lastFor('ok-oai')?.headers['x-api-key'], undefined)
      const row = await rig.usageRow(id)
      t.match(row, { promptTokens: 200, completionTokens: 30, cachedTokens: 150 })
      t.equal(row?.quota, expectedQuota({ prompt: 200, cached: 150, written: 0, completion: 30 }, GPT))
    })

    t.test('openai channel, stream: a tool use round trip, then thinking from reasoning_content', async (t) => {
      const id = requestId('conv-oai-stream')
      const messages: MessageParam[] = [{ role: 'user', content: 'Weather?' }]
      const stream = client.messages.stream({ model: 'gpt-conv', max_tokens: 256, messages, tools: [WEATHER], tool_choice: { type: 'any' } }, withId(id))
      const first = await stream.finalMessage()
      t.equal(first.stop_reason, 'tool_use')
      t.match(first.content, [{ type: 'tool_use', id: AZURE_TOOL_ID, name: 'get_weather', input: { city: 'Paris' } }])
      t.match(first.usage, { input_tokens: 50, cache_read_input_tokens: 150, output_tokens: 30 })
      t.match(rig.azure.lastFor('ok-oai')?.body, { stream: true, stream_options: { include_usage: true }, tool_choice: 'required', tools: [{ type: 'function', function: { name: 'get_weather', parameters: WEATHER.input_schema } }] })
      t.equal((await rig.usageRow(id))?.quota, expectedQuota({ prompt: 200, cached: 150, written: 0, completion: 30 }, GPT))
      messages.push({ role: 'assistant', content: first.content }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: AZURE_TOOL_ID, content: [{ type: 'text', text: 'cloudy' }] }, { type: 'text', text: 'And so?' }] })
      const second = await client.messages.stream({ model: 'gpt-conv', max_tokens: 256, messages }).finalMessage()
      t.match(second.content, [{ type: 'text', text: AZURE_TEXT }])
      t.match(rig.azure.lastFor('ok-oai')?.body.messages, [
        { role: 'user', content: 'Weather?' },
        { role: 'assistant', content: null, tool_calls: [{ id: AZURE_TOOL_ID, type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
        { role: 'tool', tool_call_id: AZURE_TOOL_ID, content: 'cloudy' },
        { role: 'user', content: 'And so?' },
      ])
      const thought = await client.messages.stream({ model: 'gpt-conv', max_tokens: 4096, messages: [{ role: 'user', content: 'Think' }], thinking: { type: 'enabled', budget_tokens: 2000 } }).finalMessage()
      t.match(thought.content, [{ type: 'thinking', thinking: AZURE_REASONING }, { type: 'text', text: AZURE_TEXT }])
      t.equal(rig.azure.lastFor('ok-oai')?.body.reasoning_effort, 'low')
    })

    t.test('gemini channel: stream and non-stream, tool use with the thought signature kept, thinking', async (t) => {
      const id = requestId('conv-gem')
      const plain = await ask('gemini-conv', [{ role: 'user', content: 'hi' }], {}, id)
      t.match(plain.content, [{ type: 'text', text: GEMINI_TEXT }])
      t.match(plain.usage, { input_tokens: 40, cache_read_input_tokens: 80, output_tokens: 15 })
      t.equal((await rig.usageRow(id))?.quota, expectedQuota({ prompt: 120, cached: 80, written: 0, completion: 15 }, GEMINI))

      const messages: MessageParam[] = [{ role: 'user', content: 'Weather in Paris?' }]
      const first = await client.messages.stream({ model: 'gemini-conv', max_tokens: 256, messages, tools: [WEATHER] }).finalMessage()
      t.equal(first.stop_reason, 'tool_use')
      const call = first.content.find((b) => b.type === 'tool_use')
      t.match(call, { name: 'get_weather', input: { city: 'Paris' } })
      messages.push({ role: 'assistant', content: first.content }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: call?.id ?? '', content: '{"temp":21}' }] })
      const second = await ask('gemini-conv', messages, { tools: [WEATHER] })
      t.match(second.content, [{ type: 'text', text: 'Function get_weather said: {"temp":21}' }])
      t.match(rig.gemini.lastFor('ok-gem')?.body.contents, [
        {},
        { role: 'model', parts: [{ functionCall: { name: 'get_weather' }, thoughtSignature: GEMINI_SIGNATURE }] },
        { role: 'user', parts: [{ functionResponse: { name: 'get_weather', response: { temp: 21 } } }] },
      ])

      const thought = await client.messages.stream({ model: 'gemini-conv', max_tokens: 4096, messages: [{ role: 'user', content: 'Think' }], thinking: { type: 'enabled', budget_tokens: 4000 } }).finalMessage()
      t.match(thought.content, [{ type: 'thinking', thinking: GEMINI_THOUGHT }, { type: 'text', text: GEMINI_TEXT }])
      t.match(thought.usage, { output_tokens: 20, output_tokens_details: { thinking_tokens: 5 } })
    })

    t.test('errors are in Anthropic\'s shape with the right status, for every kind of failure', async (t) => {
      const raw = (body: unknown, headers: Record<string, string> = { 'x-api-key': key }) =>
        fetch(`${rig.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) })
      const shape = async (res: Response, status: number, type: string, message?: RegExp, ownRequestId = true) => {
        t.equal(res.status, status, `${status} ${type}`)
        const body = (await res.json()) as { type: string; error: { type: string; message: string }; request_id: string }
        t.equal(body.type, 'error')
        t.equal(body.error.type, type)
        t.type(body.error.message, 'string')
        if (message) t.match(body.error.message, message)
        if (ownRequestId) t.equal(body.request_id, res.headers.get('x-request-id'))
        return body
      }
      const ok = { model: 'claude-native', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }
      await shape(await raw(ok, { 'x-api-key': 'sk-wrong' }), 401, 'authentication_error')
      await shape(await raw(ok, {}), 401, 'authentication_error')
      await shape(await raw('{not json'), 400, 'invalid_request_error', /JSON/)
      await shape(await raw({ max_tokens: 10, messages: [] }), 400, 'invalid_request_error', /model/)
      await shape(await raw({ ...ok, messages: 'x' }), 400, 'invalid_request_error', /messages/)
      await shape(await raw({ ...ok, model: 'unpriced-model' }), 400, 'invalid_request_error', /price/)
      await shape(await raw({ ...ok, model: 'no-channel-model' }), 500, 'api_error', /no available channel/)
      const poor = await rig.token({ unlimited_quota: false, remain_quota: 1 })
      const quota = await raw(ok, { 'x-api-key': poor })
      t.equal(quota.headers.get('x-should-retry'), 'false')
      await shape(quota, 429, 'billing_error')
      // The upstream's own error: Gemini's 400 converted, Anthropic's 400 passed through as Anthropic wrote it.
      await shape(await raw({ ...ok, model: 'gemini-badkey' }), 400, 'invalid_request_error', /API key not valid/)
      await shape(await raw({ ...ok, model: 'claude-err' }), 400, 'invalid_request_error', /must be non-empty/, false)
      // Something a converted channel cannot express: 400 naming it, nothing sent.
      const before = rig.azure.requests.length
      await shape(await raw({ ...ok, model: 'gpt-conv', top_k: 5 }), 400, 'invalid_request_error', /'top_k'/)
      await shape(await raw({ ...ok, model: 'gpt-conv', tools: [{ type: 'web_search_20250305', name: 'web_search' }] }), 400, 'invalid_request_error', /tools\[0\]/)
      t.equal(rig.azure.requests.length, before)

      const sdkErr = await client.messages.create({ model: 'claude-native', max_tokens: 10, messages: [] }, { headers: { 'x-api-key': 'sk-bad' } }).catch((e: unknown) => e)
      t.ok(sdkErr instanceof AuthenticationError)
      t.equal((sdkErr as APIError).type, 'authentication_error')
      const bad = await ask('gpt-conv', [{ role: 'user', content: 'x' }], { top_k: 3 }).catch((e: unknown) => e)
      t.ok(bad instanceof BadRequestError)
      t.equal((bad as APIError).type, 'invalid_request_error')
    })
  })
}
