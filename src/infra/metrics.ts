import fp from 'fastify-plugin'
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client'

export interface Metrics {
  registry: Registry
  httpRequests: Counter<'method' | 'route' | 'status'>
  httpDuration: Histogram<'method' | 'route' | 'status'>
  relayRequests: Counter<'model' | 'status'>
  relayDuration: Histogram<'model' | 'stream'>
  upstreamErrors: Counter<'channel' | 'reason'>
  tokens: Counter<'model' | 'kind'>
  quota: Counter<'model'>
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
    app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
      reply.type(registry.contentType)
      return registry.metrics()
    })
  },
  { name: 'metrics' },
)
