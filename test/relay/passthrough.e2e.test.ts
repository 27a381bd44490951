// Generic pass-through endpoints: same key auth, channel choice and key swap; bytes relayed unchanged.
import OpenAI, { toFile } from 'openai'
import t from 'tap'
import { backends } from '../support/backends.js'
import { FAKE_SPEECH } from '../support/fake-upstream.js'
import { eventually, post, startRig } from './fixture.js'

for (const backend of backends()) {
  t.test(backend.name, async (t) => {
    const rig = await startRig(t, backend)
    await rig.price('tts-1', { per_request: '0.01' })
    await rig.price('whisper-1', { per_request: '0.006' })
    await rig.price('resp-model')
    await rig.channel({ key: 'ok-pt', models: ['omni-moderation-latest', 'dall-e-3', 'tts-1', 'whisper-1', 'resp-model'] })
    const { key } = await rig.token()
    const client = new OpenAI({ apiKey: key, baseURL: `${rig.url}/v1`, maxRetries: 0 })

    t.test('moderations (model defaulted as OpenAI does)', async (t) => {
      const res = await client.moderations.create({ input: 'hello' })
      t.equal(res.results[0]?.flagged, false)
      const seen = rig.upstream.lastFor('ok-pt')
      t.equal(seen?.path, '/v1/moderations')
      t.equal(seen?.headers.authorization, 'Bearer ok-pt')
    })

    t.test('images', async (t) => {
      const res = await client.images.generate({ model: 'dall-e-3', prompt: 'a lighthouse' })
      t.equal(res.data?.[0]?.revised_prompt, 'a lighthouse')
    })

    t.test('audio speech: the bytes arrive intact, with their content type', async (t) => {
      const res = await client.audio.speech.create({ model: 'tts-1', voice: 'alloy', input: 'hello' })
      t.equal(res.headers.get('content-type'), 'audio/mpeg')
      t.same(Buffer.from(await res.arrayBuffer()), FAKE_SPEECH)
    })

    t.test('audio transcriptions: multipart streamed through, model read from the form', async (t) => {
      const audio = Buffer.alloc(256 * 1024, 7)
      const res = await client.audio.transcriptions.create({ file: await toFile(audio, 'speech.mp3'), model: 'whisper-1' })
      t.equal(res.text, 'hello from the fake upstream')
      const seen = rig.upstream.lastFor('ok-pt')
      t.equal(seen?.path, '/v1/audio/transcriptions')
      t.match(String(seen?.headers['content-type']), /^multipart\/form-data; boundary=/)
      t.ok((seen?.rawLength ?? 0) > audio.length, 'the whole upload reached the upstream')
      t.match(String(seen?.body), /name="model"\r\n\r\nwhisper-1\r\n/)
    })

    t.test('transcriptions: a model the token may not use is refused before anything is forwarded', async (t) => {
      const limited = await rig.token({ models: ['tts-1'] })
      const before = rig.upstream.requests.length
      const form = new FormData()
      form.append('file', new Blob([Buffer.alloc(1024)]), 'a.mp3')
      form.append('model', 'whisper-1')
      const res = await fetch(`${rig.url}/v1/audio/transcriptions`, { method: 'POST', headers: { authorization: `Bearer ${limited.key}` }, body: form })
      t.equal(res.status, 403)
      t.match(await res.json(), { error: { code: 'model_not_allowed' } })
      t.equal(rig.upstream.requests.length, before)
    })

    t.test('responses: relayed, usage read from input/output tokens', async (t) => {
      const res = await post(rig, '/v1/responses', key, { model: 'resp-model', input: 'hi' }, { 'x-request-id': 'pt-resp' })
      t.equal(res.status, 200)
      t.match(await res.json(), { object: 'response', output: [{ type: 'message' }] })
      const logs = await eventually(() => rig.usageLogs('pt-resp'), (rows) => rows.length > 0)
      t.match(logs, [{ promptTokens: 10, completionTokens: 20 }])
    })

    // Regression: a streamed Responses answer was relayed raw and billed as if it had no usage (free).
    t.test('responses stream: every event relayed as sent, usage read from response.completed', async (t) => {
      const res = await post(rig, '/v1/responses', key, { model: 'resp-model', input: 'hi', stream: true }, { 'x-request-id': 'pt-resp-stream' })
      t.equal(res.status, 200)
      const text = await res.text()
      t.equal((text.match(/event: response.output_text.delta/g) ?? []).length, 20)
      t.match(text, /"type":"response.completed".*"usage":\{"input_tokens":10,"output_tokens":20/)
      const logs = await eventually(() => rig.usageLogs('pt-resp-stream'), (rows) => rows.length > 0)
      t.match(logs, [{ promptTokens: 10, completionTokens: 20, status: 200 }])
    })

    t.test('responses stream without usage: the gateway counts the streamed text', async (t) => {
      await rig.channel({ key: 'nousage-pt', models: ['resp-counted'] })
      await rig.price('resp-counted')
      const res = await post(rig, '/v1/responses', key, { model: 'resp-counted', input: 'hi', stream: true }, { 'x-request-id': 'pt-resp-counted' })
      t.equal(res.status, 200)
      await res.text()
      const logs = await eventually(() => rig.usageLogs('pt-resp-counted'), (rows) => rows.length > 0)
      t.ok(logs[0]!.completionTokens >= 20, `counted ${logs[0]!.completionTokens} completion tokens`)
    })
  })
}
