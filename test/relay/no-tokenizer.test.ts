// Issue 10 item 1: nothing is tokenized before forwarding — a gateway whose upstreams send usage never even
// loads the tokenizer (~70 MB of tables).
import t from 'tap'
import { tokenizerLoaded } from '../../src/billing/tokens-count.js'
import { sqliteBackend } from '../support/backends.js'
import { chat, post, startRig } from './fixture.js'

t.test('requests answered with usage never load the tokenizer', async (t) => {
  const rig = await startRig(t, sqliteBackend)
  await rig.channel({ key: 'ok-no-tokenizer-00001111222', models: ['nt-model'] })
  await rig.price('nt-model')
  const { key } = await rig.token()
  const prompt = 'a long prompt '.repeat(10_000)
  for (const stream of [false, true]) {
    const res = await post(rig, '/v1/chat/completions', key, chat('nt-model', { stream, messages: [{ role: 'user', content: prompt }] }))
    t.equal(res.status, 200)
    await res.text()
  }
  t.equal(tokenizerLoaded(), false)
})

t.test('a streamed answer of several KB that brings its usage is not tokenized either', async (t) => {
  // ~6.6 KB of streamed text: past the counter's old 2 KB flush, within the 8 KB it now holds before tokenizing.
  const rig = await startRig(t, sqliteBackend, { upstream: { chunks: 1200 } })
  await rig.channel({ key: 'ok-no-tokenizer-long-0011223', models: ['nt-long'] })
  await rig.price('nt-long')
  const { key } = await rig.token()
  const res = await post(rig, '/v1/chat/completions', key, chat('nt-long', { stream: true }))
  t.equal(res.status, 200)
  const text = await res.text()
  t.ok(text.includes('w1199 '), 'the whole stream arrived')
  t.equal(tokenizerLoaded(), false)
})
