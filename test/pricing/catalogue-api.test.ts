// The catalogue through the API (CONTRACT §4): a model without an admin price is priced from the bundled
// catalogue, an admin price overrides it, `GET /api/pricing` says which, and a model known nowhere without a
// default price is refused with a message saying how to price it. The catalogue is the installed
// @pydantic/genai-prices, as in production.
import t from 'tap'
import { backends } from '../support/backends.js'
import { bearer, buildApp, login } from '../support/build-app.js'
import { makeUserWithToken, meterRequest } from '../billing/fixtures.js'

const CLAUDE = 'claude-sonnet-4-20250514'
interface PriceJson {
  model: string
  input_per_1m: number
  output_per_1m: number
  per_request: number
  cache_read_per_1m: number | null
  cache_write_per_1m: number | null
  source: 'admin' | 'catalogue'
  catalogue_model?: string
}

for (const backend of backends()) {
  t.test(backend.name, async (t) => {
    const { app } = await buildApp(t, backend)
    const admin = await login(app)
    const list = async (): Promise<Map<string, PriceJson>> => {
      const res = await app.inject({ method: 'GET', url: '/api/pricing' })
      t.equal(res.statusCode, 200)
      return new Map((res.json().data as PriceJson[]).map((p) => [p.model, p]))
    }
    const channel = await app.inject({
      method: 'POST', url: '/api/channel', headers: bearer(admin),
      payload: { name: 'catalogued', key: 'sk-upstream-catalogue-test', base_url: 'http://127.0.0.1:9', models: [CLAUDE, 'gpt-4o', 'made-up-model'], model_mapping: { 'anthropic/claude-sonnet-4': CLAUDE } },
    })
    t.equal(channel.statusCode, 201, channel.body)

    t.test('GET /api/pricing: admin prices, and catalogue prices of the served models that have none', async (t) => {
      const prices = await list()
      t.same(prices.get(CLAUDE), {
        model: CLAUDE, input_per_1m: 3, output_per_1m: 15, per_request: 0, cache_read_per_1m: 0.3, cache_write_per_1m: 3.75, source: 'catalogue', catalogue_model: 'anthropic/claude-sonnet-4-0',
      })
      t.match(prices.get('anthropic/claude-sonnet-4'), { source: 'catalogue', input_per_1m: 3 }, 'a mapped name with a provider prefix')
      t.same(prices.get('gpt-4o'), { model: 'gpt-4o', input_per_1m: 2.5, output_per_1m: 10, per_request: 0, cache_read_per_1m: 1.25, cache_write_per_1m: null, source: 'admin' }, 'the starter list is admin-priced')
      t.notOk(prices.has('made-up-model'), 'known nowhere: not listed')
      t.notOk(prices.has('gpt-4o-2024-08-06'), 'catalogue models nobody serves are not listed')
    })

    t.test('the relay prices a catalogue model without any admin price (the meter needs nothing more)', async (t) => {
      t.match(app.pricing.priceOf(CLAUDE), { inputMicrosPer1M: 3_000_000, outputMicrosPer1M: 15_000_000, cacheReadMicrosPer1M: 300_000, cacheWriteMicrosPer1M: 3_750_000 })
      const { principal } = await makeUserWithToken(app, { quota: 1_000_000 })
      // 10 prompt tokens at $3/1M = 15 quota
      const reservation = await app.meter.reserve(meterRequest(principal, CLAUDE))
      t.equal(reservation.quota, 15)
      const single = await app.inject({ method: 'GET', url: `/api/pricing/${CLAUDE}` })
      t.equal(single.statusCode, 200)
      t.match(single.json(), { model: CLAUDE, source: 'catalogue', input_per_1m: 3 })
    })

    t.test('an admin price overrides the catalogue; fields left out keep the catalogue value; DELETE gives it back', async (t) => {
      const put = await app.inject({ method: 'PUT', url: `/api/pricing/${CLAUDE}`, headers: bearer(admin), payload: { input_per_1m: '2.5' } })
      t.equal(put.statusCode, 200, put.body)
      t.same(put.json(), { model: CLAUDE, input_per_1m: 2.5, output_per_1m: 15, per_request: 0, cache_read_per_1m: 0.3, cache_write_per_1m: 3.75, source: 'admin' })
      t.match(app.pricing.priceOf(CLAUDE), { inputMicrosPer1M: 2_500_000, outputMicrosPer1M: 15_000_000 })
      t.match((await list()).get(CLAUDE), { source: 'admin', input_per_1m: 2.5 })
      const del = await app.inject({ method: 'DELETE', url: `/api/pricing/${CLAUDE}`, headers: bearer(admin) })
      t.equal(del.statusCode, 204)
      t.match((await list()).get(CLAUDE), { source: 'catalogue', input_per_1m: 3 })
      t.match(app.pricing.priceOf(CLAUDE), { inputMicrosPer1M: 3_000_000 })
    })

    t.test('the default price covers models known nowhere, not catalogue models', async (t) => {
      const put = await app.inject({ method: 'PUT', url: '/api/pricing/default', headers: bearer(admin), payload: { input_per_1m: 1, output_per_1m: 2 } })
      t.equal(put.statusCode, 200)
      t.teardown(() => app.pricing.removePrice('*'))
      t.match(app.pricing.priceOf('made-up-model'), { inputMicrosPer1M: 1_000_000, outputMicrosPer1M: 2_000_000 })
      t.match(app.pricing.priceOf(CLAUDE), { inputMicrosPer1M: 3_000_000 })
      const single = await app.inject({ method: 'GET', url: '/api/pricing/made-up-model' })
      t.match(single.json(), { model: '*', source: 'admin', input_per_1m: 1 })
    })

    t.test('known nowhere and no default → 400 model_price_unset, saying how an admin sets a price', async (t) => {
      const res = await app.inject({ method: 'GET', url: '/api/pricing/made-up-model' })
      t.equal(res.statusCode, 400)
      t.match(res.json().error, { code: 'model_price_unset', type: 'invalid_request_error', param: 'model' })
      t.match(res.json().error.message, 'PUT /api/pricing/made-up-model')
      t.match(res.json().error.message, 'PUT /api/pricing/default')
      t.equal(app.pricing.priceOf('made-up-model'), undefined)
    })
  })
}
