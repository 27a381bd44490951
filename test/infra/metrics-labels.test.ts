// Issue 9 item 3: /metrics grew without limit from client-chosen model names (300 unique 10 KB names → 60 MB),
// and anyone could read it. Labels now come from a bounded set; METRICS_TOKEN guards the endpoint.
import t from 'tap'
import { createModelLabels, MAX_MODEL_LABELS, OTHER_MODEL } from '../../src/infra/metrics.js'
import { backends } from '../support/backends.js'
import { bearer, buildApp, login } from '../support/build-app.js'

const PROTOTYPE_KEYS = Object.getOwnPropertyNames(Object.prototype)

/** What the relay and the meter record per request, with the label the call sites now take from modelLabel. */
function recordAs(metrics: import('../../src/infra/metrics.js').Metrics, model: string): void {
  const label = metrics.modelLabel(model)
  metrics.relayRequests.inc({ model: label, status: '200' })
  metrics.relayDuration.observe({ model: label, stream: 'true' }, 0.1)
  metrics.tokens.inc({ model: label, kind: 'prompt' }, 10)
  metrics.tokens.inc({ model: label, kind: 'completion' }, 20)
  metrics.quota.inc({ model: label }, 30)
}

/** Distinct values of the `model` label across the whole registry. */
async function modelLabelValues(metrics: import('../../src/infra/metrics.js').Metrics): Promise<Set<string>> {
  const values = new Set<string>()
  for (const metric of await metrics.registry.getMetricsAsJSON()) {
    for (const value of metric.values) {
      const model = (value.labels as Record<string, unknown>).model
      if (typeof model === 'string') values.add(model)
    }
  }
  return values
}

t.test('model labels: only known names, at most 128 characters, at most the cap of distinct values', async (t) => {
  const labels = createModelLabels(3)
  t.equal(labels.modelLabel('gpt-x'), OTHER_MODEL, 'no source yet: nothing is known')
  labels.addModelSource((model) => model.startsWith('known-') || model.length > 128)
  t.equal(labels.modelLabel('known-a'), 'known-a')
  t.equal(labels.modelLabel('unknown'), OTHER_MODEL)
  t.equal(labels.modelLabel(''), OTHER_MODEL)
  t.equal(labels.modelLabel('x'.repeat(129)), OTHER_MODEL, 'a source claiming a 129-character name is overruled')
  t.equal(labels.modelLabel('known-b'), 'known-b')
  t.equal(labels.modelLabel('known-c'), 'known-c')
  t.equal(labels.modelLabel('known-d'), OTHER_MODEL, 'the fourth distinct value is over the cap')
  t.equal(labels.modelLabel('known-a'), 'known-a', 'values already admitted keep their label')
  const { modelLabel } = labels
  t.equal(modelLabel('known-b'), 'known-b', 'usable detached from its object')
})

