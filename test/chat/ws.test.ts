// The chat WebSocket (CONTRACT §8): authorised before the upgrade completes (header or ?token=, which never reaches
// the log), `ready` first, turns streamed as chunk frames, others' conversations refused, bad frames answered with
// error frames on a socket that stays open. Cancels and dropped clients: ws-cancel.test.ts.
import t, { type Test } from 'tap'
import Fastify from 'fastify'
import type { AddressInfo } from 'node:net'
import gateway, { serverOptions } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { backends, sqliteBackend } from '../support/backends.js'
import { ADMIN, TEST_ENCRYPTION_KEY, login } from '../support/build-app.js'
import { MODEL, ofType, openSocket, startChatRig, type ChatSocket } from './support.js'

for (const backend of backends()) {
  t.test(backend.name, async (t) => {
    const rig = await startChatRig(t, backend)
    const alice = await rig.user('alice')
    const bob = await rig.user('bob')
    const connect = async (t: Test, session = alice.token): Promise<ChatSocket> => {
      const socket = await openSocket(t, rig.wsUrl(), { authorization: `Bearer ${session}` })
      t.same(await socket.next(), { type: 'ready' }, 'ready first')
      return socket
    }

    t.test('the upgrade is authorised first: header or ?token=, anything else refused with 401', async (t) => {
      const byHeader = await connect(t)
      t.equal(byHeader.ws.readyState, byHeader.ws.OPEN)
      const byQuery = await openSocket(t, rig.wsUrl(`?token=${encodeURIComponent(alice.token)}`))
      t.same(await byQuery.next(), { type: 'ready' })
      const refused = (url: string, headers?: Record<string, string>) =>
        openSocket(t, url, headers).then(
          () => 101,
          (err: { statusCode?: number }) => err.statusCode,
        )
      t.equal(await refused(rig.wsUrl()), 401, 'no session')
      t.equal(await refused(rig.wsUrl('?token=not-a-jwt')), 401, 'a bad token')
      t.equal(await refused(rig.wsUrl(), { authorization: 'Bearer nope' }), 401, 'a bad header')
      await byHeader.close()
      await byQuery.close()
    })

    t.test('a message without conversation_id starts a conversation; chunks, then done', async (t) => {
      const socket = await connect(t)
      socket.send({ type: 'message', content: 'Hello over ws', model: MODEL })
      const first = await socket.next(ofType('chunk'))
      t.match(first, { type: 'chunk', conversation_id: Number, content: 'w0 ' })
      const done = await socket.next(ofType('done'))
      t.match(done, { type: 'done', conversation_id: first.conversation_id, message_id: Number, usage: { prompt_tokens: 10, completion_tokens: 20 }, status: 'complete' })
      const chunks = socket.frames.filter((f) => f.type === 'chunk')
      t.equal(chunks.length, 20)
      const conv = (await rig.call(alice.token, 'GET', `/api/conversations/${done.conversation_id}`)).body
      t.match(conv, { title: 'Hello over ws', model: MODEL, message_count: 2, token_used: 30 })
      const page = (await rig.call(alice.token, 'GET', `/api/conversations/${done.conversation_id}/messages`)).body.data
      t.equal(page[1].id, done.message_id)
      t.equal(page[1].content, chunks.map((c) => c.content).join(''))

      // The same connection continues that conversation when told so, with its context.
      socket.send({ type: 'message', conversation_id: done.conversation_id, content: 'and again' })
      t.match(await socket.next(ofType('done')), { conversation_id: done.conversation_id, status: 'complete' })
      t.equal(((rig.upstream.lastFor('ok-chat')?.body as { messages: unknown[] }).messages).length, 3)
      await socket.close()
    })

    t.test("another user's conversation: an error frame, nothing stored, the socket stays usable", async (t) => {
      const mine = (await rig.call(alice.token, 'POST', '/api/conversations', { model: MODEL })).body.id
      const socket = await connect(t, bob.token)
      socket.send({ type: 'message', conversation_id: mine, content: 'let me in' })
      t.match(await socket.next(), { type: 'error', code: 'not_found' })
      t.equal(await rig.messageRows(mine), 0)
      socket.send({ type: 'message', content: 'my own then', model: MODEL })
      t.match(await socket.next(ofType('done')), { status: 'complete' })
      await socket.close()
    })

    t.test('bad frames get error frames; the socket stays open', async (t) => {
      const socket = await connect(t)
      const cases: [unknown, string][] = [
        ['this is not json', 'invalid_json'],
        ['{"type":"message","content":', 'invalid_json'],
        ['[1,2]', 'unknown_type'],
        [{ type: 'dance' }, 'unknown_type'],
        [{ content: 'no type' }, 'unknown_type'],
        [{ type: 'message' }, 'invalid_request'],
        [{ type: 'message', content: '' }, 'invalid_request'],
        [{ type: 'message', content: 'x', conversation_id: 'abc' }, 'invalid_request'],
        [{ type: 'message', content: 'x', surprise: true }, 'invalid_request'],
        [{ type: 'message', content: 'x', model: 'not a model name' }, 'invalid_request'],
        [{ type: 'message', content: 'x' }, 'invalid_request'],
      ]
      for (const [frame, code] of cases) {
        socket.send(frame)
        const error = await socket.next()
        t.match(error, { type: 'error', code, message: String }, `${JSON.stringify(frame)} → ${code}`)
      }
      socket.ws.send(Buffer.from([1, 2, 3]), { binary: true })
      t.match(await socket.next(), { type: 'error', code: 'invalid_json' }, 'a binary frame')
      t.equal(socket.ws.readyState, socket.ws.OPEN)
      socket.send({ type: 'message', content: 'still here', model: MODEL })
      t.match(await socket.next(ofType('done')), { status: 'complete' })
      await socket.close()
    })

  })
}

t.test('the session token of ?token= never reaches the log', async (t) => {
  const lines: string[] = []
  const provisioned = await sqliteBackend.provision()
  t.teardown(() => provisioned.drop())
  const config = loadConfig({
    DATABASE_URL: provisioned.databaseUrl,
    JWT_SECRET: 'test-jwt-secret-0123456789abcdef',
    ENCRYPTION_KEY: TEST_ENCRYPTION_KEY,
    ADMIN_USERNAME: ADMIN.username,
    ADMIN_PASSWORD: ADMIN.password,
    ROOT_INITIAL_QUOTA: '0',
  })
  const stream = { write: (line: string) => void lines.push(line) }
  const app = Fastify(serverOptions(config, { level: 'info', stream }))
  await app.register(gateway, { config, cachePrefix: provisioned.cachePrefix })
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  const session = await login(app)
  const url = `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}/ws/chat`
  const socket = await openSocket(t, `${url}?token=${encodeURIComponent(session)}`)
  t.same(await socket.next(), { type: 'ready' })
  await socket.close()
  const refused = await openSocket(t, `${url}?lang=en&token=${encodeURIComponent(session)}x`).then(
    () => 101,
    (err: { statusCode?: number }) => err.statusCode,
  )
  t.equal(refused, 401)
  const logged = lines.join('')
  t.match(logged, /\/ws\/chat\?token=\[redacted\]/)
  t.match(logged, /\/ws\/chat\?lang=en&token=\[redacted\]/)
  t.notOk(logged.includes(session), 'the JWT is in no log line')
  t.notOk(logged.includes(session.split('.')[2]!), 'nor its signature')
})
