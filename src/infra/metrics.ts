import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import { errors } from '../errors.js'

/** The label every model the gateway does not know is counted under. */
export const OTHER_MODEL = 'other'
/** A known model name is at most this long (CONTRACT §3); anything longer is never a label. */
export const MAX_MODEL_LABEL_LENGTH = 128
/** Distinct model label values at most; later newcomers count as `other`, whatever their source says. */
export const MAX_MODEL_LABELS = 1000

/** Answers whether the gateway knows a model (a price row of its own, a channel listing it). Memory only. */
export type ModelSource = (model: string) => boolean

export interface Metrics {
  registry: Registry
  httpRequests: Counter<'method' | 'route' | 'status'>
  httpDuration: Histogram<'method' | 'route' | 'status'>
  relayRequests: Counter<'model' | 'status'>
  relayDuration: Histogram<'model' | 'stream'>
  upstreamErrors: Counter<'channel' | 'reason'>
  tokens: Counter<'model' | 'kind'>
  quota: Counter<'model'>
  /** Settlements whose usage-log row had to be reduced (`reduced_row`) or that failed outright (`unsettled`). */
  settlementFailures: Counter<'kind'>
  /** Quota a settlement could not charge because the balance was exhausted (beyond one increment below zero). */
  quotaForgiven: Counter
  /** SQL statements billing ran (reserve, settle, lease), for the bench's "statements per request". */
  dbStatements: Counter<'path'>
  /**
   * The `model` label value for a client-chosen model name: the name itself when a registered source
   * knows it (and the label set has room), else `other`. Bound to its object; safe to pass around.
   */
  modelLabel(model: string): string
  /** Registers a source of known models; plugins registered after this one call it. */
  addModelSource(source: ModelSource): void
  /** Requests waiting for a connection to an upstream origin held at UPSTREAM_MAX_CONNECTIONS (sampled each second). */
  upstreamQueued: Gauge<'origin'>
  /** Seconds in which an upstream origin's connections were all in use at UPSTREAM_MAX_CONNECTIONS. */
  upstreamSaturated: Counter<'origin'>
}

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Metrics
  }
  interface FastifyRequest {
    startedAt: bigint
  }
}

/**
 * Model labels from a bounded set: a label value is admitted once, when a source knows the model, up to
 * MAX_MODEL_LABELS values. An admitted value stays (its series already exist in the registry), so
 * removing a price later does not split one model's series across two labels.
 */
export function createModelLabels(limit = MAX_MODEL_LABELS) {
  const sources: ModelSource[] = []
  const admitted = new Set<string>()
  const known = (model: string): boolean => sources.some((source) => source(model))
  return {
    addModelSource(source: ModelSource): void {
      sources.push(source)
    },
    modelLabel(model: string): string {
      if (typeof model !== 'string' || model.length === 0 || model.length > MAX_MODEL_LABEL_LENGTH) return OTHER_MODEL
      if (admitted.has(model)) return model
      if (admitted.size >= limit || !known(model)) return OTHER_MODEL
      admitted.add(model)
      return model
    },
  }
}

const digest = (value: string): Buffer => createHash('sha256').update(value).digest()

/** `/metrics` with METRICS_TOKEN set: `Authorization: Bearer <token>`, compared in constant time. */
function metricsGuard(token: string) {
  const expected = digest(token)
  return async (request: FastifyRequest): Promise<void> => {
    const header = request.headers.authorization ?? ''
    const given = header.slice(0, 7).toLowerCase() === 'bearer ' ? header.slice(7).trim() : ''
    // Equal-length digests, so neither the token's length nor its prefix leaks through timing.
    if (!given || !timingSafeEqual(digest(given), expected)) {
      throw errors.unauthorized('invalid_metrics_token', 'GET /metrics needs Authorization: Bearer <METRICS_TOKEN>')
    }
  }
}

/**
 * Prometheus metrics on a registry of this app's own (not prom-client's global one), so two apps
 * in one process — as in the tests — never collide.
 */
export default fp(
  async (app) => {
    const registry = new Registry()
    collectDefaultMetrics({ register: registry })
    const buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120]
    const metrics: Metrics = {
      registry,
      httpRequests: new Counter({ name: 'nexus_http_requests_total', help: 'HTTP requests', labelNames: ['method', 'route', 'status'], registers: [registry] }),
      httpDuration: new Histogram({ name: 'nexus_http_request_duration_seconds', help: 'HTTP request latency', labelNames: ['method', 'route', 'status'], buckets, registers: [registry] }),
      relayRequests: new Counter({ name: 'nexus_relay_requests_total', help: 'Relayed requests by model and final status', labelNames: ['model', 'status'], registers: [registry] }),
      relayDuration: new Histogram({ name: 'nexus_relay_duration_seconds', help: 'Relay latency until the response ended', labelNames: ['model', 'stream'], buckets, registers: [registry] }),
      upstreamErrors: new Counter({ name: 'nexus_upstream_errors_total', help: 'Upstream failures by channel', labelNames: ['channel', 'reason'], registers: [registry] }),
      tokens: new Counter({ name: 'nexus_tokens_total', help: 'Tokens metered', labelNames: ['model', 'kind'], registers: [registry] }),
      quota: new Counter({ name: 'nexus_quota_total', help: 'Quota charged', labelNames: ['model'], registers: [registry] }),
      settlementFailures: new Counter({ name: 'nexus_settlement_failures_total', help: 'Settlements with a reduced usage-log row, or not settled', labelNames: ['kind'], registers: [registry] }),
      quotaForgiven: new Counter({ name: 'nexus_quota_forgiven_total', help: 'Quota left uncharged because the balance was exhausted', registers: [registry] }),
      dbStatements: new Counter({ name: 'nexus_db_statements_total', help: 'SQL statements run by billing (the relay\'s only database work when caches are warm), by path', labelNames: ['path'], registers: [registry] }),
      ...createModelLabels(),
      upstreamQueued: new Gauge({ name: 'nexus_upstream_queued_requests', help: 'Requests waiting for a connection to an upstream origin at UPSTREAM_MAX_CONNECTIONS', labelNames: ['origin'], registers: [registry] }),
      upstreamSaturated: new Counter({ name: 'nexus_upstream_saturated_seconds_total', help: 'Seconds in which an upstream origin had all UPSTREAM_MAX_CONNECTIONS connections in use', labelNames: ['origin'], registers: [registry] }),
    }
    app.decorate('metrics', metrics)
    app.decorateRequest('startedAt', 0n)
    app.addHook('onRequest', async (request) => {
      request.startedAt = process.hrtime.bigint()
    })
    app.addHook('onResponse', async (request, reply) => {
      // The route pattern, not the URL, keeps label cardinality bounded.
      const route = request.routeOptions.url ?? 'unmatched'
      const labels = { method: request.method, route, status: String(reply.statusCode) }
      metrics.httpRequests.inc(labels)
      metrics.httpDuration.observe(labels, Number(process.hrtime.bigint() - request.startedAt) / 1e9)
    })
    const token = app.config.metricsToken
    const onRequest = token ? metricsGuard(token) : undefined
    app.get('/metrics', { schema: { hide: true }, onRequest }, async (_request, reply) => {
      reply.type(registry.contentType)
      return registry.metrics()
    })
  },
  { name: 'metrics' },
)
