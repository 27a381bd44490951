import t from 'tap'
import { backends } from '../support/backends.js'
import { bearer, buildApp, login } from '../support/build-app.js'

for (const backend of backends()) {
  t.test(backend.name, async (t) => {
    const { app } = await buildApp(t, backend)
    const admin = await login(app)

    t.test('a fresh database starts with the starter price list, readable without a session', async (t) => {
      const res = await app.inject({ method: 'GET', url: '/api/pricing' })
      t.equal(res.statusCode, 200)
      const models = new Map((res.json().data as { model: string }[]).map((p) => [p.model, p]))
      t.same(models.get('gpt-4.1'), { model: 'gpt-4.1', input_per_1m: 2, output_per_1m: 8, per_request: 0, cache_read_per_1m: 0.5, cache_write_per_1m: null, source: 'admin' })
      t.same(models.get('gpt-4o-mini'), { model: 'gpt-4o-mini', input_per_1m: 0.15, output_per_1m: 0.6, per_request: 0, cache_read_per_1m: 0.075, cache_write_per_1m: null, source: 'admin' })
      t.same(models.get('gpt-3.5-turbo'), { model: 'gpt-3.5-turbo', input_per_1m: 0.5, output_per_1m: 1.5, per_request: 0, cache_read_per_1m: null, cache_write_per_1m: null, source: 'admin' }, 'no cache price: the input price')
      t.ok(models.has('text-embedding-3-small'))
      t.notOk(models.has('*'), 'no default price unless an admin sets one')
    })

    t.test('admin PUT sets a price with a slash in the model id (raw or %2F), exact to the micro-dollar', async (t) => {
      const raw = await app.inject({
        method: 'PUT', url: '/api/pricing/deepseek-ai/DeepSeek-V3', headers: bearer(admin), payload: { input_per_1m: '0.27', output_per_1m: 1.1 },
      })
      t.equal(raw.statusCode, 200, raw.body)
      t.same(raw.json(), { model: 'deepseek-ai/DeepSeek-V3', input_per_1m: 0.27, output_per_1m: 1.1, per_request: 0, cache_read_per_1m: null, cache_write_per_1m: null, source: 'admin' })
      const encoded = await app.inject({
        method: 'PUT', url: '/api/pricing/Qwen%2FQwen2.5-72B:free', headers: bearer(admin), payload: { per_request: '0.000001' },
      })
      t.equal(encoded.statusCode, 200, encoded.body)
      t.equal(encoded.json().model, 'Qwen/Qwen2.5-72B:free')
      t.equal(encoded.json().per_request, 0.000001)
      t.same(app.pricing.priceOf('deepseek-ai/DeepSeek-V3'), {
        model: 'deepseek-ai/DeepSeek-V3', inputMicrosPer1M: 270000, outputMicrosPer1M: 1100000, perRequestMicros: 0, cacheReadMicrosPer1M: null, cacheWriteMicrosPer1M: null,
      })
    })

    t.test('PUT keeps the fields it does not name', async (t) => {
      const res = await app.inject({ method: 'PUT', url: '/api/pricing/deepseek-ai/DeepSeek-V3', headers: bearer(admin), payload: { per_request: 0.01 } })
      t.same(res.json(), { model: 'deepseek-ai/DeepSeek-V3', input_per_1m: 0.27, output_per_1m: 1.1, per_request: 0.01, cache_read_per_1m: null, cache_write_per_1m: null, source: 'admin' })
    })

    t.test('bad prices → 400 with the field as param', async (t) => {
      for (const payload of [{ input_per_1m: -1 }, { input_per_1m: '1.1234567' }, { output_per_1m: '1e3' }, {}, { input: 1 }]) {
        const res = await app.inject({ method: 'PUT', url: '/api/pricing/x-model', headers: bearer(admin), payload })
        t.equal(res.statusCode, 400, JSON.stringify(payload))
        t.equal(res.json().error.type, 'invalid_request_error')
      }
      t.equal(app.pricing.priceOf('x-model'), undefined)
    })

    t.test('non-admins may not change prices', async (t) => {
      await app.inject({ method: 'POST', url: '/api/auth/register', payload: { username: 'pricy', password: 'password1' } })
      const user = await login(app, 'pricy', 'password1')
      const put = await app.inject({ method: 'PUT', url: '/api/pricing/gpt-4o', headers: bearer(user), payload: { input_per_1m: 0 } })
      t.equal(put.statusCode, 403)
      const del = await app.inject({ method: 'DELETE', url: '/api/pricing/gpt-4o', headers: bearer(user) })
      t.equal(del.statusCode, 403)
      const anon = await app.inject({ method: 'DELETE', url: '/api/pricing/gpt-4o' })
      t.equal(anon.statusCode, 401)
      t.equal(app.pricing.priceOf('gpt-4o')?.inputMicrosPer1M, 2_500_000)
    })

    t.test('DELETE removes a price (204), an unknown model → 404', async (t) => {
      const del = await app.inject({ method: 'DELETE', url: '/api/pricing/deepseek-ai%2FDeepSeek-V3', headers: bearer(admin) })
      t.equal(del.statusCode, 204)
      t.equal(app.pricing.priceOf('deepseek-ai/DeepSeek-V3'), undefined)
      const again = await app.inject({ method: 'DELETE', url: '/api/pricing/deepseek-ai/DeepSeek-V3', headers: bearer(admin) })
      t.equal(again.statusCode, 404)
    })

    t.test('`default` (or `*`) is the default price for models without their own', async (t) => {
      t.equal(app.pricing.priceOf('no-such-model'), undefined)
      const res = await app.inject({ method: 'PUT', url: '/api/pricing/default', headers: bearer(admin), payload: { input_per_1m: 1, output_per_1m: 2 } })
      t.equal(res.statusCode, 200)
      t.equal(res.json().model, '*')
      t.equal(app.pricing.priceOf('no-such-model')?.outputMicrosPer1M, 2_000_000)
      t.equal(app.pricing.priceOf('gpt-4.1')?.outputMicrosPer1M, 8_000_000, 'a model with its own price keeps it')
      const del = await app.inject({ method: 'DELETE', url: '/api/pricing/*', headers: bearer(admin) })
      t.equal(del.statusCode, 204)
      t.equal(app.pricing.priceOf('no-such-model'), undefined)
    })

    t.test('group ratios: default 1, admin sets and removes them', async (t) => {
      const list = await app.inject({ method: 'GET', url: '/api/pricing/groups', headers: bearer(admin) })
      t.same(list.json().data, [{ name: 'default', ratio: 1 }])
      const put = await app.inject({ method: 'PUT', url: '/api/pricing/groups/vip', headers: bearer(admin), payload: { ratio: '0.8' } })
      t.same(put.json(), { name: 'vip', ratio: 0.8 })
      t.equal(app.pricing.ratioOf('vip'), 800_000)
      t.equal(app.pricing.ratioOf('unknown'), 1_000_000)
      const del = await app.inject({ method: 'DELETE', url: '/api/pricing/groups/vip', headers: bearer(admin) })
      t.equal(del.statusCode, 204)
      t.equal(app.pricing.ratioOf('vip'), 1_000_000)
    })

    t.test('a restart keeps an admin deletion of a starter price', async (t) => {
      const del = await app.inject({ method: 'DELETE', url: '/api/pricing/gpt-4o', headers: bearer(admin) })
      t.equal(del.statusCode, 204)
      await app.pricing.seedIfFresh()
      await app.pricing.reload()
      // The admin row stays deleted; the model falls back to the catalogue's price (when the package is installed).
      t.equal(app.pricing.hasOwnPrice('gpt-4o'), false)
      const listed = (await app.inject({ method: 'GET', url: '/api/pricing' })).json().data as { model: string }[]
      t.notOk(listed.some((p) => p.model === 'gpt-4o'))
    })
  })
}
