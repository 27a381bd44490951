// Upstream faults before the response head, one by one, through the whole gateway: what the client gets (the next
// channel, else the upstream's own status), what is billed (the usage-log row and the owner's ledger, exactly),
// that the process stays healthy, and the breaker's state. Faults after the head: faults-after-head.test.ts.
import t from 'tap'
import { backends } from '../support/backends.js'
import { eventually } from '../relay/fixture.js'
import { chat, closedPort, costOf, post, startFaultRig, type UsageRow } from './support.js'

for (const backend of backends()) {
  t.test(backend.name, async (t) => {
    const rig = await startFaultRig(t, backend, {
      env: {
        UPSTREAM_FIRST_BYTE_TIMEOUT_MS: '400',
        CHANNEL_FAILURE_THRESHOLD: '2',
        CHANNEL_PROBE_INTERVAL_S: '0',
      },
      upstream: { slowMs: 1500 },
    })
    let n = 0
    const send = async (model: string, extra: Record<string, unknown> = {}) => {
      const requestId = `before-${backend.name.replace(/\W/g, '')}-${++n}`
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
    const circuitIs = (id: number, state: string) => eventually(() => rig.circuit(id), (s) => s === state)

    t.test('5xx before the first byte: the next channel answers; the failing one opens after the threshold', async (t) => {
      const m = await rig.model()
      const bad = await rig.channel({ key: 'err503-f1', models: [m], priority: 10 })
      const good = await rig.channel({ key: 'ok-f1', models: [m] })
      for (let i = 0; i < 2; i++) {
        const r = await send(m)
        t.equal(r.status, 200)
        t.match(r.row, { channelId: good, promptTokens: 10, completionTokens: 20, quota: costOf(10, 20) })
      }
      t.equal(await circuitIs(bad, 'open'), 'open')
      await send(m)
      t.equal(rig.upstream.countFor('err503-f1'), 2, 'skipped once open')
      t.ok(await rig.healthy(), 'the process is healthy after it')
    })

    t.test("a lone 5xx channel: the upstream's status and message, nothing billed", async (t) => {
      const m = await rig.model()
      await rig.channel({ key: 'err500-f2', models: [m] })
      const r = await send(m)
      t.equal(r.status, 500)
      t.match(JSON.parse(r.body), { error: { type: 'upstream_error', message: 'The server had an error while processing your request.' } })
      t.match(r.row, { status: 500, quota: 0, promptTokens: 0, completionTokens: 0 })
      t.ok(await rig.healthy(), 'the process is healthy after it')
    })

    t.test('429 with retry-after: passed on when it is the answer, failed over when another channel exists; never opens', async (t) => {
      const m = await rig.model()
      const limited = await rig.channel({ key: 'r429-f3', models: [m] })
      for (let i = 0; i < 3; i++) {
        const r = await send(m)
        t.equal(r.status, 429)
        t.equal(r.headers.get('retry-after'), '1')
        t.equal(r.row.quota, 0)
      }
      t.equal(await rig.circuit(limited), 'closed', 'a 429 is the upstream pacing us, not failing')
      const m2 = await rig.model()
      await rig.channel({ key: 'r429-f3b', models: [m2], priority: 10 })
      await rig.channel({ key: 'ok-f3b', models: [m2] })
      const r = await send(m2)
      t.equal(r.status, 200)
      t.equal(r.row.quota, costOf(10, 20))
      t.ok(await rig.healthy(), 'the process is healthy after it')
    })

    t.test('refused connection: 502 alone, the next channel otherwise; counts as a failure', async (t) => {
      const m = await rig.model()
      const refused = await rig.channel({ key: 'ok-f4', models: [m], base_url: `http://127.0.0.1:${await closedPort()}` })
      for (let i = 0; i < 2; i++) {
        const r = await send(m)
        t.equal(r.status, 502)
        t.match(JSON.parse(r.body), { error: { type: 'upstream_error', code: 'upstream_error' } })
        t.equal(r.row.quota, 0)
      }
      t.equal(await circuitIs(refused, 'open'), 'open')
      const m2 = await rig.model()
      await rig.channel({ key: 'ok-f4b', models: [m2], priority: 10, base_url: `http://127.0.0.1:${await closedPort()}` })
      await rig.channel({ key: 'ok-f4c', models: [m2] })
      t.equal((await send(m2)).status, 200)
      t.ok(await rig.healthy(), 'the process is healthy after it')
    })

    t.test('silent upstream (no head within UPSTREAM_FIRST_BYTE_TIMEOUT_MS): 504 alone, the next channel otherwise', async (t) => {
      const m = await rig.model()
      const silent = await rig.channel({ key: 'slow-f5', models: [m] })
      const r = await send(m)
      t.equal(r.status, 504)
      t.match(JSON.parse(r.body), { error: { type: 'upstream_error' } })
      t.equal(r.row.quota, 0)
      await send(m)
      t.equal(await circuitIs(silent, 'open'), 'open', 'timeouts count')
      const m2 = await rig.model()
      await rig.channel({ key: 'slow-f5b', models: [m2], priority: 10 })
      await rig.channel({ key: 'ok-f5b', models: [m2] })
      t.equal((await send(m2)).status, 200)
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
