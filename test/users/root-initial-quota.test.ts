// ROOT_INITIAL_QUOTA (CONTRACT §1): a fresh install's root admin starts with a balance, recorded as a grant, so
// the very first relayed request works: sign in, add a channel, make a key, call the official SDK.
import type { AddressInfo } from 'node:net'
import { and, eq } from 'drizzle-orm'
import type { FastifyInstance } from 'fastify'
import OpenAI, { RateLimitError } from 'openai'
import t from 'tap'
import { backends } from '../support/backends.js'
import { bearer, buildApp, login } from '../support/build-app.js'
import { startFakeUpstream } from '../support/fake-upstream.js'

async function rootLedger(app: FastifyInstance, session: string) {
  const self = (await app.inject({ method: 'GET', url: '/api/user/self', headers: bearer(session) })).json() as { id: number; quota: number }
  const { db, t: tables } = app.db
  const grants = await db
    .select()
    .from(tables.topups)
    .where(and(eq(tables.topups.userId, self.id), eq(tables.topups.kind, 'grant')))
  return { quota: self.quota, grants }
}

/** Channel against the fake upstream and a relay key, as an admin does it in the console. */
async function firstRequest(app: FastifyInstance, session: string, upstreamUrl: string) {
  const channel = await app.inject({
    method: 'POST',
    url: '/api/channel',
    headers: bearer(session),
    payload: { name: 'first', key: 'ok-first-channel', base_url: upstreamUrl, models: ['gpt-4o-mini'] },
  })
  if (channel.statusCode !== 201) throw new Error(`channel: ${channel.statusCode} ${channel.body}`)
  const token = await app.inject({ method: 'POST', url: '/api/token', headers: bearer(session), payload: { name: 'first key' } })
  if (token.statusCode !== 201) throw new Error(`token: ${token.statusCode} ${token.body}`)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as AddressInfo).port
  const client = new OpenAI({ apiKey: token.json().key, baseURL: `http://127.0.0.1:${port}/v1`, maxRetries: 0 })
  try {
    return await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }] })
  } finally {
    // The answer is complete: no pooled keep-alive connection may hold the app's close back.
    app.server.closeAllConnections()
  }
}

for (const backend of backends()) {
  t.test(backend.name, async (t) => {
    const upstream = await startFakeUpstream()
    t.teardown(() => upstream.close())

    t.test('default: root starts with 500,000,000 quota as a grant, and relays at once with gpt-4o-mini', async (t) => {
      // '' = unset: the default applies (the test app builder pins 0 for the other suites).
      const first = await buildApp(t, backend, { env: { ROOT_INITIAL_QUOTA: '' } })
      t.equal(first.config.rootInitialQuota, 500_000_000)
      const session = await login(first.app)
      const ledger = await rootLedger(first.app, session)
      t.equal(ledger.quota, 500_000_000)
      t.equal(ledger.grants.length, 1)
      t.match(ledger.grants[0], { kind: 'grant', quota: 500_000_000 })

      const completion = await firstRequest(first.app, session, upstream.url)
      t.equal(completion.choices[0]?.message.content, 'Hello from mock upstream.')
      const after = await rootLedger(first.app, session)
      t.ok(after.quota < 500_000_000 && after.quota > 0, 'the request was billed from the initial balance')

      // A second start on the same database grants nothing more: the balance is for the first start only.
      await t.test('a restart grants nothing more', async (t) => {
        const second = await buildApp(t, backend, { share: first, env: { ROOT_INITIAL_QUOTA: '' } })
        const again = await rootLedger(second.app, await login(second.app))
        t.equal(again.grants.length, 1)
        t.ok(again.quota < 500_000_000)
      })
    })

    t.test('ROOT_INITIAL_QUOTA=0: root starts at 0, no grant row, and the first request is refused for quota', async (t) => {
      const { app } = await buildApp(t, backend, { env: { ROOT_INITIAL_QUOTA: '0' } })
      const session = await login(app)
      const ledger = await rootLedger(app, session)
      t.equal(ledger.quota, 0)
      t.equal(ledger.grants.length, 0)
      const refused = await firstRequest(app, session, upstream.url).catch((err: unknown) => err)
      t.ok(refused instanceof RateLimitError, 'HTTP 429')
      t.equal((refused as RateLimitError).code, 'insufficient_quota')
    })

  })
}
