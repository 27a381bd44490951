// Failover (CONTRACT §3): the next channel on connect errors, timeouts, 429 and 5xx before any byte reached the
// client; 401/403 disable the channel; a channel never gets the same request twice.
import { createServer } from 'node:net'
import t from 'tap'
import { backends } from '../support/backends.js'
import { bearer } from '../support/build-app.js'
import { chat, eventually, post, startRig } from './fixture.js'

/** A port that was free a moment ago and has nobody listening now: connecting to it is refused. */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : 0
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

for (const backend of backends()) {
  t.test(backend.name, async (t) => {
    const rig = await startRig(t, backend, { env: { UPSTREAM_FIRST_BYTE_TIMEOUT_MS: '300' }, upstream: { slowMs: 1500 } })
    const { key } = await rig.token()
    let n = 0
    /** A model of its own per test, so the channels of one test never serve another's requests. */
    const model = async (): Promise<string> => {
      const name = `fo-model-${++n}`
      await rig.price(name)
      return name
    }
    const channelStatus = async (id: number): Promise<{ status: string; status_reason: string | null }> =>
      (await rig.app.inject({ method: 'GET', url: `/api/channel/${id}`, headers: bearer(rig.adminSession) })).json()

    t.test('a 500 channel at higher priority, then an ok channel → success; each upstream saw the request once', async (t) => {
      const m = await model()
      await rig.channel({ key: 'err500-a', models: [m], priority: 10 })
      const ok = await rig.channel({ key: 'ok-a', models: [m], priority: 0 })
      const res = await post(rig, '/v1/chat/completions', key, chat(m), { 'x-request-id': 'fo-500' })
      t.equal(res.status, 200)
      t.equal(((await res.json()) as { choices: { message: { content: string } }[] }).choices[0]?.message.content, 'Hello from mock upstream.')
      t.equal(rig.upstream.countFor('err500-a'), 1)
      t.equal(rig.upstream.countFor('ok-a'), 1)
      // Settlement runs right after the response ended.
      const logs = await eventually(() => rig.usageLogs('fo-500'), (rows) => rows.length > 0)
      t.match(logs, [{ channelId: ok, status: 200, promptTokens: 10, completionTokens: 20 }])
    })

    t.test('429 → the next channel', async (t) => {
      const m = await model()
      await rig.channel({ key: 'r429-b', models: [m], priority: 10 })
      await rig.channel({ key: 'ok-b', models: [m], priority: 0 })
      const res = await post(rig, '/v1/chat/completions', key, chat(m))
      t.equal(res.status, 200)
      await res.text()
      t.equal(rig.upstream.countFor('r429-b'), 1)
      t.equal(rig.upstream.countFor('ok-b'), 1)
    })

    t.test('every channel fails → the last upstream status and message; no channel twice', async (t) => {
      const m = await model()
      await rig.channel({ key: 'err500-c1', models: [m], priority: 3 })
      await rig.channel({ key: 'err500-c2', models: [m], priority: 2 })
      await rig.channel({ key: 'r429-c3', models: [m], priority: 1 })
      await rig.channel({ key: 'ok-c4', models: [m], priority: 0 })
      // RELAY_RETRIES defaults to 2: three channels in all, the fourth is never reached.
      const res = await post(rig, '/v1/chat/completions', key, chat(m))
      t.equal(res.status, 429)
      const body = (await res.json()) as { error: { message: string; type: string; code: string } }
      t.same(body.error, { message: 'Rate limit reached. Please slow down.', type: 'upstream_error', code: 'rate_limit_exceeded', param: null })
      t.same(['err500-c1', 'err500-c2', 'r429-c3', 'ok-c4'].map((k) => rig.upstream.countFor(k)), [1, 1, 1, 0])
    })

    t.test('upstream 401 → the channel is auto_disabled and the request moves on', async (t) => {
      const m = await model()
      const bad = await rig.channel({ key: 'bad-d', models: [m], priority: 10 })
      await rig.channel({ key: 'ok-d', models: [m], priority: 0 })
      const res = await post(rig, '/v1/chat/completions', key, chat(m))
      t.equal(res.status, 200)
      await res.text()
      const channel = await channelStatus(bad)
      t.equal(channel.status, 'auto_disabled')
      t.match(channel.status_reason, /401/)
      // Disabled channels are no longer chosen.
      const again = await post(rig, '/v1/chat/completions', key, chat(m))
      await again.text()
      t.equal(rig.upstream.countFor('bad-d'), 1)
    })

    t.test('upstream 403 also disables the channel', async (t) => {
      const m = await model()
      const forbid = await rig.channel({ key: 'forbid-e', models: [m], priority: 10 })
      await rig.channel({ key: 'ok-e', models: [m] })
      const res = await post(rig, '/v1/chat/completions', key, chat(m))
      t.equal(res.status, 200)
      await res.text()
      t.equal((await channelStatus(forbid)).status, 'auto_disabled')
    })

    t.test("a lone channel whose upstream answers 401 → the client gets 401 with the upstream's message, key redacted", async (t) => {
      const m = await model()
      const lone = await rig.channel({ key: 'bad-f', models: [m] })
      const res = await post(rig, '/v1/chat/completions', key, chat(m))
      t.equal(res.status, 401)
      t.equal(res.headers.get('x-should-retry'), 'false')
      const body = (await res.json()) as { error: { message: string; code: string } }
      t.equal(body.error.message, 'Incorrect API key provided.')
      t.equal(body.error.code, 'invalid_api_key')
      t.equal((await channelStatus(lone)).status, 'auto_disabled')
    })

    t.test('no response head within UPSTREAM_FIRST_BYTE_TIMEOUT_MS → 504, or the next channel', async (t) => {
      const m = await model()
      await rig.channel({ key: 'slow-g', models: [m] })
      const started = Date.now()
      const res = await post(rig, '/v1/chat/completions', key, chat(m))
      t.equal(res.status, 504)
      t.match(await res.json(), { error: { type: 'upstream_error', code: 'upstream_error' } })
      t.ok(Date.now() - started < 1400, 'answered before the slow upstream would have')

      const m2 = await model()
      await rig.channel({ key: 'slow-g2', models: [m2], priority: 5 })
      await rig.channel({ key: 'ok-g2', models: [m2] })
      const next = await post(rig, '/v1/chat/completions', key, chat(m2))
      t.equal(next.status, 200)
      await next.text()
    })

    t.test('connect error (a closed port) → 502', async (t) => {
      const m = await model()
      await rig.channel({ key: 'ok-h', models: [m], base_url: `http://127.0.0.1:${await closedPort()}` })
      const res = await post(rig, '/v1/chat/completions', key, chat(m))
      t.equal(res.status, 502)
      t.match(await res.json(), { error: { type: 'upstream_error', code: 'upstream_error' } })
    })

    t.test('a connect error fails over to the next channel', async (t) => {
      const m = await model()
      await rig.channel({ key: 'ok-i1', models: [m], priority: 5, base_url: `http://127.0.0.1:${await closedPort()}` })
      await rig.channel({ key: 'ok-i2', models: [m] })
      const res = await post(rig, '/v1/chat/completions', key, chat(m))
      t.equal(res.status, 200)
      await res.text()
      t.equal(rig.upstream.countFor('ok-i2'), 1)
    })

    t.test('a failed request is not billed', async (t) => {
      const m = await model()
      await rig.channel({ key: 'err500-j', models: [m] })
      const res = await post(rig, '/v1/chat/completions', key, chat(m), { 'x-request-id': 'fo-failed' })
      t.equal(res.status, 500)
      t.match(await res.json(), { error: { type: 'upstream_error', message: 'The server had an error while processing your request.' } })
      const logs = await rig.usageLogs('fo-failed')
      for (const row of logs) t.equal(row.promptTokens + row.completionTokens, 0)
    })
  })
}
