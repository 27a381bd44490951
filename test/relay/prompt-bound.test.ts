// The reservation's prompt bound (issue 9 finding 2, issue 10 item 1): from the body's size, not the tokenizer.
import t from 'tap'
import { IMAGE_TOKENS_BOUND, promptTokensBound } from '../../src/relay/prompt-bound.js'
import { countTextTokens, estimatePromptTokens } from '../../src/billing/tokens-count.js'
import { sqliteBackend } from '../support/backends.js'
import { bearer, login } from '../support/build-app.js'
import { post, startRig } from './fixture.js'

t.test('the bound is at least the exact count, for text in many scripts', async (t) => {
  const texts = ['Hello, world! '.repeat(500), '你好，世界。'.repeat(500), 'Привет мир '.repeat(300), '🙂🙃😀'.repeat(300), 'a'.repeat(5000), '\u0000\u0001\t\n'.repeat(100)]
  for (const text of texts) {
    const body = { model: 'm', messages: [{ role: 'user', content: text }] }
    const json = JSON.stringify(body)
    t.ok(promptTokensBound(json) >= estimatePromptTokens(body), `${text.slice(0, 8)}…: ${promptTokensBound(json)} ≥ ${estimatePromptTokens(body)}`)
    t.ok(countTextTokens(text) <= Buffer.byteLength(text))
  }
})

t.test('a base64 image counts as one image allowance, not by its size; an image URL adds one', async (t) => {
  const image = { type: 'image_url', image_url: { url: `data:image/png;base64,${'A'.repeat(1_000_000)}` } }
  const body = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: [{ type: 'text', text: 'what is this?' }, image] }] })
  const bound = promptTokensBound(body)
  t.ok(bound >= IMAGE_TOKENS_BOUND && bound < IMAGE_TOKENS_BOUND + 500, `bound ${bound}`)
  const url = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://x/y.png' } }] }] })
  t.ok(promptTokensBound(url) >= IMAGE_TOKENS_BOUND)
})

t.test('a user whose balance covers a 1 MB image request by its tokens is served', async (t) => {
  const rig = await startRig(t, sqliteBackend)
  await rig.channel({ key: 'ok-image-bound-000011112222', models: ['vision-model'] })
  await rig.price('vision-model', { input_per_1m: '2.5', output_per_1m: '10' })
  const { app } = rig
  await app.inject({ method: 'POST', url: '/api/auth/register', payload: { username: 'imageuser', password: 'password-123' } })
  const id = (await app.usersRepo.findByUsername('imageuser'))!.id
  await app.inject({ method: 'POST', url: `/api/user/${id}/quota`, headers: bearer(rig.adminSession), payload: { delta: 100_000, remark: 't' } })
  const session = await login(app, 'imageuser', 'password-123')
  const key = ((await app.inject({ method: 'POST', url: '/api/token', headers: bearer(session), payload: { name: 'k' } })).json() as { key: string }).key
  const image = { type: 'image_url', image_url: { url: `data:image/png;base64,${'A'.repeat(1_000_000)}` } }
  // 1 MB counted as tokens would reserve ~1.25M quota; counted as one image it is a few thousand.
  const res = await post(rig, '/v1/chat/completions', key, { model: 'vision-model', max_tokens: 100, messages: [{ role: 'user', content: [image] }] })
  t.equal(res.status, 200, await res.text())
})
