// Personal APIs over REST (CONTRACT §7): CRUD, the owner-only rule, masking, names, validation, and the address
// rules applied when a base URL is saved.
import { eq } from 'drizzle-orm'
import t from 'tap'
import { backends } from '../support/backends.js'
import { bearer, buildApp, login } from '../support/build-app.js'
import { makeUser } from '../tokens/support.js'

const URL_ = '/api/user/self/apis'
const KEY = 'sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789'
const body = (extra: Record<string, unknown> = {}) => ({ name: 'mine', base_url: 'https://api.example.com', key: KEY, model: 'gpt-4o-mini', ...extra })

for (const backend of backends()) {
  t.test(backend.name, async (t) => {
    const { app } = await buildApp(t, backend)
    const alice = await makeUser(app, 'alice')
    const bob = await makeUser(app, 'bob')
    const admin = bearer(await login(app))

    t.test('create → 201 with the key masked; list oldest first with the first as default; get; ?name=', async (t) => {
      const res = await app.inject({ method: 'POST', url: URL_, headers: alice.headers, payload: body({ name: 'first' }) })
      t.equal(res.statusCode, 201, res.body)
      const first = res.json()
      t.same(Object.keys(first).sort(), ['base_url', 'created_at', 'default', 'id', 'key', 'model', 'name', 'type', 'updated_at'])
      t.match(first, { name: 'first', base_url: 'https://api.example.com', model: 'gpt-4o-mini', type: 'openai', key: 'sk-pr...6789', default: true })
      t.notOk(res.body.includes(KEY))

      const second = (await app.inject({ method: 'POST', url: URL_, headers: alice.headers, payload: body({ name: 'second', type: 'anthropic', base_url: 'https://api.anthropic.com/' }) })).json()
      t.match(second, { type: 'anthropic', default: false, base_url: 'https://api.anthropic.com' }, 'a trailing slash is dropped')

      const list = await app.inject({ method: 'GET', url: URL_, headers: alice.headers })
      t.equal(list.statusCode, 200)
      t.match(list.json(), { total: 2, page: 1, page_size: 20 })
      t.same(list.json().data.map((a: { name: string; default: boolean }) => [a.name, a.default]), [['first', true], ['second', false]])
      t.notOk(list.body.includes(KEY))

      const one = await app.inject({ method: 'GET', url: `${URL_}/${second.id}`, headers: alice.headers })
      t.match(one.json(), { id: second.id, name: 'second', default: false, key: 'sk-pr...6789' })

      const byName = await app.inject({ method: 'GET', url: `${URL_}?name=second`, headers: alice.headers })
      t.same(byName.json().data.map((a: { id: number }) => a.id), [second.id])
      const none = await app.inject({ method: 'GET', url: `${URL_}?name=nope`, headers: alice.headers })
      t.match(none.json(), { data: [], total: 0 })

      const rows = await app.db.db.select().from(app.db.t.personalApis).where(eq(app.db.t.personalApis.id, first.id))
      t.notOk(JSON.stringify(rows[0]).includes(KEY), 'the key is stored encrypted')
      t.match(rows[0]!.keyEncrypted, /^v1:/)
    })

    t.test('PATCH any field; a new key is masked; DELETE → 204 and the next one becomes default', async (t) => {
      const created = (await app.inject({ method: 'POST', url: URL_, headers: bob.headers, payload: body({ name: 'b1' }) })).json()
      const other = (await app.inject({ method: 'POST', url: URL_, headers: bob.headers, payload: body({ name: 'b2' }) })).json()
      const newKey = 'sk-ant-api03-ZyXwVuTsRqPoNmLkJiHgFeDcBa9876543210'
      const res = await app.inject({
        method: 'PATCH', url: `${URL_}/${created.id}`, headers: bob.headers,
        payload: { name: 'renamed', base_url: 'https://llm.example.org/api', key: newKey, model: 'claude-x', type: 'anthropic' },
      })
      t.equal(res.statusCode, 200, res.body)
      t.match(res.json(), { name: 'renamed', base_url: 'https://llm.example.org/api', model: 'claude-x', type: 'anthropic', key: 'sk-an...3210', default: true })
      t.notOk(res.body.includes(newKey))
      const empty = await app.inject({ method: 'PATCH', url: `${URL_}/${created.id}`, headers: bob.headers, payload: {} })
      t.equal(empty.statusCode, 200, 'an empty PATCH changes nothing')
      t.equal(empty.json().name, 'renamed')

      const del = await app.inject({ method: 'DELETE', url: `${URL_}/${created.id}`, headers: bob.headers })
      t.equal(del.statusCode, 204)
      t.equal((await app.inject({ method: 'GET', url: `${URL_}/${created.id}`, headers: bob.headers })).statusCode, 404)
      t.equal((await app.inject({ method: 'GET', url: `${URL_}/${other.id}`, headers: bob.headers })).json().default, true)
      t.equal((await app.inject({ method: 'DELETE', url: `${URL_}/${created.id}`, headers: bob.headers })).statusCode, 404, 'a second delete: 404')
    })

    t.test("another user's personal API is 404 on every route, admins included, and nothing changes", async (t) => {
      const mine = (await app.inject({ method: 'POST', url: URL_, headers: alice.headers, payload: body({ name: 'private' }) })).json()
      for (const headers of [bob.headers, admin]) {
        const calls = [
          { method: 'GET' as const, url: `${URL_}/${mine.id}` },
          { method: 'PATCH' as const, url: `${URL_}/${mine.id}`, payload: { name: 'stolen' } },
          { method: 'DELETE' as const, url: `${URL_}/${mine.id}` },
          { method: 'POST' as const, url: `${URL_}/${mine.id}/test`, payload: {} },
        ]
        for (const c of calls) {
          const res = await app.inject({ ...c, headers })
          t.equal(res.statusCode, 404, `${c.method} ${c.url}`)
          t.match(res.json(), { error: { type: 'invalid_request_error', code: 'not_found' } })
          t.equal(res.headers['x-should-retry'], 'false')
        }
        const list = await app.inject({ method: 'GET', url: URL_, headers })
        t.notOk(list.json().data.some((a: { id: number }) => a.id === mine.id), 'not in their list')
        const byName = await app.inject({ method: 'GET', url: `${URL_}?name=private`, headers })
        t.equal(byName.json().total, 0)
      }
      const still = await app.inject({ method: 'GET', url: `${URL_}/${mine.id}`, headers: alice.headers })
      t.equal(still.json().name, 'private', 'unchanged')
      const anon = await app.inject({ method: 'GET', url: URL_ })
      t.equal(anon.statusCode, 401)
      // The session is checked before the body is parsed: malformed JSON without a session is 401, not 400.
      const anonBody = await app.inject({ method: 'POST', url: URL_, headers: { 'content-type': 'application/json' }, payload: '{"name":' })
      t.equal(anonBody.statusCode, 401)
    })

    t.test('409 name_taken on create and rename; the same name is fine for another user', async (t) => {
      await app.inject({ method: 'POST', url: URL_, headers: alice.headers, payload: body({ name: 'dup' }) })
      const again = await app.inject({ method: 'POST', url: URL_, headers: alice.headers, payload: body({ name: 'dup' }) })
      t.equal(again.statusCode, 409)
      t.match(again.json(), { error: { code: 'name_taken', param: 'name', type: 'invalid_request_error' } })
      const other = await app.inject({ method: 'POST', url: URL_, headers: alice.headers, payload: body({ name: 'other' }) })
      const rename = await app.inject({ method: 'PATCH', url: `${URL_}/${other.json().id}`, headers: alice.headers, payload: { name: 'dup' } })
      t.equal(rename.statusCode, 409)
      t.equal(rename.json().error.code, 'name_taken')
      const bobs = await app.inject({ method: 'POST', url: URL_, headers: bob.headers, payload: body({ name: 'dup' }) })
      t.equal(bobs.statusCode, 201)
    })

    t.test('validation: 400 with param, and nothing is saved', async (t) => {
      const before = (await app.inject({ method: 'GET', url: URL_, headers: bob.headers })).json().total
      const cases: Array<[Record<string, unknown>, string, string?]> = [
        [{ base_url: 'https://a.example.com', key: 'k', model: 'm' }, 'name'],
        [body({ name: '' }), 'name'],
        [body({ name: '   ' }), 'name'],
        [body({ name: 'x'.repeat(101) }), 'name'],
        [body({ key: undefined }), 'key'],
        [body({ key: 'has space' }), 'key'],
        [body({ key: 'line\nbreak' }), 'key'],
        [body({ model: '' }), 'model'],
        [body({ type: 'azure' }), 'type'],
        [body({ base_url: 'not a url' }), 'base_url'],
        [body({ base_url: 'ftp://files.example.com' }), 'base_url'],
        [body({ base_url: 'https://user:pass@api.example.com' }), 'base_url'],
        [body({ base_url: 'https://api.example.com/?x=1' }), 'base_url'],
        [body({ base_url: 'http://api.example.com' }), 'base_url', 'address_not_allowed'],
        [body({ extra: 1 }), 'extra'],
      ]
      for (const [payload, param, code] of cases) {
        const res = await app.inject({ method: 'POST', url: URL_, headers: bob.headers, payload })
        t.equal(res.statusCode, 400, JSON.stringify(payload))
        t.match(res.json().error, { type: 'invalid_request_error', param, code: code ?? 'invalid_request' }, JSON.stringify(payload))
      }
      const existing = (await app.inject({ method: 'POST', url: URL_, headers: bob.headers, payload: body({ name: 'valid' }) })).json()
      const patch = await app.inject({ method: 'PATCH', url: `${URL_}/${existing.id}`, headers: bob.headers, payload: { base_url: 'https://10.0.0.1' } })
      t.equal(patch.statusCode, 400)
      t.equal(patch.json().error.code, 'address_not_allowed')
      t.equal((await app.inject({ method: 'GET', url: `${URL_}/${existing.id}`, headers: bob.headers })).json().base_url, 'https://api.example.com', 'unchanged')
      t.equal((await app.inject({ method: 'GET', url: URL_, headers: bob.headers })).json().total, before + 1, 'only the valid one was saved')
      const badId = await app.inject({ method: 'GET', url: `${URL_}/abc`, headers: bob.headers })
      t.equal(badId.statusCode, 400)
    })

    t.test('save time, private addresses refused: every loopback/private/special literal and localhost → 400 address_not_allowed', async (t) => {
      const urls = [
        'http://127.0.0.1', 'https://127.0.0.1', 'https://[::1]', 'https://169.254.169.254', 'https://10.0.0.1',
        'https://[::ffff:127.0.0.1]', 'https://[64:ff9b::7f00:1]', 'https://0.0.0.0', 'https://100.64.0.1',
        'https://2130706433', 'https://0x7f.1', 'https://[fd00::1]', 'https://192.168.0.10:8443/v1', 'https://localhost:11434',
        'https://api.localhost',
      ]
      for (const base_url of urls) {
        const res = await app.inject({ method: 'POST', url: URL_, headers: alice.headers, payload: body({ name: `ssrf-${base_url}`.slice(0, 100), base_url }) })
        t.equal(res.statusCode, 400, base_url)
        t.match(res.json().error, { code: 'address_not_allowed', param: 'base_url', type: 'invalid_request_error' }, base_url)
      }
      const list = (await app.inject({ method: 'GET', url: URL_, headers: alice.headers })).json()
      t.notOk(list.data.some((a: { name: string }) => a.name.startsWith('ssrf-')), 'none was saved')
    })
  })
}

t.test('with PERSONAL_API_ALLOW_PRIVATE=true, http and private addresses may be saved', async (t) => {
  const [backend] = backends()
  const { app } = await buildApp(t, backend!, { env: { PERSONAL_API_ALLOW_PRIVATE: 'true' } })
  const carol = await makeUser(app, 'carol')
  for (const base_url of ['http://127.0.0.1:11434', 'http://localhost:8000/v1', 'https://10.0.0.5']) {
    const res = await app.inject({ method: 'POST', url: URL_, headers: carol.headers, payload: body({ name: base_url, base_url }) })
    t.equal(res.statusCode, 201, `${base_url}: ${res.body}`)
  }
  const creds = await app.inject({ method: 'POST', url: URL_, headers: carol.headers, payload: body({ name: 'c', base_url: 'http://u:p@127.0.0.1' }) })
  t.equal(creds.statusCode, 400, 'credentials in the URL are refused whatever the setting')
})
