import t from 'tap'
import { uuidv7 } from '../../src/infra/request-id.js'
import { backends } from '../support/backends.js'
import { buildApp } from '../support/build-app.js'

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

/** The 48-bit millisecond timestamp at the front of a UUIDv7. */
const timestampOf = (id: string) => parseInt(id.slice(0, 8) + id.slice(9, 13), 16)

t.test('uuidv7: valid version 7 / variant 10 ids carrying the current millisecond', async (t) => {
  const before = Date.now()
  const id = uuidv7()
  const after = Date.now()
  t.match(id, V7)
  t.ok(timestampOf(id) >= before && timestampOf(id) <= after + 1, 'timestamp is now')
})

t.test('uuidv7: 100k ids in a tight loop are unique and strictly increasing (as strings and as bytes)', async (t) => {
  const ids: string[] = new Array(100_000)
  for (let i = 0; i < ids.length; i++) ids[i] = uuidv7()
  let ordered = true
  let valid = true
  for (let i = 0; i < ids.length; i++) {
    if (!V7.test(ids[i]!)) valid = false
    if (i > 0 && !(ids[i - 1]! < ids[i]!)) ordered = false
  }
  t.ok(valid, 'every id is a valid v7')
  t.ok(ordered, 'each id sorts after the one before')
  t.equal(new Set(ids).size, ids.length, 'no duplicates')
})

t.test('uuidv7: a clock that steps back never makes an id go backwards', async (t) => {
  const now = Date.now() + 10_000
  const a = uuidv7(now)
  const b = uuidv7(now - 5_000)
  const c = uuidv7(now)
  t.ok(a < b && b < c)
  t.equal(timestampOf(b), timestampOf(a), 'the last timestamp is kept')
})

for (const backend of backends().slice(0, 1)) {
  t.test(`request ids over HTTP (${backend.name})`, async (t) => {
    const { app } = await buildApp(t, backend)
    t.test('generated ids are UUIDv7 and increase from request to request', async (t) => {
      const first = (await app.inject({ method: 'GET', url: '/healthz' })).headers['x-request-id']
      const second = (await app.inject({ method: 'GET', url: '/healthz' })).headers['x-request-id']
      t.match(first, V7)
      t.match(second, V7)
      t.ok(String(first) < String(second))
    })
    t.test("a sane client id is echoed; anything else is replaced by a v7", async (t) => {
      const echoed = await app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': 'client-req-42' } })
      t.equal(echoed.headers['x-request-id'], 'client-req-42')
      const replaced = await app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': 'bad id\twith spaces' } })
      t.match(replaced.headers['x-request-id'], V7)
      const tooLong = await app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': 'a'.repeat(129) } })
      t.match(tooLong.headers['x-request-id'], V7)
    })
  })
}
