import t from 'tap'
import { backends } from '../support/backends.js'
import { bearer, buildApp, login } from '../support/build-app.js'
import { startFakeUpstream } from '../support/fake-upstream.js'
import { ledger } from './fixtures.js'

const MODEL = 'priced-2-8'

/** Settlement runs after the response ended; wait for the ledger row. */
async function settled(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200 && !(await check()); i++) await new Promise((r) => setTimeout(r, 10))
}

for (const backend of backends()) {
  t.test(backend.name, async (t) => {
    const upstream = await startFakeUpstream()
    t.teardown(() => upstream.close())
    const { app } = await buildApp(t, backend)
    const base = await app.listen({ port: 0, host: '127.0.0.1' })
    const admin = await login(app)
    const adminId = (await app.usersRepo.findByUsername('root'))!.id

    const channel = await app.inject({
      method: 'POST', url: '/api/channel', headers: bearer(admin), payload: { name: 'fake', key: 'ok-test-key', base_url: upstream.url },
    })
    t.equal(channel.statusCode, 201, channel.body)
    const price = await app.inject({ method: 'PUT', url: `/api/pricing/${MODEL}`, headers: bearer(admin), payload: { input_per_1m: 2, output_per_1m: 8 } })
    t.equal(price.statusCode, 200)
    await app.inject({ method: 'POST', url: `/api/user/${adminId}/quota`, headers: bearer(admin), payload: { delta: 1_000_000, remark: 'test' } })
    const token = await app.inject({ method: 'POST', url: '/api/token', headers: bearer(admin), payload: { name: 'relay' } })
    t.equal(token.statusCode, 201, token.body)
    const key = token.json().key as string

    const cases: [string, object][] = [
      ['non-stream', {}],
      ['stream without include_usage', { stream: true }],
      ['stream with include_usage', { stream: true, stream_options: { include_usage: true } }],
    ]
    let expectedRows = 0
    for (const [name, extra] of cases) {
      t.test(`${name}: 10 prompt + 20 completion tokens at $2/$8 per 1M cost exactly 90 quota`, async (t) => {
        const before = await ledger(app, adminId)
        const res = await fetch(`${base}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
          body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], ...extra }),
        })
        t.equal(res.status, 200)
        await res.text()
        expectedRows += 1
        await settled(async () => (await ledger(app, adminId)).logRows >= expectedRows)
        const after = await ledger(app, adminId)
        t.equal(after.logRows, expectedRows)
        t.equal(after.usedQuota - before.usedQuota, 90)
        t.equal(after.quota + after.usedQuota, after.topups)
        const [row] = (await app.logs.list({ userId: adminId }, 1, 1)).data
        t.match(row, { model: MODEL, prompt_tokens: 10, completion_tokens: 20, quota: 90, status: 200, stream: 'stream' in extra })
      })
    }
  })
}
