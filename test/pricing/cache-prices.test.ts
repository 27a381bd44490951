// Admin prices for cached and cache-write input tokens (CONTRACT §4): USD in, exact micro-dollars stored, the
// same USD out; null means "the input price"; bad input is a 400 that changes nothing; and a usage with cached
// tokens is billed to the exact quota.
import t from 'tap'
import { computeUsageQuota } from '../../src/billing/cost.js'
import { backends } from '../support/backends.js'
import { bearer, buildApp, login } from '../support/build-app.js'

const MODEL = 'acme/cachy-1'

for (const backend of backends()) {
  t.test(backend.name, async (t) => {
    const { app, config } = await buildApp(t, backend)
    const admin = await login(app)
    const put = (payload: Record<string, unknown>) => app.inject({ method: 'PUT', url: `/api/pricing/${MODEL}`, headers: bearer(admin), payload })

    t.test('PUT takes cache prices in USD and answers them exactly; they survive a reload from the database', async (t) => {
      const res = await put({ input_per_1m: '3', output_per_1m: 15, cache_read_per_1m: '0.3', cache_write_per_1m: 3.75 })
      t.equal(res.statusCode, 200, res.body)
      t.same(res.json(), { model: MODEL, input_per_1m: 3, output_per_1m: 15, per_request: 0, cache_read_per_1m: 0.3, cache_write_per_1m: 3.75, source: 'admin' })
      await app.pricing.reload()
      t.match(app.pricing.priceOf(MODEL), { inputMicrosPer1M: 3_000_000, outputMicrosPer1M: 15_000_000, cacheReadMicrosPer1M: 300_000, cacheWriteMicrosPer1M: 3_750_000 })
      const listed = (await app.inject({ method: 'GET', url: '/api/pricing' })).json().data as { model: string }[]
      t.same(listed.find((p) => p.model === MODEL), res.json())
      const one = await app.inject({ method: 'GET', url: `/api/pricing/${encodeURIComponent(MODEL)}` })
      t.same(one.json(), res.json())
    })

    t.test('the smallest cache price is one micro-dollar per 1M tokens, kept exactly', async (t) => {
      const res = await put({ cache_read_per_1m: '0.000001' })
      t.equal(res.json().cache_read_per_1m, 0.000001)
      t.equal(app.pricing.priceOf(MODEL)?.cacheReadMicrosPer1M, 1)
      await put({ cache_read_per_1m: '0.3' })
    })

    t.test('fields left out keep their value; null puts a cache price back to the input price', async (t) => {
      const out = await put({ output_per_1m: '16' })
      t.match(out.json(), { output_per_1m: 16, cache_read_per_1m: 0.3, cache_write_per_1m: 3.75 })
      const reset = await put({ cache_read_per_1m: null })
      t.match(reset.json(), { cache_read_per_1m: null, cache_write_per_1m: 3.75 })
      t.equal(app.pricing.priceOf(MODEL)?.cacheReadMicrosPer1M, null)
      const back = await put({ output_per_1m: 15, cache_read_per_1m: 0.3 })
      t.match(back.json(), { output_per_1m: 15, cache_read_per_1m: 0.3 })
    })

    t.test('bad cache prices → 400 naming the field, and nothing changes', async (t) => {
      const before = app.pricing.priceOf(MODEL)
      for (const [field, value] of [
        ['cache_read_per_1m', -1], ['cache_read_per_1m', '0.1234567'], ['cache_write_per_1m', '1e3'], ['cache_write_per_1m', true],
        ['cache_read_per_1m', {}], ['cache_write_per_1m', ''], ['cache_read_per_1m', '2000000'], ['cache_readd_per_1m', 1],
      ] as const) {
        const res = await put({ input_per_1m: 9, [field]: value })
        t.equal(res.statusCode, 400, `${field}: ${JSON.stringify(value)}`)
        t.equal(res.json().error.type, 'invalid_request_error')
      }
      const tooBig = await put({ cache_write_per_1m: '1000000.000001' })
      t.match(tooBig.json().error, { param: 'cache_write_per_1m' })
      t.same(app.pricing.priceOf(MODEL), before)
    })

    t.test('non-admins may not set cache prices', async (t) => {
      await app.inject({ method: 'POST', url: '/api/auth/register', payload: { username: 'cachy', password: 'password1' } })
      const user = await login(app, 'cachy', 'password1')
      const res = await app.inject({ method: 'PUT', url: `/api/pricing/${MODEL}`, headers: bearer(user), payload: { cache_read_per_1m: 0 } })
      t.equal(res.statusCode, 403)
      t.equal(app.pricing.priceOf(MODEL)?.cacheReadMicrosPer1M, 300_000)
    })

    t.test('a usage with cached and cache-write tokens costs the exact quota at these prices', async (t) => {
      const price = app.pricing.priceOf(MODEL)
      if (!price) throw new Error('no price')
      const usage = { prompt_tokens: 1000, cached_tokens: 800, cache_write_tokens: 100, completion_tokens: 50, reasoning_tokens: 20 }
      // (100 × $3 + 800 × $0.3 + 100 × $3.75 + 50 × $15) / 1M = $0.001665 × 500,000 = 832.5 → 833
      t.equal(computeUsageQuota({ usage, price, quotaPerUsd: config.quotaPerUsd, groupRatioMicros: app.pricing.ratioOf('default') }), 833)
      // Without cache prices every prompt token costs the input price: (1000 × 3 + 50 × 15) / 1M × 500,000 = 1875
      await put({ cache_read_per_1m: null, cache_write_per_1m: null })
      const plain = app.pricing.priceOf(MODEL)
      if (!plain) throw new Error('no price')
      t.equal(computeUsageQuota({ usage, price: plain, quotaPerUsd: config.quotaPerUsd, groupRatioMicros: 1_000_000 }), 1875)
    })
  })
}