for (const backend of backends()) {
  t.test(`${backend.name}: unknown model names are counted as other and cannot grow /metrics`, async (t) => {
    const { app } = await buildApp(t, backend)
    const session = await login(app)
    const metricsText = async (): Promise<string> => {
      const res = await app.inject('/metrics')
      t.equal(res.statusCode, 200)
      return res.body
    }

    t.test('300 unique 10 KB names and every Object.prototype key are one `other` label', async (t) => {
      recordAs(app.metrics, 'warm-up-unknown')
      const before = (await metricsText()).length
      const names = Array.from({ length: 300 }, (_, i) => `${i}-`.padEnd(10_240, 'x'))
      for (const name of [...names, ...PROTOTYPE_KEYS, '*', 'default']) {
        t.equal(app.metrics.modelLabel(name), OTHER_MODEL, name.slice(0, 40))
        recordAs(app.metrics, name)
      }
      const after = await metricsText()
      // Only counter values change; a digit or two per series.
      t.ok(after.length - before < 2_000, `/metrics grew by ${after.length - before} bytes`)
      t.notMatch(after, /xxxxxxxxxx/)
      t.notMatch(after, /model="(constructor|__proto__|toString|hasOwnProperty)"/)
      t.match(after, /nexus_relay_requests_total\{model="other",status="200"\} \d+/)
    })

    t.test('a model priced by an admin is its own label', async (t) => {
      t.equal(app.metrics.modelLabel('ml-priced'), OTHER_MODEL)
      const res = await app.inject({ method: 'PUT', url: '/api/pricing/ml-priced', headers: bearer(session), payload: { input_per_1m: '1', output_per_1m: '2' } })
      t.equal(res.statusCode, 200)
      t.equal(app.metrics.modelLabel('ml-priced'), 'ml-priced')
      recordAs(app.metrics, 'ml-priced')
      t.match(await metricsText(), /nexus_quota_total\{model="ml-priced"\} 30/)
    })

    t.test('a prototype key is known only once it has a price row of its own', async (t) => {
      t.equal(app.metrics.modelLabel('constructor'), OTHER_MODEL)
      const res = await app.inject({ method: 'PUT', url: '/api/pricing/constructor', headers: bearer(session), payload: { input_per_1m: '1' } })
      t.equal(res.statusCode, 200)
      t.equal(app.metrics.modelLabel('constructor'), 'constructor')
      t.equal(app.metrics.modelLabel('__proto__'), OTHER_MODEL)
    })

    t.test('models a channel lists or maps are their own labels; a wildcard channel names none', async (t) => {
      const create = async (payload: Record<string, unknown>) => {
        const res = await app.inject({ method: 'POST', url: '/api/channel', headers: bearer(session), payload: { key: 'sk-labels-test-0000', base_url: 'http://127.0.0.1:9', ...payload } })
        t.equal(res.statusCode, 201, res.body)
      }
      await create({ name: 'wildcard', models: [] })
      t.equal(app.metrics.modelLabel('ml-listed'), OTHER_MODEL, 'served by the wildcard channel, still unknown')
      await create({ name: 'listed', models: ['ml-listed'], model_mapping: { 'ml-alias': 'ml-listed', toString: 'ml-listed' } })
      t.equal(app.metrics.modelLabel('ml-listed'), 'ml-listed')
      t.equal(app.metrics.modelLabel('ml-alias'), 'ml-alias')
      t.equal(app.metrics.modelLabel('toString'), 'toString', 'a mapping key the admin wrote is known')
      t.equal(app.metrics.modelLabel('valueOf'), OTHER_MODEL, 'inherited keys of the mapping are not')
    })

    t.test('even sources that know every name cannot push the registry past the cap', async (t) => {
      app.metrics.addModelSource(() => true)
      for (let i = 0; i < MAX_MODEL_LABELS + 500; i++) recordAs(app.metrics, `ml-flood-${i}`)
      const values = await modelLabelValues(app.metrics)
      t.ok(values.size <= MAX_MODEL_LABELS + 1, `${values.size} distinct model labels`)
      t.ok(values.has(OTHER_MODEL))
      t.equal(app.metrics.modelLabel(`ml-flood-${MAX_MODEL_LABELS + 499}`), OTHER_MODEL)
    })
  })

  t.test(`${backend.name}: METRICS_TOKEN guards /metrics`, async (t) => {
    const token = 'metrics-token-0123456789'
    const { app } = await buildApp(t, backend, { env: { METRICS_TOKEN: token } })

    for (const [name, authorization] of [
      ['no header', undefined],
      ['a wrong token of the same length', 'Bearer metrics-token-0123456780'],
      ['a prefix of the token', 'Bearer metrics-token'],
      ['the token with extra characters', `Bearer ${token}x`],
      ['the token without the Bearer scheme', token],
      ['a relay-style Basic header', `Basic ${Buffer.from(`x:${token}`).toString('base64')}`],
    ] as const) {
      const res = await app.inject({ url: '/metrics', headers: authorization ? { authorization } : {} })
      t.equal(res.statusCode, 401, name)
      t.same(res.json(), {
        error: { message: 'GET /metrics needs Authorization: Bearer <METRICS_TOKEN>', type: 'authentication_error', code: 'invalid_metrics_token', param: null },
      })
      t.equal(res.headers['x-should-retry'], 'false')
      t.notMatch(res.body, /nexus_/)
    }

    const head = await app.inject({ method: 'HEAD', url: '/metrics' })
    t.equal(head.statusCode, 401, 'HEAD is guarded too')

    const ok = await app.inject({ url: '/metrics', headers: { authorization: `Bearer ${token}` } })
    t.equal(ok.statusCode, 200)
    t.match(ok.body, /nexus_http_requests_total/)
    const lower = await app.inject({ url: '/metrics', headers: { authorization: `bearer ${token}` } })
    t.equal(lower.statusCode, 200, 'the scheme is case-insensitive')

    t.equal((await app.inject('/healthz')).statusCode, 200, 'other operations endpoints stay open')
  })

  t.test(`${backend.name}: without METRICS_TOKEN /metrics is open`, async (t) => {
    const { app } = await buildApp(t, backend)
    const res = await app.inject('/metrics')
    t.equal(res.statusCode, 200)
    t.match(res.body, /process_cpu_user_seconds_total/)
  })
}
