// CHANNEL_PROBE_INTERVAL_S: channels auto-disabled by an upstream 401/403 are re-tested in the background with the
// admin's channel test and re-enabled once they pass; channels an admin disabled are left alone. (0 = never:
// test/reliability/breaker.test.ts, whose instance runs with it.)
import t from 'tap'
import { backends } from '../support/backends.js'
import { bearer } from '../support/build-app.js'
import { eventually } from '../relay/fixture.js'
import { chat, post, startFaultRig } from './support.js'

for (const backend of backends()) {
  t.test(backend.name, async (t) => {
    t.test('an auto-disabled channel is re-tested every interval and re-enabled when it passes', async (t) => {
      const rig = await startFaultRig(t, backend, { env: { CHANNEL_PROBE_INTERVAL_S: '1' } })
      const m = await rig.model()
      const key = 'ok-probe-revoked'
      rig.upstream.setStatus(key, 401)
      const id = await rig.channel({ key, models: [m] })
      const parked = await rig.channel({ key: 'ok-probe-parked', models: [m] })
      const off = await rig.app.inject({ method: 'PATCH', url: `/api/channel/${parked}`, headers: bearer(rig.adminSession), payload: { status: 'disabled' } })
      t.equal(off.statusCode, 200)

      const first = await post(rig, '/v1/chat/completions', rig.key, chat(m))
      t.equal(first.status, 401)
      await first.text()
      t.equal(await rig.channelStatus(id), 'auto_disabled')

      const seen = rig.upstream.countFor(key)
      t.ok(await eventually(async () => rig.upstream.countFor(key), (n) => n > seen, 4_000).then((n) => n > seen), 'the probe reached the upstream')
      t.equal(await rig.channelStatus(id), 'auto_disabled', 'still refused: still disabled')

      rig.upstream.setStatus(key, null)
      t.equal(await eventually(() => rig.channelStatus(id), (s) => s === 'enabled', 4_000), 'enabled', 're-enabled once the test passes')
      const again = await post(rig, '/v1/chat/completions', rig.key, chat(m))
      t.equal(again.status, 200, 'and it relays again')
      await again.text()
      t.equal(rig.upstream.countFor('ok-probe-parked'), 0, 'a channel the admin disabled is never probed')
      t.equal(await rig.channelStatus(parked), 'disabled')
      t.ok(await rig.healthy())
    })
  })
}
