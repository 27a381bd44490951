// The gateway listening on 127.0.0.1 with fake Anthropic, Gemini and Azure/OpenAI upstreams, and the admin steps
// a provider test needs (channels of each type, a relay key, prices with cache prices), all through the REST API.
import { eq } from 'drizzle-orm'
import type { FastifyInstance } from 'fastify'
import type { AddressInfo } from 'node:net'
import type { Backend } from '../support/backends.js'
import { bearer, buildApp, login } from '../support/build-app.js'
import { startFakeAnthropic, type FakeAnthropic } from '../support/fake-anthropic.js'
import { startFakeOpenAIPlus, type FakeOpenAIPlus } from '../support/fake-azure.js'
import { startFakeGemini, type FakeGemini } from '../support/fake-gemini.js'

interface Teardown {
  teardown(fn: () => unknown): void
}

export interface ProviderRig {
  app: FastifyInstance
  url: string
  /** An admin session's headers. */
  admin: Record<string, string>
  anthropic: FakeAnthropic
  gemini: FakeGemini
  /** Azure deployments and a plain OpenAI-compatible chat endpoint, with tools and cached usage. */
  azure: FakeOpenAIPlus
  channel(input: { type: string; key: string; base_url: string; models: string[]; name?: string; model_mapping?: Record<string, string> }): Promise<number>
  token(input?: Record<string, unknown>): Promise<string>
  /** USD per 1M tokens, as decimal strings. */
  price(model: string, prices: Record<string, string>): Promise<void>
  /** The usage-log row of one request, once settled. */
  usageRow(requestId: string): Promise<UsageRow | undefined>
}

export interface UsageRow {
  promptTokens: number
  completionTokens: number
  cachedTokens: number
  cacheWriteTokens: number
  reasoningTokens: number
  quota: number
  status: number
  channelId: number | null
  error: string | null
}

export async function startProviderRig(t: Teardown, backend: Backend): Promise<ProviderRig> {
  const [anthropic, gemini, azure] = await Promise.all([startFakeAnthropic(), startFakeGemini(), startFakeOpenAIPlus()])
  t.teardown(() => Promise.all([anthropic.close(), gemini.close(), azure.close()]))
  const { app } = await buildApp(t, backend)
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.server.closeAllConnections())
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  const admin = bearer(await login(app))
  const self = await app.inject({ method: 'GET', url: '/api/user/self', headers: admin })
  const grant = await app.inject({
    method: 'POST',
    url: `/api/user/${(self.json() as { id: number }).id}/quota`,
    headers: admin,
    payload: { delta: 1_000_000_000, remark: 'provider tests' },
  })
  if (grant.statusCode !== 200) throw new Error(`quota grant failed: ${grant.body}`)

  return {
    app,
    url,
    admin,
    anthropic,
    gemini,
    azure,
    async channel(input) {
      const res = await app.inject({ method: 'POST', url: '/api/channel', headers: admin, payload: { name: input.key, ...input } })
      if (res.statusCode !== 201) throw new Error(`channel create failed: ${res.statusCode} ${res.body}`)
      return (res.json() as { id: number }).id
    },
    async token(input = {}) {
      const res = await app.inject({ method: 'POST', url: '/api/token', headers: admin, payload: { name: 'providers', ...input } })
      if (res.statusCode !== 201) throw new Error(`token create failed: ${res.body}`)
      return (res.json() as { key: string }).key
    },
    async price(model, prices) {
      const res = await app.inject({ method: 'PUT', url: `/api/pricing/${encodeURIComponent(model)}`, headers: admin, payload: prices })
      if (res.statusCode !== 200) throw new Error(`price failed: ${res.statusCode} ${res.body}`)
    },
    async usageRow(requestId) {
      const { db, t: tables } = app.db
      const until = Date.now() + 3000
      for (;;) {
        const rows = await db.select().from(tables.usageLogs).where(eq(tables.usageLogs.requestId, requestId))
        const row = rows[0]
        if (row || Date.now() > until) {
          return row
            ? {
                promptTokens: Number(row.promptTokens),
                completionTokens: Number(row.completionTokens),
                cachedTokens: Number(row.cachedTokens),
                cacheWriteTokens: Number(row.cacheWriteTokens),
                reasoningTokens: Number(row.reasoningTokens),
                quota: Number(row.quota),
                status: row.status,
                channelId: row.channelId,
                error: row.error,
              }
            : undefined
        }
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    },
  }
}

/** A fresh request id, so a test can find its own usage-log row. */
export function requestId(label: string): string {
  return `${label}-${Math.random().toString(36).slice(2, 10)}`
}

/**
 * The contract's cost (CONTRACT §4) in exact integer arithmetic, for prices in micro-USD per 1M tokens:
 * ceil(((prompt − cached − written) × input + cached × read + written × write + completion × output) / 1e12 × 500,000).
 */
export function expectedQuota(
  usage: { prompt: number; cached: number; written: number; completion: number },
  micros: { input: number; output: number; read: number; write: number },
): number {
  const cost =
    BigInt(usage.prompt - usage.cached - usage.written) * BigInt(micros.input) +
    BigInt(usage.cached) * BigInt(micros.read) +
    BigInt(usage.written) * BigInt(micros.write) +
    BigInt(usage.completion) * BigInt(micros.output)
  const numerator = cost * 500_000n
  const denominator = 1_000_000_000_000n
  return Number((numerator + denominator - 1n) / denominator)
}
