// Issue 9 item 5: `?page=99999999999999999999` on /api/token and /api/log/self answered 500 (the OFFSET left what a
// number holds exactly and the database refused it). Every list route shares one bounded page schema now:
// page 1..1,000,000 and page_size 1..100, anything else 400 naming the parameter.
import type { LightMyRequestResponse } from 'fastify'
import t from 'tap'
import { MAX_PAGE } from '../../src/infra/pagination.js'
import { PARTNER_ENV, signed } from '../external/partner-client.js'
import { backends } from '../support/backends.js'
import { bearer, buildApp, login } from '../support/build-app.js'

for (const backend of backends()) {
  t.test(`${backend.name}: page and page_size are bounded on every list route`, async (t) => {
    const { app } = await buildApp(t, backend, { env: PARTNER_ENV })
    const admin = bearer(await login(app))
    const synced = await signed(app, { method: 'POST', url: '/api/user/external/sync', body: { external_user_id: 'pager' } })
    t.equal(synced.statusCode, 201)

    const routes: { name: string; get(query: string): Promise<LightMyRequestResponse> }[] = [
      ...['/api/token', '/api/log/self', '/api/log', '/api/user', '/api/channel'].map((path) => ({
        name: path,
        get: (query: string) => app.inject({ method: 'GET', url: `${path}?${query}`, headers: admin }),
      })),
      { name: 'partner topups', get: (query: string) => signed(app, { method: 'GET', url: `/api/user/external/pager/topups?${query}` }) },
    ]

    for (const route of routes) {
      t.test(`${route.name}: a page beyond ${MAX_PAGE} → 400 param page, never 500`, async (t) => {
        for (const page of ['99999999999999999999', '1e300', String(MAX_PAGE + 1), '0', '-1', '1.5']) {
          const res = await route.get(`page=${page}`)
          t.equal(res.statusCode, 400, `page=${page}: ${res.body}`)
          t.match(res.json().error, { code: 'invalid_request', param: 'page' }, `page=${page}`)
        }
        const last = await route.get(`page=${MAX_PAGE}&page_size=100`)
        t.equal(last.statusCode, 200, last.body)
        t.match(last.json(), { data: [], page: MAX_PAGE, page_size: 100 })
      })

      t.test(`${route.name}: page_size outside 1..100 → 400 param page_size`, async (t) => {
        for (const size of ['0', '101', '99999999999999999999']) {
          const res = await route.get(`page_size=${size}`)
          t.equal(res.statusCode, 400, `page_size=${size}: ${res.body}`)
          t.match(res.json().error, { code: 'invalid_request', param: 'page_size' })
        }
        const res = await route.get('')
        t.equal(res.statusCode, 200, res.body)
        t.match(res.json(), { page: 1, page_size: 20 })
      })
    }
  })
}
