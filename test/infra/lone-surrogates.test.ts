// Found while closing issue 9 item 5: JSON can spell an unpaired UTF-16 surrogate ("\ud800"), which no UTF-8
// text holds. On MySQL the JSON columns refused it and the request answered 500 (a token's `models`, a partner's
// `external_data`, a channel's models / model_mapping / groups). Such values are refused with 400 now; a
// surrogate PAIR (an emoji, escaped or not) is ordinary text and is stored as sent.
import t from 'tap'
import { PARTNER_ENV, signed } from '../external/partner-client.js'
import { backends } from '../support/backends.js'
import { bearer, buildApp, login } from '../support/build-app.js'

for (const backend of backends()) {
  t.test(`${backend.name}: a lone surrogate bound for a JSON column → 400, never 500`, async (t) => {
    const { app } = await buildApp(t, backend, { env: PARTNER_ENV })
    const admin = bearer(await login(app))
    const json = { ...admin, 'content-type': 'application/json' }

    t.test('token models', async (t) => {
      const bad = await app.inject({ method: 'POST', url: '/api/token', headers: json, payload: '{"name":"s","models":["gpt-4o","\\ud800"]}' })
      t.equal(bad.statusCode, 400, bad.body)
      t.match(bad.json().error, { code: 'invalid_request', param: 'models.1' })
      const pair = await app.inject({ method: 'POST', url: '/api/token', headers: json, payload: '{"name":"s","models":["m-\\ud83d\\ude00","m-😀"]}' })
      t.equal(pair.statusCode, 201, pair.body)
      t.same(pair.json().models, ['m-😀', 'm-😀'])
    })

    t.test('partner external_data, in a value or a key, at any depth', async (t) => {
      const sync = (body: string) => signed(app, { method: 'POST', url: '/api/user/external/sync', body })
      for (const data of ['{"s":"\\udc00"}', '{"a":[{"b":"x\\ud800y"}]}', '{"\\ud800":1}']) {
        const res = await sync(`{"external_user_id":"lone","external_data":${data}}`)
        t.equal(res.statusCode, 400, `${data}: ${res.body}`)
        t.match(res.json().error, { code: 'invalid_request', param: 'external_data', message: /unpaired UTF-16 surrogate/ })
      }
      const ok = await sync('{"external_user_id":"lone","external_data":{"nick":"\\ud83d\\ude00 李雷"}}')
      t.equal(ok.statusCode, 201, ok.body)
    })

    t.test('channel models, model_mapping and groups', async (t) => {
      const channel = (extra: string) =>
        app.inject({ method: 'POST', url: '/api/channel', headers: json, payload: `{"name":"c","key":"sk-surrogate-test-key",${extra}}` })
      for (const [extra, param] of [
        ['"models":["\\ud800"]', 'models.0'],
        ['"model_mapping":{"a":"\\ud800"}', 'model_mapping.a'],
        ['"model_mapping":{"\\ud800":"a"}', 'model_mapping'],
        ['"groups":["\\udfff"]', 'groups.0'],
      ] as const) {
        const res = await channel(extra)
        t.equal(res.statusCode, 400, `${extra}: ${res.body}`)
        t.match(res.json().error, { code: 'invalid_request', param: new RegExp(`^${param.replace('.', '\\.')}`) })
      }
      const ok = await channel('"models":["😀"],"model_mapping":{"😀":"gpt-4o"},"groups":["default"]')
      t.equal(ok.statusCode, 201, ok.body)
    })
  })
}
