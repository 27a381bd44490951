// Upstream faults after the response head (no failover past the first byte, as nginx): a stream ends with a clean
// SSE error event and [DONE], a half-sent JSON body is cut, a body that never started becomes a 504; what is
// billed (usage-log row and the owner's ledger, exactly), that the process stays healthy, and the breaker's state.
import t from 'tap'
import { countTextTokens } from '../../src/billing/tokens-count.js'
import { UPSTREAM_IDLE_ERROR } from '../../src/relay/upstream-fault.js'
import { backends } from '../support/backends.js'
import { HUGE_USAGE } from '../support/fake-upstream.js'
import { eventually } from '../relay/fixture.js'
import { chat, costOf, parseSse, post, startFaultRig, type UsageRow } from './support.js'

const HUGE_BYTES = 3 * 1024 * 1024

for (const backend of backends()) {
  t.test(backend.name, async (t) => {
    const rig = await startFaultRig(t, backend, {
      env: {
        UPSTREAM_IDLE_TIMEOUT_MS: '300',
        CHANNEL_FAILURE_THRESHOLD: '2',
        CHANNEL_PROBE_INTERVAL_S: '0',
      },
      upstream: { trickleMs: 1000, hugeBytes: HUGE_BYTES },
    })
    let n = 0
    const send = async (model: string, extra: Record<string, unknown> = {}) => {
      const requestId = `after-${backend.name.replace(/\W/g, '')}-${++n}`
      const res = await post(rig, '/v1/chat/completions', rig.key, chat(model, extra), { 'x-request-id': requestId })
      let body = ''
      let cut = false
      try {
        body = await res.text()
      } catch {
        cut = true
      }
      const row = (await eventually(() => rig.usageRow(requestId), (r) => r !== null)) as UsageRow
      return { status: res.status, headers: res.headers, body, cut, row }
    }
    const stream = (model: string) => send(model, { stream: true })
    const circuitIs = (id: number, state: string) => eventually(() => rig.circuit(id), (s) => s === state)
    /** Tokens the gateway counts for the test prompt when a stream ends without usage. */
    let promptCount = 0

    t.test('a stream trickling slower than UPSTREAM_IDLE_TIMEOUT_MS: an SSE error event and [DONE]; billed for what streamed', async (t) => {
      const m = await rig.model()
      const id = await rig.channel({ key: 'trickle-f6', models: [m] })
      const r = await stream(m)
      t.equal(r.status, 200)
      const sse = parseSse(r.body)
      t.ok(sse.done, 'ended with [DONE]')
      t.match(JSON.parse(sse.events.at(-1) ?? '{}'), { error: { type: 'upstream_error', code: 'upstream_timeout' } })
      t.equal(sse.events.length, 3, 'the role chunk, the one chunk sent in time, the error')
      t.match(r.row, { status: 200, completionTokens: countTextTokens('w0 '), error: UPSTREAM_IDLE_ERROR })
      promptCount = r.row.promptTokens
      t.ok(promptCount > 0, 'the prompt is counted by the gateway')
      t.equal(r.row.quota, costOf(r.row.promptTokens, r.row.completionTokens))
      t.equal(await rig.circuit(id), 'closed', 'one failure, under the threshold')
      await stream(m)
      t.equal(await circuitIs(id, 'open'), 'open', 'an upstream that goes silent mid-stream counts as failing')
      t.ok(await rig.healthy(), 'the process is healthy after it')
    })

    t.test('a non-stream body that never comes: 504 upstream_timeout, nothing billed', async (t) => {
      const m = await rig.model()
      await rig.channel({ key: 'hang-f7', models: [m] })
      const r = await send(m)
      t.equal(r.status, 504)
      t.match(JSON.parse(r.body), { error: { type: 'upstream_error', code: 'upstream_timeout' } })
      t.match(r.row, { status: 504, quota: 0 })
      t.ok(await rig.healthy(), 'the process is healthy after it')
    })

    t.test('a non-stream body that stops half-way: the connection is cut (never a truncated 200), nothing billed', async (t) => {
      const m = await rig.model()
      await rig.channel({ key: 'stall-f8', models: [m] })
      const r = await send(m)
      t.equal(r.status, 200, 'the head had gone out with the first bytes')
      t.ok(r.cut, 'the client sees the body fail, not a short JSON')
      t.equal(r.row.quota, 0)
      t.equal(r.row.error, UPSTREAM_IDLE_ERROR)
      t.ok(await rig.healthy(), 'the process is healthy after it')
    })

    t.test('a stream cut mid-way: an SSE error event and [DONE]; billed for what streamed', async (t) => {
      const m = await rig.model()
      await rig.channel({ key: 'cut-f9', models: [m] })
      const r = await stream(m)
      t.equal(r.status, 200)
      const sse = parseSse(r.body)
      t.ok(sse.done)
      t.match(JSON.parse(sse.events.at(-1) ?? '{}'), { error: { type: 'upstream_error', code: 'upstream_error' } })
      t.match(r.row, { completionTokens: countTextTokens('w0 w1 w2 '), promptTokens: promptCount })
      t.equal(r.row.quota, costOf(r.row.promptTokens, r.row.completionTokens))
      t.ok(await rig.healthy(), 'the process is healthy after it')
    })

    t.test('invalid JSON in a 200: relayed as it came, nothing billed (no usage to read, no text counted)', async (t) => {
      const m = await rig.model()
      await rig.channel({ key: 'badjson-f10', models: [m] })
      const r = await send(m)
      t.equal(r.status, 200)
      t.throws(() => JSON.parse(r.body))
      t.equal(r.row.quota, 0)
      const s = await stream(m)
      t.equal(s.status, 200)
      t.equal(s.row.quota, 0)
      t.ok(await rig.healthy(), 'the process is healthy after it')
    })

    t.test('a 200 carrying an error object: relayed as it came (the SDK raises it), nothing billed', async (t) => {
      const m = await rig.model()
      await rig.channel({ key: 'err200-f11', models: [m] })
      const r = await send(m)
      t.equal(r.status, 200)
      t.match(JSON.parse(r.body), { error: { message: 'The model is overloaded.' } })
      t.equal(r.row.quota, 0)
      const s = await stream(m)
      t.equal(s.status, 200)
      t.match(JSON.parse(parseSse(s.body).events[0] ?? '{}'), { error: { message: 'The model is overloaded.' } })
      t.match(s.row, { quota: 0, promptTokens: 0, completionTokens: 0 })
      t.ok(await rig.healthy(), 'the process is healthy after it')
    })

    t.test('a very large answer: relayed whole, billed exactly from its usage', async (t) => {
      const m = await rig.model()
      await rig.channel({ key: 'huge-f12', models: [m] })
      const r = await send(m)
      t.equal(r.status, 200)
      const parsed = JSON.parse(r.body) as { choices: { message: { content: string } }[] }
      t.equal(parsed.choices[0]?.message.content.length, HUGE_BYTES)
      t.match(r.row, { promptTokens: HUGE_USAGE.prompt_tokens, completionTokens: HUGE_USAGE.completion_tokens })
      t.equal(r.row.quota, costOf(HUGE_USAGE.prompt_tokens, HUGE_USAGE.completion_tokens))
      t.ok(await rig.healthy(), 'the process is healthy after it')
    })

    t.test('after all of it the ledger balances exactly', async (t) => {
      const money = await rig.ledger()
      t.equal(money.quota + money.usedQuota, money.topups, 'quota + used = grants')
      t.equal(money.usedQuota, money.logQuota, 'used = sum of the usage log')
      t.equal(money.held, 0, 'nothing still held')
      t.equal(money.logRows, n, 'one usage-log row per request')
      t.ok(await rig.healthy(), 'the process is healthy after it')
    })
  })
}
