// Conversations and their messages (CONTRACT §8): CRUD, the caller's own only (anyone else's is a 404 on every
// route), pagination of messages, `?keyword=` over titles with LIKE's wildcards taken literally.
import { eq } from 'drizzle-orm'
import t from 'tap'
import { backends } from '../support/backends.js'
import { MODEL, startChatRig } from './support.js'

for (const backend of backends()) {
  t.test(backend.name, async (t) => {
    const rig = await startChatRig(t, backend)
    const alice = await rig.user('alice')
    const bob = await rig.user('bob')
    const call = rig.call

    t.test('create, read, list, update, delete', async (t) => {
      const created = await call(alice.token, 'POST', '/api/conversations', { model: MODEL, system_prompt: 'Be brief.' })
      t.equal(created.status, 201)
      t.match(created.body, { title: 'New chat', model: MODEL, api_id: null, system_prompt: 'Be brief.', message_count: 0, token_used: 0 })
      t.match(created.body.created_at, /^\d{4}-\d\d-\d\dT.*Z$/)
      const id = created.body.id as number

      t.same((await call(alice.token, 'GET', `/api/conversations/${id}`)).body, created.body)
      const patched = await call(alice.token, 'PATCH', `/api/conversations/${id}`, { title: 'Trip plans', system_prompt: null })
      t.equal(patched.status, 200)
      t.match(patched.body, { title: 'Trip plans', system_prompt: null, model: MODEL })

      // A title the user chose is not replaced by the first message.
      t.equal((await call(alice.token, 'POST', `/api/conversations/${id}/messages`, { content: 'first message here' })).status, 201)
      t.equal((await call(alice.token, 'GET', `/api/conversations/${id}`)).body.title, 'Trip plans')

      const list = await call(alice.token, 'GET', '/api/conversations')
      t.equal(list.status, 200)
      t.match(list.body, { total: 1, page: 1, page_size: 20 })
      t.equal(list.body.data[0].id, id)

      t.equal((await call(alice.token, 'DELETE', `/api/conversations/${id}`)).status, 204)
      t.equal((await call(alice.token, 'GET', `/api/conversations/${id}`)).status, 404)
      t.equal(await rig.messageRows(id), 0, 'its messages are gone too')
      t.equal((await call(alice.token, 'DELETE', `/api/conversations/${id}`)).status, 404)
    })

    t.test('the first message names a "New chat" with its first 30 characters', async (t) => {
      const id = (await call(alice.token, 'POST', '/api/conversations', { model: MODEL })).body.id
      const content = 'How do I  bake\nsourdough bread at home, step by step?'
      await call(alice.token, 'POST', `/api/conversations/${id}/messages`, { content })
      const conv = (await call(alice.token, 'GET', `/api/conversations/${id}`)).body
      t.equal(conv.title, 'How do I bake sourdough bread ')
      t.equal(Array.from(conv.title).length, 30)
      t.equal(conv.message_count, 2)
      await call(alice.token, 'POST', `/api/conversations/${id}/messages`, { content: 'second message' })
      t.equal((await call(alice.token, 'GET', `/api/conversations/${id}`)).body.title, conv.title, 'named once')
      const emoji = (await call(alice.token, 'POST', '/api/conversations', { model: MODEL })).body.id
      await call(alice.token, 'POST', `/api/conversations/${emoji}/messages`, { content: '😀'.repeat(40) })
      t.equal((await call(alice.token, 'GET', `/api/conversations/${emoji}`)).body.title, '😀'.repeat(30), 'characters, not UTF-16 units')
    })

    t.test("another user's conversation is a 404 on every route, and nothing changes", async (t) => {
      const id = (await call(alice.token, 'POST', '/api/conversations', { model: MODEL, title: 'private' })).body.id
      const attempts = [
        call(bob.token, 'GET', `/api/conversations/${id}`),
        call(bob.token, 'PATCH', `/api/conversations/${id}`, { title: 'mine now' }),
        call(bob.token, 'GET', `/api/conversations/${id}/messages`),
        call(bob.token, 'POST', `/api/conversations/${id}/messages`, { content: 'hello' }),
        call(bob.token, 'DELETE', `/api/conversations/${id}`),
      ]
      for (const res of await Promise.all(attempts)) {
        t.equal(res.status, 404)
        t.equal(res.body.error.type, 'invalid_request_error')
        t.equal(res.headers['x-should-retry'], 'false')
      }
      const still = (await call(alice.token, 'GET', `/api/conversations/${id}`)).body
      t.match(still, { title: 'private', message_count: 0 })
      t.notOk((await call(bob.token, 'GET', '/api/conversations')).body.data.some((c: { id: number }) => c.id === id), 'not in their list')
      t.equal((await call(bob.token, 'GET', '/api/conversations/999999')).status, 404)
    })

    t.test('sessions are checked before the body: anonymous → 401 whatever it sends', async (t) => {
      for (const [method, url] of [
        ['POST', '/api/conversations'],
        ['GET', '/api/conversations'],
        ['POST', '/api/conversations/1/messages'],
        ['GET', '/api/models'],
      ] as const) {
        const res = await rig.app.inject({ method, url, headers: { 'content-type': 'application/json' }, payload: '{broken' })
        t.equal(res.statusCode, 401, `${method} ${url}`)
      }
      const bad = await call(alice.token, 'POST', '/api/conversations', { title: 'x', color: 'red' })
      t.equal(bad.status, 400, 'unknown fields are refused')
      t.equal((await call(alice.token, 'POST', '/api/conversations', { title: '   ' })).status, 400, 'a blank title')
      t.equal((await call(alice.token, 'GET', '/api/conversations/0')).status, 400)
    })

    t.test('messages: pages of `limit` (≤ 200, default 50) before `before_id`, oldest first, with has_more', async (t) => {
      const id = (await call(alice.token, 'POST', '/api/conversations', { model: MODEL })).body.id
      const { db, t: tables } = rig.app.db
      // 120 stored messages, written straight to the table (a turn per pair would only slow the test).
      const rows = Array.from({ length: 120 }, (_, i) => ({
        conversationId: id,
        userId: alice.id,
        role: i % 2 === 0 ? 'user' : 'assistant',
        content: `m${i}`,
        createdAt: new Date(1_700_000_000_000 + i),
      }))
      await db.insert(tables.messages).values(rows)
      const ids = (await db.select({ id: tables.messages.id }).from(tables.messages).where(eq(tables.messages.conversationId, id))).map((r) => Number(r.id)).sort((a, b) => a - b)

      const first = (await call(alice.token, 'GET', `/api/conversations/${id}/messages`)).body
      t.equal(first.data.length, 50)
      t.equal(first.has_more, true)
      t.same(first.data.map((m: { content: string }) => m.content), Array.from({ length: 50 }, (_, i) => `m${70 + i}`), 'the newest 50, oldest first')
      t.match(first.data[0], { id: ids[70], role: 'user', status: 'complete', prompt_tokens: 0, completion_tokens: 0, model: null })

      const second = (await call(alice.token, 'GET', `/api/conversations/${id}/messages?limit=60&before_id=${first.data[0].id}`)).body
      t.same(second.data.map((m: { content: string }) => m.content), Array.from({ length: 60 }, (_, i) => `m${10 + i}`))
      t.equal(second.has_more, true)
      const last = (await call(alice.token, 'GET', `/api/conversations/${id}/messages?limit=60&before_id=${second.data[0].id}`)).body
      t.equal(last.data.length, 10)
      t.equal(last.has_more, false)
      const all = (await call(alice.token, 'GET', `/api/conversations/${id}/messages?limit=200`)).body
      t.equal(all.data.length, 120)
      t.equal(all.has_more, false)
      t.equal((await call(alice.token, 'GET', `/api/conversations/${id}/messages?limit=201`)).status, 400)
      t.equal((await call(alice.token, 'GET', `/api/conversations/${id}/messages?limit=0`)).status, 400)
    })

    t.test('?keyword= matches part of the title; % and _ match only themselves', async (t) => {
      const carol = await rig.user('carol')
      const titles = ['100% done', '100 percent', 'snake_case notes', 'snakeXcase notes', 'Holiday ideas']
      for (const title of titles) await call(carol.token, 'POST', '/api/conversations', { title })
      const search = async (keyword: string) =>
        (await call(carol.token, 'GET', `/api/conversations?keyword=${encodeURIComponent(keyword)}`)).body.data.map((c: { title: string }) => c.title).sort()
      t.same(await search('%'), ['100% done'])
      t.same(await search('0%'), ['100% done'])
      t.same(await search('_'), ['snake_case notes'])
      t.same(await search('e_c'), ['snake_case notes'])
      t.same(await search('holiday'), ['Holiday ideas'], 'ignoring case')
      t.same(await search('!'), [])
      t.same(await search('notes'), ['snakeXcase notes', 'snake_case notes'])
      const page = (await call(carol.token, 'GET', '/api/conversations?keyword=notes&page_size=1')).body
      t.match(page, { total: 2, page_size: 1 })
      t.equal(page.data.length, 1)
    })

    t.test('the list is most recently updated first', async (t) => {
      const erin = await rig.user('erin')
      const a = (await call(erin.token, 'POST', '/api/conversations', { title: 'a', model: MODEL })).body.id
      const b = (await call(erin.token, 'POST', '/api/conversations', { title: 'b', model: MODEL })).body.id
      t.same((await call(erin.token, 'GET', '/api/conversations')).body.data.map((c: { id: number }) => c.id), [b, a])
      await call(erin.token, 'POST', `/api/conversations/${a}/messages`, { content: 'bump' })
      t.same((await call(erin.token, 'GET', '/api/conversations')).body.data.map((c: { id: number }) => c.id), [a, b])
    })
  })
}
