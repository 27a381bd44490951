// The per-user chat rate limit (CHAT_RATE_LIMIT_PER_MIN, CONTRACT §8): HTTP turns and WebSocket messages count
// against one limit per user, kept in the shared cache (Redis on the mysql+redis backend, so a second instance of
// the same deployment sees the same count): 429 rate_limit_error over HTTP, a `rate_limited` error frame over WS.
import type { FastifyInstance } from 'fastify'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { backends } from '../support/backends.js'
import { bearer, buildApp, login, type TestApp } from '../support/build-app.js'
import { startFakeUpstream } from '../support/fake-upstream.js'
import { registerUser } from '../users/support.js'
import { MODEL, ofType, openSocket } from './support.js'

for (const backend of backends()) {
  t.test(backend.name, async (t) => {
    const upstream = await startFakeUpstream()
    t.teardown(() => upstream.close())
    const provisioned = await backend.provision()
    const instances: TestApp[] = []
    // Both instances closed before their shared database goes, whatever order tap runs teardowns in.
    t.teardown(async () => {
      for (const instance of instances) await instance.close()
      await provisioned.drop()
    })
    const env = { CHAT_RATE_LIMIT_PER_MIN: '3' }
    // Two instances of one deployment: one database, one cache prefix (Redis on mysql+redis).
    const first = await buildApp(t, backend, { env, share: { provisioned } as TestApp })
    instances.push(first)
    const app = first.app
    await app.listen({ port: 0, host: '127.0.0.1' })
    t.teardown(() => app.server.closeAllConnections())
    const admin = await login(app)
    const inject = (session: string, method: 'GET' | 'POST' | 'PUT', url: string, payload?: object) =>
      app.inject({ method, url, headers: bearer(session), ...(payload ? { payload } : {}) })
    t.equal((await inject(admin, 'POST', '/api/channel', { name: 'c', key: 'ok-chat', base_url: upstream.url, models: [MODEL] })).statusCode, 201)
    t.equal((await inject(admin, 'PUT', `/api/pricing/${MODEL}`, { input_per_1m: '1', output_per_1m: '2' })).statusCode, 200)
    const carol = await registerUser(app, 'carol')
    const dave = await registerUser(app, 'dave')
    for (const user of [carol, dave]) await inject(admin, 'POST', `/api/user/${user.id}/quota`, { delta: 1_000_000, remark: 'rate tests' })

    const conv = (await inject(carol.token, 'POST', '/api/conversations', { model: MODEL })).json() as { id: number }
    const turn = (target: FastifyInstance, session: string, id: number) =>
      target.inject({ method: 'POST', url: `/api/conversations/${id}/messages`, headers: bearer(session), payload: { content: 'hi' } })

    t.equal((await turn(app, carol.token, conv.id)).statusCode, 201)
    t.equal((await turn(app, carol.token, conv.id)).statusCode, 201)

    const port = (app.server.address() as AddressInfo).port
    const socket = await openSocket(t, `ws://127.0.0.1:${port}/ws/chat`, { authorization: `Bearer ${carol.token}` })
    await socket.next(ofType('ready'))
    socket.send({ type: 'message', conversation_id: conv.id, content: 'third, by socket' })
    t.match(await socket.next(ofType('done')), { status: 'complete' }, 'the third turn, over the socket')
    socket.send({ type: 'message', conversation_id: conv.id, content: 'fourth, by socket' })
    t.match(await socket.next(ofType('error')), { type: 'error', code: 'rate_limited', message: /3 turns per minute/ })
    t.equal(socket.ws.readyState, socket.ws.OPEN, 'the socket stays open')

    const http = await turn(app, carol.token, conv.id)
    t.equal(http.statusCode, 429, 'HTTP turns share the count')
    t.match(http.json(), { error: { type: 'rate_limit_error', code: 'rate_limited' } })
    t.ok(Number(http.headers['retry-after']) >= 1, 'with retry-after')
    const page = (await inject(carol.token, 'GET', `/api/conversations/${conv.id}/messages`)).json() as { data: unknown[] }
    t.equal(page.data.length, 6, 'refused turns stored nothing')

    if (backend.name === 'mysql+redis') {
      const second = await buildApp(t, backend, { env, share: first })
      instances.push(second)
      t.equal((await turn(second.app, carol.token, conv.id)).statusCode, 429, 'a second instance sees the same count')
    }

    const other = (await inject(dave.token, 'POST', '/api/conversations', { model: MODEL })).json() as { id: number }
    t.equal((await turn(app, dave.token, other.id)).statusCode, 201, 'another user has a limit of their own')
    t.equal((await inject(carol.token, 'GET', `/api/conversations/${conv.id}`)).statusCode, 200, 'other chat routes are not limited')
    await socket.close()
  })
}
