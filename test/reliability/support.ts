// A rig for fault tests: the whole gateway listening on 127.0.0.1 (optionally on a clock the test moves, or as a
// second instance of one deployment), the fake upstream, and readers for what the tests check: a request's
// usage-log row and cost, the owner's ledger, a channel's circuit, /metrics and /healthz.
import { eq } from 'drizzle-orm'
import type { FastifyInstance } from 'fastify'
import type { AddressInfo } from 'node:net'
import { createServer } from 'node:net'
import type { Clock } from '../../src/clock.js'
import { ledger } from '../billing/fixtures.js'
import type { Backend } from '../support/backends.js'
import { bearer, buildApp, login, type TestApp } from '../support/build-app.js'
import { startFakeUpstream, type FakeUpstream, type FakeUpstreamOptions } from '../support/fake-upstream.js'

interface Teardown {
  teardown(fn: () => unknown): void
}

export interface FaultRig {
  test: TestApp
  app: FastifyInstance
  url: string
  upstream: FakeUpstream
  adminSession: string
  /** The admin's id: the owner of every relay key made here. */
  userId: number
  /** Relay key of the admin (unlimited token). */
  key: string
  channel(input: { key: string; models: string[]; priority?: number; base_url?: string; name?: string }): Promise<number>
  /** A fresh model name with a price of 1 USD in / 2 USD out per 1M tokens. */
  model(): Promise<string>
  circuit(id: number): Promise<string>
  channelStatus(id: number): Promise<string>
  metrics(): Promise<string>
  healthy(): Promise<boolean>
  /** The usage-log row of one request id (null until settled). */
  usageRow(requestId: string): Promise<UsageRow | null>
  /** The owner's balances and sums (test/billing/fixtures.ts), idle leases returned first. */
  ledger(): ReturnType<typeof ledger>
}

export interface UsageRow {
  promptTokens: number
  completionTokens: number
  quota: number
  status: number
  channelId: number | null
  error: string | null
}

/** What a request of these tokens costs at the rig's price (1 / 2 USD per 1M, QUOTA_PER_USD 500000). */
export const costOf = (prompt: number, completion: number): number => Math.ceil(((prompt + 2 * completion) / 1e6) * 500_000)

let models = 0

export async function startFaultRig(
  t: Teardown,
  backend: Backend,
  opts: { env?: Record<string, string>; clock?: Clock; upstream?: FakeUpstreamOptions; share?: FaultRig } = {},
): Promise<FaultRig> {
  const upstream = opts.share?.upstream ?? (await startFakeUpstream(opts.upstream))
  if (!opts.share) t.teardown(() => upstream.close())
  const test = await buildApp(t, backend, { env: opts.env, clock: opts.clock, share: opts.share?.test })
  const { app } = test
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.server.closeAllConnections())
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  const adminSession = await login(app)
  const admin = bearer(adminSession)
  const userId = ((await app.inject({ method: 'GET', url: '/api/user/self', headers: admin })).json() as { id: number }).id
  let key = opts.share?.key ?? ''
  if (!opts.share) {
    const grant = await app.inject({ method: 'POST', url: `/api/user/${userId}/quota`, headers: admin, payload: { delta: 1_000_000_000, remark: 'fault tests' } })
    if (grant.statusCode !== 200) throw new Error(`grant failed: ${grant.body}`)
    const token = await app.inject({ method: 'POST', url: '/api/token', headers: admin, payload: { name: 'faults' } })
    key = (token.json() as { key: string }).key
  }

  const rig: FaultRig = {
    test,
    app,
    url,
    upstream,
    adminSession,
    userId,
    key,
    async channel(input) {
      const res = await app.inject({ method: 'POST', url: '/api/channel', headers: admin, payload: { name: input.key, base_url: upstream.url, ...input } })
      if (res.statusCode !== 201) throw new Error(`channel create failed: ${res.statusCode} ${res.body}`)
      return (res.json() as { id: number }).id
    },
    async model() {
      const name = `fault-model-${++models}`
      const res = await app.inject({ method: 'PUT', url: `/api/pricing/${name}`, headers: admin, payload: { input_per_1m: '1', output_per_1m: '2' } })
      if (res.statusCode !== 200) throw new Error(`price failed: ${res.statusCode} ${res.body}`)
      return name
    },
    async circuit(id) {
      return ((await app.inject({ method: 'GET', url: `/api/channel/${id}`, headers: admin })).json() as { circuit: string }).circuit
    },
    async channelStatus(id) {
      return ((await app.inject({ method: 'GET', url: `/api/channel/${id}`, headers: admin })).json() as { status: string }).status
    },
    async metrics() {
      return (await app.inject({ method: 'GET', url: '/metrics' })).body
    },
    async healthy() {
      const res = await fetch(`${url}/healthz`)
      await res.arrayBuffer()
      return res.status === 200
    },
    async usageRow(requestId) {
      const { db, t: tables } = app.db
      const rows = await db.select().from(tables.usageLogs).where(eq(tables.usageLogs.requestId, requestId))
      const r = rows[0]
      if (!r) return null
      return {
        promptTokens: Number(r.promptTokens),
        completionTokens: Number(r.completionTokens),
        quota: Number(r.quota),
        status: r.status,
        channelId: r.channelId,
        error: r.error,
      }
    },
    ledger: () => ledger(app, userId),
  }
  return rig
}

/** A port that was free a moment ago and has nobody listening now: connecting to it is refused. */
export async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : 0
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/** The `data:` payloads of an SSE body, and whether it ended with [DONE]. */
export function parseSse(text: string): { events: string[]; done: boolean } {
  const events = text.split('\n\n').filter((e) => e.startsWith('data: ')).map((e) => e.slice(6))
  const done = events.at(-1) === '[DONE]'
  return { events: done ? events.slice(0, -1) : events, done }
}

/** The value of `nexus_channel_circuit_state{channel="id"}` in a /metrics text, or null when absent. */
export function circuitGauge(metrics: string, id: number): number | null {
  const match = new RegExp(`^nexus_channel_circuit_state\\{channel="${id}"\\} (\\d+)$`, 'm').exec(metrics)
  return match ? Number(match[1]) : null
}

/** A POST to the gateway with a relay key; the raw fetch Response. */
export function post(rig: { url: string }, path: string, key: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
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
