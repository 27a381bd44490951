// Issue 10 item 8: an error the gateway raises while building or sending a request is its own, not the
// upstream's: no failover, no upstream-error metric, no channel disabled (CONTRACT §6).
import t from 'tap'
import { forwardWithFailover } from '../../src/relay/failover.js'
import { sqliteBackend } from '../support/backends.js'
import { startRig } from './fixture.js'

t.test('gateway-side errors never count against a channel', async (t) => {
  const rig = await startRig(t, sqliteBackend)
  const first = await rig.channel({ key: 'ok-gw-err-first-0000111122', models: ['gw-model'], priority: 1 })
  await rig.channel({ key: 'ok-gw-err-second-000011112', models: ['gw-model'] })
  const candidates = rig.app.channelPool.candidates('default', 'gw-model')
  t.equal(candidates.length, 2)
  const upstreamErrors = async () => (await rig.app.metrics.registry.metrics()).split('\n').filter((l) => l.startsWith('nexus_upstream_errors_total')).length

  t.test('a request that cannot be built is thrown at once, with no second channel tried', async (t) => {
    let built = 0
    const err = await forwardWithFailover(rig.app, {
      model: 'gw-model',
      candidates,
      replayable: true,
      buildRequest: () => {
        built++
        throw new RangeError('Maximum call stack size exceeded')
      },
    }, new AbortController().signal).catch((e: unknown) => e)
    t.type(err, RangeError)
    t.equal(built, 1, 'no failover')
    t.equal(await upstreamErrors(), 0, 'no upstream error counted')
  })

  t.test('a request undici refuses (an invalid header) is the gateway\'s error, not a connect failure', async (t) => {
    let built = 0
    const err = await forwardWithFailover(rig.app, {
      model: 'gw-model',
      candidates,
      replayable: true,
      buildRequest: (channel) => {
        built++
        return { url: new URL(`${rig.upstream.url}/v1/chat/completions`), method: 'POST', headers: { 'x-bad': 'a\nb', authorization: `Bearer ${channel.key}` }, body: Buffer.from('{}'), headersTimeoutMs: 1000 }
      },
    }, new AbortController().signal).catch((e: unknown) => e)
    t.ok(err instanceof Error)
    t.equal(built, 1, 'no failover')
    t.equal(await upstreamErrors(), 0, 'no upstream error counted')
    t.equal(rig.app.channelPool.byId(first)?.status, 'enabled')
  })
})
