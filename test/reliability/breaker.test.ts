// The circuit breaker through the relay: a failing channel opens after CHANNEL_FAILURE_THRESHOLD failures and is
// skipped, one probe half-opens it after the cool-down, a healed upstream closes it; client-caused answers and
// 429s never count; a group is never left without a channel; the state is in the admin output and /metrics,
// and (with Redis) an instance honours a circuit another one opened.
import t from 'tap'
import { ManualClock } from '../../src/clock.js'
import { backends } from '../support/backends.js'
import { bearer } from '../support/build-app.js'
import { eventually } from '../relay/fixture.js'
import { chat, circuitGauge, costOf, post, startFaultRig } from './support.js'

const ENV = { CHANNEL_FAILURE_THRESHOLD: '3', CHANNEL_FAILURE_WINDOW_S: '60', CHANNEL_COOLDOWN_S: '30', CHANNEL_PROBE_INTERVAL_S: '0' }

for (const backend of backends()) {
  t.test(backend.name, async (t) => {
    const clock = new ManualClock()
    const rig = await startFaultRig(t, backend, { env: ENV, clock })
    let n = 0
    /** One relayed chat request; its status, and its usage-log row once settled. */
    const ask = async (model: string) => {
      const requestId = `brk-${backend.name.replace(/\W/g, '')}-${++n}`
      const res = await post(rig, '/v1/chat/completions', rig.key, chat(model), { 'x-request-id': requestId })
      const body = await res.text()
      const row = await eventually(() => rig.usageRow(requestId), (r) => r !== null)
      return { status: res.status, body, row, retryAfter: res.headers.get('retry-after') }
    }
    const circuitIs = (id: number, state: string) => eventually(() => rig.circuit(id), (s) => s === state)

    t.test('opens after the threshold, is skipped, half-opens for one probe, re-opens longer, closes when healed', async (t) => {
      const m = await rig.model()
      const flakyKey = 'ok-brk-flaky'
      rig.upstream.setStatus(flakyKey, 500)
      const flaky = await rig.channel({ key: flakyKey, models: [m], priority: 10 })
      const backup = await rig.channel({ key: 'ok-brk-backup', models: [m], priority: 0 })

      for (let i = 0; i < 3; i++) {
        const r = await ask(m)
        t.equal(r.status, 200, 'failover before the first byte: the backup answers')
        t.equal(r.row?.channelId, backup)
        t.equal(r.row?.quota, costOf(10, 20), 'billed once, for the answer that came through')
      }
      t.equal(rig.upstream.countFor(flakyKey), 3)
      t.equal(await circuitIs(flaky, 'open'), 'open', 'three 500s within the window open the circuit')
      t.equal(circuitGauge(await rig.metrics(), flaky), 1)
      t.equal(circuitGauge(await rig.metrics(), backup), 0)

      t.equal((await ask(m)).status, 200)
      t.equal(rig.upstream.countFor(flakyKey), 3, 'an open channel gets no request')

      clock.advance(30_000)
      t.equal(await rig.circuit(flaky), 'half_open', 'the cool-down is over')
      t.equal(circuitGauge(await rig.metrics(), flaky), 2)
      t.equal((await ask(m)).status, 200, 'the probe fails, the request fails over')
      t.equal(rig.upstream.countFor(flakyKey), 4, 'exactly one probe')
      t.equal(await circuitIs(flaky, 'open'), 'open', 'a failed probe re-opens it')
      clock.advance(30_000)
      t.equal(await rig.circuit(flaky), 'open', 'for twice the cool-down this time')
      t.equal((await ask(m)).status, 200)
      t.equal(rig.upstream.countFor(flakyKey), 4)

      clock.advance(30_000)
      t.equal(await rig.circuit(flaky), 'half_open')
      rig.upstream.setStatus(flakyKey, null)
      const healed = await ask(m)
      t.equal(healed.status, 200)
      t.equal(healed.row?.channelId, flaky, 'the probe went to the healed channel')
      t.equal(await circuitIs(flaky, 'closed'), 'closed', 'a successful probe closes the circuit')
      t.equal((await ask(m)).row?.channelId, flaky, 'and it serves again at its priority')
      t.equal(circuitGauge(await rig.metrics(), flaky), 0)

      const money = await rig.ledger()
      t.equal(money.quota + money.usedQuota, money.topups, 'quota + used = grants')
      t.equal(money.usedQuota, money.logQuota, 'used = sum of the usage log')
      t.equal(money.held, 0)
      t.ok(await rig.healthy())
    })

    t.test("client-caused 4xx and upstream 429s never count; a 429's retry-after reaches the client", async (t) => {
      const m = await rig.model()
      const key = 'ok-brk-4xx'
      const id = await rig.channel({ key, models: [m] })
      rig.upstream.setStatus(key, 400)
      for (let i = 0; i < 4; i++) {
        const r = await ask(m)
        t.equal(r.status, 400, "the upstream's 400 is relayed")
        t.equal(r.row?.quota, 0)
      }
      rig.upstream.setStatus(key, 429)
      for (let i = 0; i < 4; i++) {
        const r = await ask(m)
        t.equal(r.status, 429)
        t.equal(r.retryAfter, '1')
      }
      t.equal(await rig.circuit(id), 'closed')
      t.equal(rig.upstream.countFor(key), 8, 'every request reached the channel')
      rig.upstream.setStatus(key, null)
    })

    t.test('every channel open: the one opened longest ago is still tried, never a refusal', async (t) => {
      const m = await rig.model()
      const first = await rig.channel({ key: 'err500-brk-first', models: [m], priority: 5 })
      for (let i = 0; i < 3; i++) t.equal((await ask(m)).status, 500)
      t.equal(await circuitIs(first, 'open'), 'open')
      clock.advance(1_000)
      const second = await rig.channel({ key: 'err503-brk-second', models: [m], priority: 9 })
      for (let i = 0; i < 3; i++) await ask(m)
      t.equal(await circuitIs(second, 'open'), 'open')
      const before = [rig.upstream.countFor('err500-brk-first'), rig.upstream.countFor('err503-brk-second')]
      const r = await ask(m)
      t.equal(r.status, 500, "the client gets the upstream's own answer")
      t.match(JSON.parse(r.body), { error: { type: 'upstream_error', message: 'The server had an error while processing your request.' } })
      t.equal(r.row?.quota, 0, 'a failed request costs nothing')
      t.same(
        [rig.upstream.countFor('err500-brk-first'), rig.upstream.countFor('err503-brk-second')],
        [before[0]! + 1, before[1]],
        'only the channel opened first (the nearest to recovery) was tried',
      )
    })

    t.test("a pinned channel (admin's sk-KEY-ID) is used even while open", async (t) => {
      const m = await rig.model()
      const pinnedKey = 'ok-brk-pinned'
      rig.upstream.setStatus(pinnedKey, 502)
      const id = await rig.channel({ key: pinnedKey, models: [m] })
      for (let i = 0; i < 3; i++) await ask(m)
      t.equal(await circuitIs(id, 'open'), 'open')
      rig.upstream.setStatus(pinnedKey, null)
      const res = await post(rig, '/v1/chat/completions', `${rig.key}-${id}`, chat(m))
      t.equal(res.status, 200)
      await res.text()
      t.equal(await circuitIs(id, 'closed'), 'closed', 'its success closes the circuit')
    })

    t.test('the gauge names real channels only; a deleted channel leaves it', async (t) => {
      const m = await rig.model()
      const id = await rig.channel({ key: 'ok-brk-gone', models: [m] })
      t.equal(circuitGauge(await rig.metrics(), id), 0)
      const del = await rig.app.inject({ method: 'DELETE', url: `/api/channel/${id}`, headers: bearer(rig.adminSession) })
      t.equal(del.statusCode, 204)
      t.equal(circuitGauge(await rig.metrics(), id), null)
      await post(rig, '/v1/chat/completions', rig.key, chat('made-up-model-name')).then((r) => r.text())
      t.notMatch(await rig.metrics(), /nexus_channel_circuit_state\{channel="[^0-9]/, 'no label a client could choose')
    })

    t.test('CHANNEL_PROBE_INTERVAL_S=0: never re-tested', async (t) => {
      const m = await rig.model()
      const key = 'ok-probe-never'
      rig.upstream.setStatus(key, 403)
      const id = await rig.channel({ key, models: [m] })
      await (await post(rig, '/v1/chat/completions', rig.key, chat(m))).text()
      t.equal(await rig.channelStatus(id), 'auto_disabled')
      rig.upstream.setStatus(key, null)
      await new Promise((resolve) => setTimeout(resolve, 1_500))
      t.equal(rig.upstream.countFor(key), 1, 'nothing but the one relayed request reached it')
      t.equal(await rig.channelStatus(id), 'auto_disabled')
    })

    if (backend.name === 'mysql+redis') {
      t.test('a circuit opened on instance A is honoured by instance B', async (t) => {
        const other = await startFaultRig(t, backend, { env: ENV, clock, share: rig })
        const m = await rig.model()
        const key = 'ok-brk-shared'
        rig.upstream.setStatus(key, 500)
        const shared = await rig.channel({ key, models: [m], priority: 10 })
        await rig.channel({ key: 'ok-brk-shared-backup', models: [m] })
        t.ok(await eventually(async () => other.app.channelPool.byId(shared) !== undefined, Boolean), 'B routes the new channel')
        for (let i = 0; i < 3; i++) t.equal((await ask(m)).status, 200)
        t.equal(await eventually(() => other.circuit(shared), (s) => s === 'open'), 'open', 'B sees it open')
        const res = await post(other, '/v1/chat/completions', rig.key, chat(m))
        t.equal(res.status, 200)
        await res.text()
        t.equal(rig.upstream.countFor(key), 3, 'B sent nothing to the open channel')
        rig.upstream.setStatus(key, null)
      })
    }
  })
}
