// A relay test rig: the whole gateway listening on 127.0.0.1, a fake OpenAI upstream, and helpers that create
// channels, tokens and prices through the management REST API as an admin would.
import { eq } from 'drizzle-orm'
import type { FastifyInstance } from 'fastify'
import type { AddressInfo } from 'node:net'
import type { Backend } from '../support/backends.js'
import { bearer, buildApp, login } from '../support/build-app.js'
import { startFakeUpstream, type FakeUpstream, type FakeUpstreamOptions } from '../support/fake-upstream.js'

interface Teardown {
  teardown(fn: () => unknown): void
}

export interface ChannelInput {
  name?: string
  key: string
  base_url?: string
  models?: string[]
  model_mapping?: Record<string, string>
  groups?: string[]
  priority?: number
  weight?: number
}

export interface Rig {
  app: FastifyInstance
  /** `http://127.0.0.1:PORT` of the gateway. */
  url: string
  upstream: FakeUpstream
  adminSession: string
  channel(input: ChannelInput): Promise<number>
  token(input?: Record<string, unknown>): Promise<{ id: number; key: string }>
  /** Gives `model` a token price so the meter accepts it. */
  price(model: string, body?: Record<string, string>): Promise<void>
  /** Usage-log rows of one request id, read straight from the database. */
  usageLogs(requestId: string): Promise<UsageRow[]>
}

export interface UsageRow {
  promptTokens: number
  completionTokens: number
  status: number
  channelId: number | null
  upstreamModel: string | null
  error: string | null
}

export async function startRig(
  t: Teardown,
  backend: Backend,
  opts: { env?: Record<string, string>; upstream?: FakeUpstreamOptions } = {},
): Promise<Rig> {
  const upstream = await startFakeUpstream(opts.upstream)
  t.teardown(() => upstream.close())
  const { app } = await buildApp(t, backend, { env: opts.env })
  await app.listen({ port: 0, host: '127.0.0.1' })
  // Runs before the app's close: fetch's pooled keep-alive connections are sometimes not seen as idle by
  // server.close() after a client abort on another connection, which then waits for keepAliveTimeout (72 s).
  t.teardown(() => app.server.closeAllConnections())
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  const adminSession = await login(app)
  const self = await app.inject({ method: 'GET', url: '/api/user/self', headers: bearer(adminSession) })
  const adminId = (self.json() as { id: number }).id
  const grant = await app.inject({
    method: 'POST',
    url: `/api/user/${adminId}/quota`,
    headers: bearer(adminSession),
    payload: { delta: 1_000_000_000, remark: 'relay tests' },
  })
  if (grant.statusCode !== 200) throw new Error(`quota grant failed: ${grant.statusCode} ${grant.body}`)

  const rig: Rig = {
    app,
    url,
    upstream,
    adminSession,
    async channel(input) {
      const res = await app.inject({
        method: 'POST',
        url: '/api/channel',
        headers: bearer(adminSession),
        payload: { name: input.name ?? input.key, base_url: upstream.url, ...input },
      })
      if (res.statusCode !== 201) throw new Error(`channel create failed: ${res.statusCode} ${res.body}`)
      return (res.json() as { id: number }).id
    },
    async token(input = {}) {
      const res = await app.inject({
        method: 'POST',
        url: '/api/token',
        headers: bearer(adminSession),
        payload: { name: 'relay-test', ...input },
      })
      if (res.statusCode !== 201) throw new Error(`token create failed: ${res.statusCode} ${res.body}`)
      return res.json() as { id: number; key: string }
    },
    async price(model, body = { input_per_1m: '1', output_per_1m: '2' }) {
      const res = await app.inject({
        method: 'PUT',
        url: `/api/pricing/${encodeURIComponent(model)}`,
        headers: bearer(adminSession),
        payload: body,
      })
      if (res.statusCode !== 200) throw new Error(`price failed: ${res.statusCode} ${res.body}`)
    },
    async usageLogs(requestId) {
      const { db, t: tables } = app.db
      const rows = await db.select().from(tables.usageLogs).where(eq(tables.usageLogs.requestId, requestId))
      return rows.map((r) => ({
        promptTokens: Number(r.promptTokens),
        completionTokens: Number(r.completionTokens),
        status: r.status,
        channelId: r.channelId,
        upstreamModel: r.upstreamModel,
        error: r.error,
      }))
    },
  }
  return rig
}

/** Polls until `check` holds (settlement runs right after a response ends), or gives up after `ms`. */
export async function eventually<T>(read: () => Promise<T>, check: (value: T) => boolean, ms = 3000): Promise<T> {
  const until = Date.now() + ms
  for (;;) {
    const value = await read()
    if (check(value) || Date.now() > until) return value
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** A POST to the gateway with a relay key; the raw fetch Response. */
export function post(rig: Rig, path: string, key: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${rig.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
}

export const chat = (model: string, extra: Record<string, unknown> = {}) => ({
  model,
  messages: [{ role: 'user', content: 'Say hello' }],
  ...extra,
})
