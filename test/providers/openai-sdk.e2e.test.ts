// The official OpenAI SDK, unchanged, against Anthropic, Gemini and Azure channels (CONTRACT §9): the gateway
// converts its chat requests and the answers, stream and non-stream, and bills the providers' own usage exactly,
// cached tokens at their own price.
import OpenAI, { APIError, BadRequestError } from 'openai'
import type { ChatCompletionChunk, ChatCompletionMessageParam } from 'openai/resources/chat/completions'
import t from 'tap'
import { backends } from '../support/backends.js'
import { ANTHROPIC_TEXT, ANTHROPIC_THINKING, ANTHROPIC_TOOL_ID } from '../support/fake-anthropic.js'
import { AZURE_TEXT, AZURE_TOOL_ID } from '../support/fake-azure.js'
import { GEMINI_SIGNATURE, GEMINI_TEXT, GEMINI_THOUGHT } from '../support/fake-gemini.js'
import { expectedQuota, requestId, startProviderRig } from './rig.js'

const PNG = 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=='
const WEATHER_TOOL = {
  type: 'function' as const,
  function: { name: 'get_weather', description: 'Weather in a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
}
/** Prices in micro-USD per 1M tokens, as set through the API below in USD. */
const CLAUDE = { input: 3_000_000, output: 15_000_000, read: 300_000, write: 3_750_000 }
const GEMINI = { input: 1_250_000, output: 10_000_000, read: 310_000, write: 1_250_000 }
const AZURE = { input: 2_500_000, output: 10_000_000, read: 1_250_000, write: 2_500_000 }

type Loose = Record<string, unknown>

async function collect(stream: AsyncIterable<ChatCompletionChunk>) {
  let text = ''
  let reasoning = ''
  let finish: string | null = null
  const usages: ChatCompletionChunk['usage'][] = []
  const calls = new Map<number, { id?: string; name?: string; arguments: string }>()
  for await (const chunk of stream) {
    if (chunk.usage) usages.push(chunk.usage)
    const choice = chunk.choices[0]
    if (!choice) continue
    text += choice.delta.content ?? ''
    reasoning += ((choice.delta as Loose).reasoning_content as string | undefined) ?? ''
    for (const call of choice.delta.tool_calls ?? []) {
      const entry = calls.get(call.index) ?? { arguments: '' }
      if (call.id) entry.id = call.id
      if (call.function?.name) entry.name = call.function.name
      entry.arguments += call.function?.arguments ?? ''
      calls.set(call.index, entry)
    }
    if (choice.finish_reason) finish = choice.finish_reason
  }
  return { text, reasoning, finish, usages, calls: [...calls.values()] }
}

for (const backend of backends()) {
  t.test(backend.name, async (t) => {
    const rig = await startProviderRig(t, backend)
    await rig.channel({ type: 'anthropic', key: 'ok-anth', base_url: rig.anthropic.url, models: ['claude-test'] })
    await rig.channel({ type: 'anthropic', key: 'err400-anth', base_url: rig.anthropic.url, models: ['claude-err'] })
    await rig.channel({ type: 'gemini', key: 'ok-gem', base_url: rig.gemini.url, models: ['gemini-test'] })
    await rig.channel({ type: 'gemini', key: 'bad-gem', base_url: rig.gemini.url, models: ['gemini-badkey'] })
    await rig.channel({
      type: 'azure',
      key: 'ok-az',
      base_url: `${rig.azure.url}?api-version=2025-04-01-preview`,
      models: ['gpt-az'],
      model_mapping: { 'gpt-az': 'my-deployment' },
    })
    await rig.price('claude-test', { input_per_1m: '3', output_per_1m: '15', cache_read_per_1m: '0.3', cache_write_per_1m: '3.75' })
    await rig.price('claude-err', { input_per_1m: '3', output_per_1m: '15' })
    await rig.price('gemini-test', { input_per_1m: '1.25', output_per_1m: '10', cache_read_per_1m: '0.31' })
    await rig.price('gemini-badkey', { input_per_1m: '1', output_per_1m: '1' })
    await rig.price('gpt-az', { input_per_1m: '2.5', output_per_1m: '10', cache_read_per_1m: '1.25' })
    const client = new OpenAI({ apiKey: await rig.token(), baseURL: `${rig.url}/v1`, maxRetries: 0 })
    const withId = (id: string) => ({ headers: { 'x-request-id': id } })

    t.test('anthropic, non-stream: converted both ways, cache reads and writes billed at their prices', async (t) => {
      const id = requestId('anth-plain')
      const completion = await client.chat.completions.create(
        {
          model: 'claude-test',
          messages: [
            { role: 'system', content: 'Be brief.' },
            { role: 'user', content: 'Say hello' },
          ],
          max_tokens: 100,
          temperature: 0.5,
          stop: ['END'],
        },
        withId(id),
      )
      t.equal(completion.object, 'chat.completion')
      t.equal(completion.choices[0]?.message.content, ANTHROPIC_TEXT)
      t.equal(completion.choices[0]?.finish_reason, 'stop')
      t.match(completion.usage, { prompt_tokens: 162, completion_tokens: 20, total_tokens: 182, prompt_tokens_details: { cached_tokens: 100 } })
      const upstream = rig.anthropic.lastFor('ok-anth')
      t.equal(upstream?.path, '/v1/messages')
      t.equal(upstream?.headers['anthropic-version'], '2023-06-01')
      t.equal(upstream?.headers.authorization, undefined, 'the key travels in x-api-key only')
      t.same(upstream?.body, {
        model: 'claude-test',
        messages: [{ role: 'user', content: [{ type: 'text', text: 'Say hello' }] }],
        system: [{ type: 'text', text: 'Be brief.' }],
        max_tokens: 100,
        temperature: 0.5,
        stop_sequences: ['END'],
      })
      const row = await rig.usageRow(id)
      t.match(row, { promptTokens: 162, completionTokens: 20, cachedTokens: 100, cacheWriteTokens: 50, status: 200 })
      t.equal(row?.quota, expectedQuota({ prompt: 162, cached: 100, written: 50, completion: 20 }, CLAUDE))
      t.equal(row?.quota, 277, '(12 × 3 + 100 × 0.3 + 50 × 3.75 + 20 × 15) / 1e6 USD × 500,000, rounded up')
    })

    t.test('anthropic, stream: text chunk by chunk, the usage chunk, cached tokens billed from the stream', async (t) => {
      const id = requestId('anth-stream')
      const stream = await client.chat.completions.create(
        { model: 'claude-test', messages: [{ role: 'user', content: 'Say hello' }], stream: true, stream_options: { include_usage: true } },
        withId(id),
      )
      const got = await collect(stream)
      t.equal(got.text, ANTHROPIC_TEXT)
      t.equal(got.finish, 'stop')
      t.match(got.usages, [{ prompt_tokens: 162, completion_tokens: 20, prompt_tokens_details: { cached_tokens: 100 } }])
      t.equal(rig.anthropic.lastFor('ok-anth')?.body.max_tokens, 4096, 'Anthropic requires max_tokens: DEFAULT_COMPLETION_RESERVE')
      const row = await rig.usageRow(id)
      t.match(row, { promptTokens: 162, completionTokens: 20, cachedTokens: 100, cacheWriteTokens: 50 })
      t.equal(row?.quota, 277)
    })

    t.test('anthropic, stream without include_usage: no usage chunk reaches the client, billing still exact', async (t) => {
      const id = requestId('anth-nousage')
      const got = await collect(await client.chat.completions.create({ model: 'claude-test', messages: [{ role: 'user', content: 'hi' }], stream: true }, withId(id)))
      t.equal(got.text, ANTHROPIC_TEXT)
      t.same(got.usages, [])
      t.equal((await rig.usageRow(id))?.quota, 277)
    })

    t.test('anthropic, tools: a streamed call, then its result, ids kept both ways', async (t) => {
      const messages: ChatCompletionMessageParam[] = [{ role: 'user', content: 'Weather in Paris?' }]
      const first = await collect(await client.chat.completions.create({ model: 'claude-test', messages, tools: [WEATHER_TOOL], tool_choice: 'auto', stream: true }))
      t.equal(first.finish, 'tool_calls')
      t.same(first.calls, [{ id: ANTHROPIC_TOOL_ID, name: 'get_weather', arguments: '{"city":"Paris"}' }])
      t.match(rig.anthropic.lastFor('ok-anth')?.body, {
        tools: [{ name: 'get_weather', description: 'Weather in a city', input_schema: WEATHER_TOOL.function.parameters }],
        tool_choice: { type: 'auto' },
      })
      messages.push(
        { role: 'assistant', content: null, tool_calls: [{ id: ANTHROPIC_TOOL_ID, type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
        { role: 'tool', tool_call_id: ANTHROPIC_TOOL_ID, content: 'sunny, 21°C' },
      )
      const second = await client.chat.completions.create({ model: 'claude-test', messages, tools: [WEATHER_TOOL] })
      t.equal(second.choices[0]?.message.content, `Tool ${ANTHROPIC_TOOL_ID} said: sunny, 21°C`)
      t.same(rig.anthropic.lastFor('ok-anth')?.body.messages, [
        { role: 'user', content: [{ type: 'text', text: 'Weather in Paris?' }] },
        { role: 'assistant', content: [{ type: 'tool_use', id: ANTHROPIC_TOOL_ID, name: 'get_weather', input: { city: 'Paris' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: ANTHROPIC_TOOL_ID, content: 'sunny, 21°C' }] },
      ])
    })

    t.test('anthropic: images as base64 and as URL', async (t) => {
      const ask = (url: string) =>
        client.chat.completions.create({
          model: 'claude-test',
          messages: [{ role: 'user', content: [{ type: 'text', text: 'What is this?' }, { type: 'image_url', image_url: { url } }] }],
        })
      t.equal((await ask(PNG)).choices[0]?.message.content, 'I see an image (base64 image/png).')
      t.match(rig.anthropic.lastFor('ok-anth')?.body.messages, [{ content: [{ type: 'text' }, { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG.split(',')[1] } }] }])
      t.equal((await ask('https://example.com/cat.jpg')).choices[0]?.message.content, 'I see an image (url).')
      t.match(rig.anthropic.lastFor('ok-anth')?.body.messages, [{ content: [{}, { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } }] }])
    })

    t.test('anthropic: reasoning_effort becomes thinking; the thinking comes back as reasoning_content', async (t) => {
      const id = requestId('anth-think')
      const completion = await client.chat.completions.create({ model: 'claude-test', messages: [{ role: 'user', content: 'Think' }], reasoning_effort: 'low', max_tokens: 3000 }, withId(id))
      const message = completion.choices[0]?.message as unknown as Loose
      t.equal(message.reasoning_content, ANTHROPIC_THINKING)
      t.equal(message.content, ANTHROPIC_TEXT)
      t.match(completion.usage, { completion_tokens_details: { reasoning_tokens: 6 } })
      t.match(rig.anthropic.lastFor('ok-anth')?.body, { thinking: { type: 'enabled', budget_tokens: 1024 }, max_tokens: 3000 })
      t.match(await rig.usageRow(id), { reasoningTokens: 6, completionTokens: 20 })
      const streamed = await collect(await client.chat.completions.create({ model: 'claude-test', messages: [{ role: 'user', content: 'Think' }], reasoning_effort: 'low', stream: true }))
      t.equal(streamed.reasoning, ANTHROPIC_THINKING)
      t.equal(streamed.text, ANTHROPIC_TEXT)
    })

    t.test('a field Anthropic cannot express is a 400 unsupported_parameter naming it, and nothing is sent', async (t) => {
      const before = rig.anthropic.requests.length
      for (const [extra, param] of [
        [{ logit_bias: { '50256': -100 } }, 'logit_bias'],
        [{ n: 2 }, 'n'],
        [{ presence_penalty: 0.5 }, 'presence_penalty'],
        [{ response_format: { type: 'json_object' } }, 'response_format'],
      ] as const) {
        const err = await client.chat.completions.create({ model: 'claude-test', messages: [{ role: 'user', content: 'x' }], ...extra }).catch((e: unknown) => e)
        t.ok(err instanceof BadRequestError, param)
        t.match((err as BadRequestError).error, { code: 'unsupported_parameter', param, type: 'invalid_request_error' })
      }
      // Neutral values ask for nothing and pass.
      const ok = await client.chat.completions.create({ model: 'claude-test', messages: [{ role: 'user', content: 'x' }], n: 1, presence_penalty: 0, seed: 7, user: 'u-1' })
      t.equal(ok.choices[0]?.message.content, ANTHROPIC_TEXT)
      t.match(rig.anthropic.lastFor('ok-anth')?.body, { metadata: { user_id: 'u-1' } })
      t.equal(rig.anthropic.requests.length, before + 1)
    })

    t.test("an upstream's error comes back in OpenAI's shape with the upstream's status", async (t) => {
      const err = await client.chat.completions.create({ model: 'claude-err', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e)
      t.ok(err instanceof BadRequestError)
      t.equal((err as APIError).status, 400)
      t.match((err as APIError).error, { message: /text content blocks must be non-empty/, type: 'invalid_request_error' })
      const gem = await client.chat.completions.create({ model: 'gemini-badkey', messages: [{ role: 'user', content: 'x' }], stream: true }).catch((e: unknown) => e)
      t.ok(gem instanceof APIError)
      t.equal((gem as APIError).status, 400)
      t.match((gem as APIError).error, { message: 'API key not valid. Please pass a valid API key.', code: 'INVALID_ARGUMENT' })
    })

    t.test('gemini, non-stream: converted, the key in x-goog-api-key only, cached tokens billed', async (t) => {
      const id = requestId('gem-plain')
      const completion = await client.chat.completions.create(
        { model: 'gemini-test', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Say hello' }], max_tokens: 50, top_p: 0.9 },
        withId(id),
      )
      t.equal(completion.choices[0]?.message.content, GEMINI_TEXT)
      t.equal(completion.choices[0]?.finish_reason, 'stop')
      t.match(completion.usage, { prompt_tokens: 120, completion_tokens: 15, prompt_tokens_details: { cached_tokens: 80 } })
      const upstream = rig.gemini.lastFor('ok-gem')
      t.equal(upstream?.url, '/v1beta/models/gemini-test:generateContent')
      t.equal(upstream?.headers.authorization, undefined)
      t.same(upstream?.body, {
        contents: [{ role: 'user', parts: [{ text: 'Say hello' }] }],
        systemInstruction: { parts: [{ text: 'Be brief.' }] },
        generationConfig: { maxOutputTokens: 50, topP: 0.9 },
      })
      const row = await rig.usageRow(id)
      t.match(row, { promptTokens: 120, completionTokens: 15, cachedTokens: 80, cacheWriteTokens: 0 })
      t.equal(row?.quota, expectedQuota({ prompt: 120, cached: 80, written: 0, completion: 15 }, GEMINI))
    })

    t.test('gemini, stream: alt=sse, text as it comes, usage from the last usageMetadata', async (t) => {
      const id = requestId('gem-stream')
      const got = await collect(await client.chat.completions.create({ model: 'gemini-test', messages: [{ role: 'user', content: 'hi' }], stream: true, stream_options: { include_usage: true } }, withId(id)))
      t.equal(got.text, GEMINI_TEXT)
      t.equal(got.finish, 'stop')
      t.match(got.usages, [{ prompt_tokens: 120, completion_tokens: 15, prompt_tokens_details: { cached_tokens: 80 } }])
      t.equal(rig.gemini.lastFor('ok-gem')?.url, '/v1beta/models/gemini-test:streamGenerateContent?alt=sse')
      t.equal(rig.gemini.requests.filter((r) => /key=/.test(r.url)).length, 0)
      t.equal((await rig.usageRow(id))?.quota, expectedQuota({ prompt: 120, cached: 80, written: 0, completion: 15 }, GEMINI))
    })

    t.test('gemini, tools: the thought signature rides in the call id and goes back on the call', async (t) => {
      const messages: ChatCompletionMessageParam[] = [{ role: 'user', content: 'Weather in Paris?' }]
      const first = await client.chat.completions.create({ model: 'gemini-test', messages, tools: [WEATHER_TOOL], tool_choice: 'required' })
      const call = first.choices[0]?.message.tool_calls?.[0]
      t.equal(first.choices[0]?.finish_reason, 'tool_calls')
      t.match(call, { type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } })
      t.match(call?.id, /^call_[0-9a-f]+__thought__/)
      t.match(rig.gemini.lastFor('ok-gem')?.body, {
        tools: [{ functionDeclarations: [{ name: 'get_weather', parametersJsonSchema: WEATHER_TOOL.function.parameters }] }],
        toolConfig: { functionCallingConfig: { mode: 'ANY' } },
      })
      messages.push(
        { role: 'assistant', content: null, tool_calls: [call as NonNullable<typeof call>] },
        { role: 'tool', tool_call_id: call?.id ?? '', content: '{"temp":21}' },
      )
      const streamed = await collect(await client.chat.completions.create({ model: 'gemini-test', messages, tools: [WEATHER_TOOL], stream: true }))
      t.equal(streamed.text, 'Function get_weather said: {"temp":21}')
      t.same(rig.gemini.lastFor('ok-gem')?.body.contents, [
        { role: 'user', parts: [{ text: 'Weather in Paris?' }] },
        { role: 'model', parts: [{ functionCall: { name: 'get_weather', args: { city: 'Paris' } }, thoughtSignature: GEMINI_SIGNATURE }] },
        { role: 'user', parts: [{ functionResponse: { name: 'get_weather', response: { temp: 21 } } }] },
      ])
    })

    t.test('gemini: images inline and by URL; reasoning as thoughts', async (t) => {
      const image = await client.chat.completions.create({ model: 'gemini-test', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: PNG } }] }] })
      t.equal(image.choices[0]?.message.content, 'I see an image (inlineData image/png).')
      const byUrl = await client.chat.completions.create({ model: 'gemini-test', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://example.com/a.png' } }] }] })
      t.equal(byUrl.choices[0]?.message.content, 'I see an image (fileData https://example.com/a.png).')
      t.match(rig.gemini.lastFor('ok-gem')?.body.contents, [{ parts: [{ fileData: { mimeType: 'image/png', fileUri: 'https://example.com/a.png' } }] }])
      const id = requestId('gem-think')
      const thought = await client.chat.completions.create({ model: 'gemini-test', messages: [{ role: 'user', content: 'Think' }], reasoning_effort: 'medium' }, withId(id))
      t.equal((thought.choices[0]?.message as unknown as Loose).reasoning_content, GEMINI_THOUGHT)
      t.match(thought.usage, { completion_tokens: 20, completion_tokens_details: { reasoning_tokens: 5 } })
      t.match(rig.gemini.lastFor('ok-gem')?.body.generationConfig, { thinkingConfig: { thinkingBudget: 8192, includeThoughts: true } })
      t.match(await rig.usageRow(id), { completionTokens: 20, reasoningTokens: 5 })
    })

    t.test('channels of the new types: validated on create, tested in their own format', async (t) => {
      const create = (payload: Record<string, unknown>) => rig.app.inject({ method: 'POST', url: '/api/channel', headers: rig.admin, payload: { name: 'x', key: 'k', ...payload } })
      const noBase = await create({ type: 'azure' })
      t.equal(noBase.statusCode, 400, 'an Azure channel needs its resource URL')
      t.match(noBase.json(), { error: { param: 'base_url' } })
      const query = await create({ type: 'azure', base_url: 'https://res.openai.azure.com?x=1' })
      t.equal(query.statusCode, 400, 'no query but api-version')
      t.match((await create({ type: 'vertex' })).json(), { error: { code: 'invalid_request', param: 'type' } })
      const gemini = await create({ type: 'gemini', key: 'ok-gem-probe', base_url: rig.gemini.url, models: ['gemini-probe'] })
      t.equal(gemini.statusCode, 201)
      const id = (gemini.json() as { id: number }).id
      const test = await rig.app.inject({ method: 'POST', url: `/api/channel/${id}/test`, headers: rig.admin, payload: {} })
      t.match(test.json(), { ok: true, status: 200 })
      t.match(rig.gemini.lastFor('ok-gem-probe'), { url: '/v1beta/models/gemini-probe:generateContent', body: { generationConfig: { maxOutputTokens: 1 } } })
      const anthropic = await create({ type: 'anthropic', key: 'ok-anth-probe', base_url: rig.anthropic.url, models: ['claude-probe'] })
      const probe = await rig.app.inject({ method: 'POST', url: `/api/channel/${(anthropic.json() as { id: number }).id}/test`, headers: rig.admin, payload: {} })
      t.match(probe.json(), { ok: true, status: 200 })
      t.match(rig.anthropic.lastFor('ok-anth-probe'), { path: '/v1/messages', body: { model: 'claude-probe', max_tokens: 1 } })
      const azure = await create({ type: 'azure', key: 'ok-az-probe', base_url: `${rig.azure.url}/?api-version=2024-06-01`, models: ['dep-probe'] })
      const azProbe = await rig.app.inject({ method: 'POST', url: `/api/channel/${(azure.json() as { id: number }).id}/test`, headers: rig.admin, payload: {} })
      t.match(azProbe.json(), { ok: true, status: 200 })
      t.equal(rig.azure.lastFor('ok-az-probe')?.path, '/openai/deployments/dep-probe/chat/completions?api-version=2024-06-01')
    })

    t.test('azure: the deployment URL and api-version, the key in api-key, usage with cached tokens billed', async (t) => {
      const id = requestId('az-plain')
      const completion = await client.chat.completions.create({ model: 'gpt-az', messages: [{ role: 'user', content: 'hi' }] }, withId(id))
      t.equal(completion.choices[0]?.message.content, AZURE_TEXT)
      const upstream = rig.azure.lastFor('ok-az')
      t.equal(upstream?.path, '/openai/deployments/my-deployment/chat/completions?api-version=2025-04-01-preview')
      t.equal(upstream?.headers['api-key'], 'ok-az')
      t.equal(upstream?.headers.authorization, undefined)
      const row = await rig.usageRow(id)
      t.match(row, { promptTokens: 200, completionTokens: 30, cachedTokens: 150 })
      t.equal(row?.quota, expectedQuota({ prompt: 200, cached: 150, written: 0, completion: 30 }, AZURE))
    })

    t.test('azure: a streamed tools round trip and an image, passed through as they are', async (t) => {
      const id = requestId('az-stream')
      const messages: ChatCompletionMessageParam[] = [{ role: 'user', content: 'Weather?' }]
      const first = await collect(await client.chat.completions.create({ model: 'gpt-az', messages, tools: [WEATHER_TOOL], stream: true }, withId(id)))
      t.same(first.calls, [{ id: AZURE_TOOL_ID, name: 'get_weather', arguments: '{"city":"Paris"}' }])
      t.same(first.usages, [], 'the usage chunk the gateway asked for is not passed on')
      t.match(rig.azure.lastFor('ok-az')?.body, { stream_options: { include_usage: true } })
      t.equal((await rig.usageRow(id))?.quota, expectedQuota({ prompt: 200, cached: 150, written: 0, completion: 30 }, AZURE))
      messages.push(
        { role: 'assistant', content: null, tool_calls: [{ id: AZURE_TOOL_ID, type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
        { role: 'tool', tool_call_id: AZURE_TOOL_ID, content: 'rainy' },
      )
      const second = await client.chat.completions.create({ model: 'gpt-az', messages })
      t.equal(second.choices[0]?.message.content, `Tool ${AZURE_TOOL_ID} said: rainy`)
      const image = await client.chat.completions.create({ model: 'gpt-az', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: PNG } }] }] })
      t.equal(image.choices[0]?.message.content, 'I see an image (data:image/png).')
    })
  })
}
