// Issue 10, item 6: a JSON body the gateway has nothing to change in goes upstream as the client's own bytes (no
// re-serialisation), but only when that is safe: a body with a duplicated decision key, or a key the gateway cannot
// count by its literal (a \u escape), is sent re-serialised, so upstream and gateway read the same model and limits.
import t from 'tap'
import { sqliteBackend } from '../support/backends.js'
import { post, startRig } from './fixture.js'

t.test('forwarded as it came when nothing changes; re-serialised when it must be', async (t) => {
  const rig = await startRig(t, sqliteBackend)
  const channelKey = 'ok-raw-forward-000111222333'
  await rig.channel({ key: channelKey, models: ['raw-model', 'raw-dear'] })
  await rig.price('raw-model')
  await rig.price('raw-dear')
  const { key } = await rig.token()
  const send = async (text: string) => {
    const res = await post(rig, '/v1/chat/completions', key, text)
    await res.text()
    return { status: res.status, seen: rig.upstream.lastFor(channelKey)! }
  }

  // Odd spacing and key order survive: the bytes are the client's.
  const spaced = '{ "messages" : [ {"role":"user","content":"h\\u00e9llo wörld"} ] ,\n  "model":"raw-model", "max_tokens": 20 }'
  const escaped = await send(spaced)
  t.equal(escaped.status, 200)
  t.not(escaped.seen.rawText, spaced, 'a \\u escape anywhere: re-serialised (a key could be spelled with one)')
  t.same(escaped.seen.body, JSON.parse(spaced), 'with the same content')

  const plain = '{ "messages" : [ {"role":"user","content":"hello wörld \\"model\\": x"} ] ,\n  "model":"raw-model", "max_tokens": 20 }'
  const asIs = await send(plain)
  t.equal(asIs.status, 200)
  t.equal(asIs.seen.rawText, plain, 'unchanged: the bytes as the client sent them (a quoted "model" inside content is not a key)')

  // JSON.parse keeps the last duplicate; some upstream parsers keep the first. The gateway bills the model it
  // read, so the upstream must get exactly one.
  const twice = '{"model":"raw-model","messages":[{"role":"user","content":"hi"}],"model":"raw-dear"}'
  const dup = await send(twice)
  t.equal(dup.status, 200)
  t.not(dup.seen.rawText, twice, 'a duplicated decision key: re-serialised')
  t.equal((dup.seen.rawText.match(/"model"/g) ?? []).length, 1, 'one model key upstream')
  t.equal((dup.seen.body as { model: string }).model, 'raw-dear', 'the one the gateway billed')

  // A stream gets stream_options added: a change, so re-serialised with it.
  const stream = '{"model":"raw-model","stream":true,"messages":[{"role":"user","content":"hi"}]}'
  const streamed = await send(stream)
  t.equal(streamed.status, 200)
  t.match(streamed.seen.body, { stream_options: { include_usage: true } })
})
