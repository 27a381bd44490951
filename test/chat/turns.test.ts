// Chat turns over HTTP (CONTRACT §8): relayed through the relay's own journey — billed like the same
// /v1/chat/completions request, logged with source "chat" and token id 0 — as JSON or as an SSE stream.
import t from 'tap'
import { backends } from '../support/backends.js'
import { FAKE_USAGE } from '../support/fake-upstream.js'
import { chat, eventually, post } from '../relay/fixture.js'
import { MODEL, startChatRig } from './support.js'

/** Set once src/billing/meter.ts writes `MeterRequest.source` into the usage-log row. */

for (const backend of backends()) {
  t.test(backend.name, async (t) => {
    const rig = await startChatRig(t, backend, { env: { PERSONAL_API_ALLOW_PRIVATE: 'true' } })
    const alice = await rig.user('alice')

    t.test('a JSON turn: 201 with both messages, billed exactly like the same /v1 request, logged as chat', async (t) => {
      const conv = (await rig.call(alice.token, 'POST', '/api/conversations', { model: MODEL })).body
      const before = await rig.balance(alice.token)
      const res = await rig.call(alice.token, 'POST', `/api/conversations/${conv.id}/messages`, { content: 'Say hello' })
      t.equal(res.status, 201)
      t.match(res.body.user_message, { role: 'user', content: 'Say hello', status: 'complete', model: MODEL })
      t.match(res.body.assistant_message, { role: 'assistant', status: 'complete', model: MODEL, prompt_tokens: 10, completion_tokens: 20 })
      t.equal(res.body.assistant_message.content, Array.from({ length: 20 }, (_, i) => `w${i} `).join(''), 'the streamed text, whole')
      const afterChat = await eventually(() => rig.balance(alice.token), (b) => b.used_quota > before.used_quota)
      const chatCost = afterChat.used_quota - before.used_quota
      t.equal(before.quota - afterChat.quota, chatCost, 'the balance went down by what was charged')
      const upstream = rig.upstream.lastFor('ok-chat')
      t.match(upstream?.body, { model: MODEL, stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'Say hello' }] })

      // The same request through /v1 with a key of the same user costs the same.
      const key = (await rig.call(alice.token, 'POST', '/api/token', { name: 'k' })).body.key as string
      const v1 = await post(rig, '/v1/chat/completions', key, chat(MODEL, { messages: [{ role: 'user', content: 'Say hello' }] }))
      t.equal(v1.status, 200)
      await v1.text()
      const afterV1 = await eventually(() => rig.balance(alice.token), (b) => b.used_quota > afterChat.used_quota)
      t.ok(chatCost > 0)
      t.equal(afterV1.used_quota - afterChat.used_quota, chatCost, 'a chat turn costs what the /v1 request costs')

      const rows = (await rig.usageRows(alice.id)).filter((r) => r.requestId === res.headers['x-request-id'])
      t.equal(rows.length, 1, 'one usage-log row under the turn’s request id')
      t.match(rows[0], { tokenId: 0, quota: chatCost, promptTokens: FAKE_USAGE.prompt_tokens, completionTokens: 20, status: 200 })
      // MeterRequest.source is 'chat' (asserted in the relay seam); writing it to the row is the meter's part.
      t.equal(rows[0]?.source, 'chat', 'usage log source is chat')

      const again = (await rig.call(alice.token, 'GET', `/api/conversations/${conv.id}`)).body
      t.match(again, { title: 'Say hello', message_count: 2, token_used: 30 })
    })

    t.test('an SSE turn: chunk events, then done with the stored answer', async (t) => {
      const conv = (await rig.call(alice.token, 'POST', '/api/conversations', { model: MODEL })).body
      const res = await fetch(`${rig.url}/api/conversations/${conv.id}/messages`, {
        method: 'POST',
        headers: { authorization: `Bearer ${alice.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ content: 'stream please', stream: true }),
      })
      t.equal(res.status, 200)
      t.match(res.headers.get('content-type'), /^text\/event-stream/)
      t.ok(res.headers.get('x-request-id'))
      const events = (await res.text())
        .split('\n\n')
        .filter((e) => e.startsWith('data: '))
        .map((e) => JSON.parse(e.slice(6)) as Record<string, any>)
      const chunks = events.filter((e) => e.type === 'chunk')
      t.equal(chunks.length, 20)
      t.same(chunks[0], { type: 'chunk', content: 'w0 ' })
      const done = events.at(-1)!
      t.equal(done.type, 'done')
      t.equal(done.assistant_message.content, chunks.map((c) => c.content).join(''))
      t.equal(done.assistant_message.status, 'complete')
      const page = (await rig.call(alice.token, 'GET', `/api/conversations/${conv.id}/messages`)).body
      t.same(page.data.map((m: { role: string }) => m.role), ['user', 'assistant'])
      t.equal(page.data[1].id, done.assistant_message.id)
    })

    t.test('a turn with api_id goes to the user’s own upstream with their key, costs 0 and is logged', async (t) => {
      const api = await rig.call(alice.token, 'POST', '/api/user/self/apis', { name: 'mine', base_url: rig.upstream.url, key: 'ok-personal-key', model: 'my-own-model' })
      t.equal(api.status, 201)
      const conv = (await rig.call(alice.token, 'POST', '/api/conversations', { api_id: api.body.id })).body
      t.equal(conv.api_id, api.body.id)
      const before = await rig.balance(alice.token)
      const res = await rig.call(alice.token, 'POST', `/api/conversations/${conv.id}/messages`, { content: 'hi own upstream' })
      t.equal(res.status, 201)
      t.match(res.body.assistant_message, { status: 'complete', model: 'my-own-model', completion_tokens: 20 })
      const sent = rig.upstream.lastFor('ok-personal-key')
      t.match(sent?.body, { model: 'my-own-model', messages: [{ role: 'user', content: 'hi own upstream' }] })
      const rows = await eventually(
        () => rig.usageRows(alice.id),
        (r) => r.some((row) => row.requestId === res.headers['x-request-id']),
      )
      t.match(rows.find((row) => row.requestId === res.headers['x-request-id']), { quota: 0, tokenId: 0 })
      t.same(await rig.balance(alice.token), before, 'nothing charged')

      const bob = await rig.user('bob-api')
      const other = (await rig.call(bob.token, 'POST', '/api/conversations', { model: MODEL })).body
      const stolen = await rig.call(bob.token, 'POST', `/api/conversations/${other.id}/messages`, { content: 'x', api_id: api.body.id })
      t.equal(stolen.status, 404, 'another user’s personal API is a 404')
      t.equal(await rig.messageRows(other.id), 0, 'and nothing is stored')
      t.equal((await rig.call(bob.token, 'POST', '/api/conversations', { api_id: api.body.id })).status, 404)
    })

    t.test('a turn that cannot be served is refused before anything is stored', async (t) => {
      const conv = (await rig.call(alice.token, 'POST', '/api/conversations', {})).body
      const noModel = await rig.call(alice.token, 'POST', `/api/conversations/${conv.id}/messages`, { content: 'x' })
      t.equal(noModel.status, 400)
      t.equal(noModel.body.error.param, 'model')
      const unpriced = await rig.call(alice.token, 'POST', `/api/conversations/${conv.id}/messages`, { content: 'x', model: 'nobody-prices-this' })
      t.equal(unpriced.status, 400)
      t.equal(unpriced.body.error.code, 'model_price_unset')
      await rig.price('served-by-none')
      const unserved = await rig.call(alice.token, 'POST', `/api/conversations/${conv.id}/messages`, { content: 'x', model: 'served-by-none' })
      t.equal(unserved.status, 500)
      t.equal(unserved.body.error.code, 'no_available_channel')
      const badName = await rig.call(alice.token, 'POST', `/api/conversations/${conv.id}/messages`, { content: 'x', model: 'bad model name' })
      t.equal(badName.status, 400)
      const extra = await rig.call(alice.token, 'POST', `/api/conversations/${conv.id}/messages`, { content: 'x', model: MODEL, temperature: 2 })
      t.equal(extra.status, 400, 'unknown fields are refused')
      const empty = await rig.call(alice.token, 'POST', `/api/conversations/${conv.id}/messages`, { content: '', model: MODEL })
      t.equal(empty.status, 400)
      t.equal(await rig.messageRows(conv.id), 0)
      t.equal((await rig.call(alice.token, 'GET', `/api/conversations/${conv.id}`)).body.message_count, 0)
    })

    t.test('a user without balance: the turn is stored with an error answer, and the client gets 429 insufficient_quota', async (t) => {
      const poor = await rig.user('poor', 0)
      const conv = (await rig.call(poor.token, 'POST', '/api/conversations', { model: MODEL })).body
      const res = await rig.call(poor.token, 'POST', `/api/conversations/${conv.id}/messages`, { content: 'hello?' })
      t.equal(res.status, 429)
      t.equal(res.body.error.code, 'insufficient_quota')
      const page = (await rig.call(poor.token, 'GET', `/api/conversations/${conv.id}/messages`)).body
      t.match(page.data, [
        { role: 'user', content: 'hello?', status: 'complete' },
        { role: 'assistant', content: '', status: 'error', error: /insufficient quota/ },
      ])
      t.equal(rig.upstream.countFor('ok-chat') > 0, true)
      t.same(await rig.balance(poor.token), { quota: 0, used_quota: 0 })

      // The same over SSE: an error event with the API error's code.
      const sse = await fetch(`${rig.url}/api/conversations/${conv.id}/messages`, {
        method: 'POST',
        headers: { authorization: `Bearer ${poor.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ content: 'again', stream: true }),
      })
      const text = await sse.text()
      t.match(text, /"type":"error","code":"insufficient_quota"/)
    })

    t.test('an upstream that cuts the stream: what streamed is stored as incomplete and billed', async (t) => {
      await rig.channel({ key: 'cut-chat', models: ['cut-model'] })
      await rig.price('cut-model')
      const conv = (await rig.call(alice.token, 'POST', '/api/conversations', { model: 'cut-model' })).body
      const before = await rig.balance(alice.token)
      const res = await rig.call(alice.token, 'POST', `/api/conversations/${conv.id}/messages`, { content: 'go' })
      t.equal(res.status, 201)
      t.match(res.body.assistant_message, { status: 'incomplete', content: 'w0 w1 w2 ', error: /upstream/ })
      t.ok(res.body.assistant_message.completion_tokens > 0, 'counted by the gateway')
      const after = await eventually(() => rig.balance(alice.token), (b) => b.used_quota > before.used_quota)
      t.ok(after.used_quota > before.used_quota, 'billed for what streamed')
    })

    t.test('GET /api/models: priced gateway models of the user’s group, and their personal APIs', async (t) => {
      await rig.channel({ key: 'ok-unpriced', models: ['unpriced-model'] })
      const res = await rig.call(alice.token, 'GET', '/api/models')
      t.equal(res.status, 200)
      const ids = res.body.data.map((m: { id: string; source: string }) => `${m.source}:${m.id}`)
      t.ok(ids.includes(`gateway:${MODEL}`))
      t.notOk(ids.includes('gateway:unpriced-model'), 'an unpriced model is not offered')
      t.match(res.body.data.find((m: { source: string }) => m.source === 'personal'), { id: 'my-own-model', api_id: Number })
      const bob = await rig.user('bob-models')
      const bobs = (await rig.call(bob.token, 'GET', '/api/models')).body.data
      t.notOk(bobs.some((m: { source: string }) => m.source === 'personal'), 'only one’s own personal APIs')
      t.equal((await rig.app.inject({ method: 'GET', url: '/api/models' })).statusCode, 401)
    })
  })
}
