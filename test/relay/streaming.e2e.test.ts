// SSE relay: chunk by chunk, usage handling, client aborts, upstream cuts, model mapping.
import t from 'tap'
import { backends } from '../support/backends.js'
import { countTextTokens } from '../../src/billing/tokens-count.js'
import { startFakeUpstream } from '../support/fake-upstream.js'
import { chat, eventually, post, startRig } from './fixture.js'

interface Sse {
  events: string[]
  done: boolean
}

/** The `data:` payloads of an SSE body, and whether it ended with [DONE]. */
function parseSse(text: string): Sse {
  const events = text.split('\n\n').filter((e) => e.startsWith('data: ')).map((e) => e.slice(6))
  const done = events.at(-1) === '[DONE]'
  return { events: done ? events.slice(0, -1) : events, done }
}

const contentOf = (events: string[]): string =>
  events
    .map((e) => JSON.parse(e) as { choices: { delta?: { content?: string }; text?: string }[] })
    .map((e) => e.choices[0]?.delta?.content ?? e.choices[0]?.text ?? '')
    .join('')

for (const backend of backends()) {
  t.test(backend.name, async (t) => {
    const rig = await startRig(t, backend)
    const { key } = await rig.token()
    let n = 0
    const model = async (): Promise<string> => {
      const name = `st-model-${++n}`
      await rig.price(name)
      return name
    }

    t.test('the usage-only chunk reaches the client only when it asked for it', async (t) => {
      const m = await model()
      await rig.channel({ key: 'ok-st-a', models: [m] })
      const without = parseSse(await (await post(rig, '/v1/chat/completions', key, chat(m, { stream: true }))).text())
      t.ok(without.done)
      t.equal(without.events.filter((e) => e.includes('"usage"')).length, 0)
      t.equal(contentOf(without.events), Array.from({ length: 20 }, (_, i) => `w${i} `).join(''))

      const withUsage = parseSse(
        await (await post(rig, '/v1/chat/completions', key, chat(m, { stream: true, stream_options: { include_usage: true } }), { 'x-request-id': 'st-usage' })).text(),
      )
      const usage = withUsage.events.filter((e) => e.includes('"usage"')).map((e) => JSON.parse(e) as { usage: unknown; choices: unknown[] })
      t.same(usage.map((u) => [u.choices, u.usage]), [[[], { prompt_tokens: 10, completion_tokens: 20, total_tokens: 30 }]])
      const logs = await eventually(() => rig.usageLogs('st-usage'), (rows) => rows.length > 0)
      t.match(logs, [{ promptTokens: 10, completionTokens: 20, status: 200 }])
    })

    t.test('completions streams too: usage chunk dropped unless asked, billed from it', async (t) => {
      const m = await model()
      await rig.channel({ key: 'ok-st-b', models: [m] })
      const res = await post(rig, '/v1/completions', key, { model: m, prompt: 'Say hello', stream: true }, { 'x-request-id': 'st-cmpl' })
      const sse = parseSse(await res.text())
      t.ok(sse.done)
      t.notOk(sse.events.some((e) => e.includes('"usage"')))
      const logs = await eventually(() => rig.usageLogs('st-cmpl'), (rows) => rows.length > 0)
      t.match(logs, [{ promptTokens: 10, completionTokens: 20 }])
    })

    t.test('a stream without usage is billed from the gateway’s own count', async (t) => {
      const m = await model()
      await rig.channel({ key: 'nousage-st-c', models: [m] })
      const res = await post(rig, '/v1/chat/completions', key, chat(m, { stream: true, stream_options: { include_usage: true } }), { 'x-request-id': 'st-nousage' })
      const sse = parseSse(await res.text())
      t.ok(sse.done)
      t.notOk(sse.events.some((e) => e.includes('"usage"')))
      const logs = await eventually(() => rig.usageLogs('st-nousage'), (rows) => rows.length > 0)
      t.equal(logs.length, 1)
      // The streamed text counted with o200k; the prompt is the gateway's estimate of the request.
      t.equal(logs[0]?.completionTokens, countTextTokens(Array.from({ length: 20 }, (_, i) => `w${i} `).join('')))
      t.ok((logs[0]?.promptTokens ?? 0) > 0)
    })

    t.test('client abort mid-stream: the upstream sees the abort, what was streamed is billed', async (t) => {
      const m = await model()
      await rig.channel({ key: 'hang-st-d', models: [m] })
      const abortedBefore = rig.upstream.aborted
      const controller = new AbortController()
      const res = await fetch(`${rig.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'x-request-id': 'st-abort' },
        body: JSON.stringify(chat(m, { stream: true })),
        signal: controller.signal,
      })
      t.equal(res.status, 200)
      const reader = res.body?.getReader()
      const first = await reader?.read()
      t.match(Buffer.from(first?.value ?? []).toString(), /"role":"assistant"/)
      controller.abort()
      await reader?.cancel().catch(() => {})
      const aborted = await eventually(async () => rig.upstream.aborted, (count) => count > abortedBefore)
      t.equal(aborted, abortedBefore + 1)
      const logs = await eventually(() => rig.usageLogs('st-abort'), (rows) => rows.length > 0)
      t.equal(logs.length, 1, 'settled exactly once')
      t.match(logs[0], { status: 200, error: /client closed/ })
    })

    t.test('client leaves before the upstream answered: the upstream request is aborted at once', async (t) => {
      const slow = await startFakeUpstream({ slowMs: 800 })
      t.teardown(() => slow.close())
      const m = await model()
      await rig.channel({ key: 'slow-st-e', models: [m], base_url: slow.url })
      const controller = new AbortController()
      // A second request that stays: it must still get its answer.
      const staying = post(rig, '/v1/chat/completions', key, chat(m))
      const res = fetch(`${rig.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify(chat(m)),
        signal: controller.signal,
      }).catch((err: unknown) => err)
      await eventually(async () => slow.requests.length, (count) => count >= 2)
      controller.abort()
      t.ok((await res) instanceof Error)
      const aborted = await eventually(async () => slow.aborted, (count) => count >= 1)
      t.equal(aborted, 1, 'only the abandoned request was aborted upstream')
      const kept = await staying
      t.equal(kept.status, 200)
      await kept.text()
    })

    t.test('an upstream that cuts the stream: the client keeps what it got, the stream is billed as counted', async (t) => {
      const m = await model()
      await rig.channel({ key: 'cut-st-f', models: [m] })
      const res = await post(rig, '/v1/chat/completions', key, chat(m, { stream: true }), { 'x-request-id': 'st-cut' })
      t.equal(res.status, 200)
      const sse = parseSse(await res.text())
      // The cut is reported in-band (an SSE error event, then [DONE]): see test/reliability.
      t.ok(sse.done)
      const failure = JSON.parse(sse.events.at(-1) ?? '{}') as { error?: { type?: string } }
      t.equal(failure.error?.type, 'upstream_error')
      t.equal(contentOf(sse.events.slice(0, -1)), 'w0 w1 w2 ')
      const logs = await eventually(() => rig.usageLogs('st-cut'), (rows) => rows.length > 0)
      t.equal(logs.length, 1)
      t.equal(logs[0]?.completionTokens, countTextTokens('w0 w1 w2 '))
      t.match(logs[0]?.error, /upstream/)
    })

    t.test('chunks reach the client as the upstream sends them, not at the end', async (t) => {
      const paced = await startFakeUpstream({ paceMs: 40, chunks: 10 })
      t.teardown(() => paced.close())
      const m = await model()
      await rig.channel({ key: 'ok-st-g', models: [m], base_url: paced.url })
      const started = Date.now()
      const res = await post(rig, '/v1/chat/completions', key, chat(m, { stream: true }))
      const reader = res.body?.getReader()
      let firstAt = 0
      let text = ''
      for (;;) {
        const part = await reader?.read()
        if (!part || part.done) break
        if (!firstAt) firstAt = Date.now() - started
        text += Buffer.from(part.value).toString()
      }
      const total = Date.now() - started
      t.ok(total >= 350, `the paced stream took ${total} ms`)
      t.ok(firstAt < 200, `first bytes after ${firstAt} ms`)
      t.ok(parseSse(text).done)
    })

    t.test('model_mapping: the upstream gets the mapped model, the client asked for the alias', async (t) => {
      await rig.price('alias-model')
      await rig.channel({ key: 'ok-st-h', models: ['alias-model'], model_mapping: { 'alias-model': 'real-upstream-model' } })
      const res = await post(rig, '/v1/chat/completions', key, chat('alias-model'), { 'x-request-id': 'st-map' })
      t.equal(res.status, 200)
      await res.text()
      t.equal((rig.upstream.lastFor('ok-st-h')?.body as { model: string }).model, 'real-upstream-model')
      const logs = await eventually(() => rig.usageLogs('st-map'), (rows) => rows.length > 0)
      t.match(logs, [{ upstreamModel: 'real-upstream-model' }])

      const unmapped = await model()
      await rig.channel({ key: 'ok-st-h2', models: [unmapped], model_mapping: { other: 'x' } })
      await (await post(rig, '/v1/chat/completions', key, chat(unmapped))).text()
      t.equal((rig.upstream.lastFor('ok-st-h2')?.body as { model: string }).model, unmapped)
    })
  })
}
