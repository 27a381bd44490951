// Request lines never carry a secret a client put in the query string (found by the suite-wide secret scan: the
// hostile-input suite sent `?key=…` and the request line logged it whole).
import t from 'tap'
import { redactUrl } from '../../src/infra/log-url.js'
import { sqliteBackend } from '../support/backends.js'
import { buildApp } from '../support/build-app.js'

t.test('secret-looking query values are redacted, everything else kept', async (t) => {
  t.equal(redactUrl('/v1/models?key=AIzaSyABC&x=1'), '/v1/models?key=[redacted]&x=1')
  t.equal(redactUrl('/ws/chat?token=eyJhbGc.x.y'), '/ws/chat?token=[redacted]')
  t.equal(redactUrl('/v1/x?API_KEY=1&api-key=2&access_token=3&Signature=4'), '/v1/x?API_KEY=[redacted]&api-key=[redacted]&access_token=[redacted]&Signature=[redacted]')
  t.equal(redactUrl('/api/log?page=2&model=gpt-4o&keyword=token'), '/api/log?page=2&model=gpt-4o&keyword=token', 'names that only contain a secret word are kept')
  t.equal(redactUrl('/api/user/self'), '/api/user/self')
})

t.test('the production logger writes request lines with the query secrets redacted', async (t) => {
  const lines: string[] = []
  const { app } = await buildApp(t, sqliteBackend, { logStream: { write: (line) => void lines.push(line) } })
  await app.inject({ method: 'GET', url: '/v1/models?key=AIzaSy-client-secret-123&alt=sse' })
  await app.inject({ method: 'GET', url: '/api/user/self?access_token=very-secret-session' })
  const all = lines.join('\n')
  t.notMatch(all, /AIzaSy-client-secret-123|very-secret-session/)
  t.match(all, /\/v1\/models\?key=\[redacted\]&alt=sse/)
})
