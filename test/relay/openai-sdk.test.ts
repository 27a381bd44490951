// The official OpenAI SDK, unchanged, pointed at the gateway: it must not be able to tell it talks to a proxy.
import OpenAI, { AuthenticationError, NotFoundError } from 'openai'
import t from 'tap'
import { backends } from '../support/backends.js'
import { FAKE_USAGE } from '../support/fake-upstream.js'
import { startRig } from './fixture.js'

for (const backend of backends()) {
  t.test(backend.name, async (t) => {
    const rig = await startRig(t, backend)
    await rig.channel({ key: 'ok-sdk', models: ['gpt-4o-mini', 'text-embedding-3-small'] })
    const { key } = await rig.token()
    const client = new OpenAI({ apiKey: key, baseURL: `${rig.url}/v1`, maxRetries: 0 })

    t.test('chat, non-stream: the upstream answer and its usage', async (t) => {
      const completion = await client.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'Say hello' }],
      })
      t.equal(completion.choices[0]?.message.content, 'Hello from mock upstream.')
      t.same(completion.usage, FAKE_USAGE)
      t.equal(rig.upstream.lastFor('ok-sdk')?.path, '/v1/chat/completions')
    })

    t.test('chat, stream without include_usage: every content chunk, no usage chunk', async (t) => {
      const stream = await client.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'Say hello' }],
        stream: true,
      })
      let text = ''
      let usageChunks = 0
      for await (const chunk of stream) {
        text += chunk.choices[0]?.delta.content ?? ''
        if (chunk.usage) usageChunks += 1
      }
      t.equal(text, Array.from({ length: 20 }, (_, i) => `w${i} `).join(''))
      t.equal(usageChunks, 0)
      // The gateway asked the upstream for usage on the client's behalf.
      t.match(rig.upstream.lastFor('ok-sdk')?.body, { stream: true, stream_options: { include_usage: true } })
    })

    t.test('chat, stream with include_usage: the usage chunk arrives', async (t) => {
      const stream = await client.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'Say hello' }],
        stream: true,
        stream_options: { include_usage: true },
      })
      const usages = []
      for await (const chunk of stream) if (chunk.usage) usages.push(chunk.usage)
      t.same(usages, [{ prompt_tokens: 10, completion_tokens: 20, total_tokens: 30 }])
    })

    t.test('models: list and retrieve', async (t) => {
      const ids = []
      for await (const model of client.models.list()) ids.push(model.id)
      t.same(ids.sort(), ['gpt-4o-mini', 'text-embedding-3-small'])
      const one = await client.models.retrieve('gpt-4o-mini')
      t.match(one, { id: 'gpt-4o-mini', object: 'model' })
      const missing = await client.models.retrieve('no-such-model').catch((e: unknown) => e)
      t.ok(missing instanceof NotFoundError)
      t.equal((missing as NotFoundError).code, 'model_not_found')
    })

    t.test('embeddings', async (t) => {
      // The fake upstream always answers floats, so the SDK's default base64 request is made explicit here.
      const res = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['a', 'b'], encoding_format: 'float' })
      t.equal(res.data.length, 2)
      t.same(res.data[0]?.embedding, [0.1, 0.2, 0.3])
      t.equal(res.usage.prompt_tokens, 16)
      t.match(rig.upstream.lastFor('ok-sdk')?.body, { encoding_format: 'float', input: ['a', 'b'] })
    })

    t.test('a bad key → AuthenticationError', async (t) => {
      const bad = new OpenAI({ apiKey: 'sk-not-a-real-key', baseURL: `${rig.url}/v1`, maxRetries: 0 })
      const err = await bad.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e)
      t.ok(err instanceof AuthenticationError)
      t.equal((err as AuthenticationError).status, 401)
      t.equal((err as AuthenticationError).code, 'invalid_api_key')
    })
  })
}
