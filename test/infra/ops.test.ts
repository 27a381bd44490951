import Fastify from 'fastify'
import t from 'tap'
import { installErrorHandling } from '../../src/errors.js'
import { backends, sqliteBackend } from '../support/backends.js'
import { buildApp } from '../support/build-app.js'

for (const backend of backends()) {
  t.test(`${backend.name}: operations endpoints`, async (t) => {
    const { app } = await buildApp(t, backend)

    t.test('/healthz and /readyz answer 200', async (t) => {
      t.equal((await app.inject('/healthz')).statusCode, 200)
      const ready = await app.inject('/readyz')
      t.equal(ready.statusCode, 200)
      t.match(ready.json(), { database: true, cache: true })
    })

    t.test('/metrics is Prometheus text with HTTP and process metrics', async (t) => {
      await app.inject('/healthz')
      const res = await app.inject('/metrics')
      t.equal(res.statusCode, 200)
      t.match(res.headers['content-type'], /text\/plain/)
      t.match(res.body, /nexus_http_requests_total\{method="GET",route="\/healthz",status="200"\} \d+/)
      t.match(res.body, /nexus_http_request_duration_seconds_bucket/)
      t.match(res.body, /process_cpu_user_seconds_total/)
    })

    t.test('/docs/json is an OpenAPI document of the routes; /docs serves the UI', async (t) => {
      const res = await app.inject('/docs/json')
      t.equal(res.statusCode, 200)
      const spec = res.json()
      t.equal(spec.openapi, '3.0.3')
      t.ok(spec.paths['/api/auth/login'], 'login documented')
      t.ok(spec.paths['/api/auth/register'].post.requestBody, 'register body documented')
      const ui = await app.inject('/docs')
      t.ok([200, 302].includes(ui.statusCode))
    })

    t.test('x-request-id is echoed when sane and generated otherwise', async (t) => {
      const echoed = await app.inject({ url: '/healthz', headers: { 'x-request-id': 'client-id-123' } })
      t.equal(echoed.headers['x-request-id'], 'client-id-123')
      const generated = await app.inject({ url: '/healthz', headers: { 'x-request-id': 'bad id\nwith newline' } })
      t.match(generated.headers['x-request-id'], /^[0-9a-f-]{36}$/)
      const error = await app.inject('/nope')
      t.ok(error.headers['x-request-id'])
    })

    t.test('an unknown route is a 404 in the OpenAI error shape', async (t) => {
      const res = await app.inject('/api/nothing-here')
      t.equal(res.statusCode, 404)
      t.same(Object.keys(res.json().error).sort(), ['code', 'message', 'param', 'type'])
      t.equal(res.json().error.type, 'invalid_request_error')
      t.equal(res.headers['x-should-retry'], 'false')
    })
  })
}

t.test('readyz answers 503 while the cache is unreachable, and the process keeps serving', async (t) => {
  const { app } = await buildApp(t, sqliteBackend, { env: { REDIS_URL: 'redis://127.0.0.1:1/0' } })
  const res = await app.inject('/readyz')
  t.equal(res.statusCode, 503)
  t.match(res.json(), { database: true, cache: false })
  t.equal((await app.inject('/healthz')).statusCode, 200)
  // A call that needs the cache answers 503 (retryable), not a 500.
  const login = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'root', password: 'whatever-password' } })
  t.equal(login.statusCode, 503)
  t.match(login.json(), { error: { code: 'cache_unavailable', type: 'api_error' } })
})

t.test('a 5xx never carries internal details; the log does', async (t) => {
  const lines: string[] = []
  const app = Fastify({ logger: { level: 'error', stream: { write: (l: string) => lines.push(l) } } })
  installErrorHandling(app)
  app.get('/boom', async () => {
    throw new Error('secret detail: password=hunter2')
  })
  const res = await app.inject('/boom')
  t.equal(res.statusCode, 500)
  t.same(res.json(), { error: { message: 'internal server error', type: 'api_error', code: 'internal_error', param: null } })
  t.notMatch(res.body, /hunter2/)
  t.ok(lines.some((l) => l.includes('secret detail')), 'logged for operators')
  await app.close()
})
