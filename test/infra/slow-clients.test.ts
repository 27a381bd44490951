// Issue 9 item 4: slow clients held connections forever (200 sockets dripping a login body one byte per 5 s stayed
// open 75 s and more; 50 dripping headers likewise). The request and its headers now have deadlines, counted from
// the request's first byte; a long streamed response is never cut by them.
import Fastify from 'fastify'
import net from 'node:net'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { serverOptions } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { backends, sqliteBackend } from '../support/backends.js'
import { buildApp } from '../support/build-app.js'
import { chat, post, startRig } from '../relay/fixture.js'

const TIMEOUTS = { REQUEST_TIMEOUT_MS: '1000', HEADERS_TIMEOUT_MS: '500' }
/** Generous against the 1 s / 0.5 s limits (Node checks them every 125 ms here), far below "forever". */
const CLOSED_WITHIN_MS = 3_000
const SOCKETS = 20
/** A dripping client sends a byte this often: well inside any idle timeout, so only the deadlines can stop it. */
const DRIP_MS = 100

interface Dripped {
  /** Time until the server closed the socket; Infinity when the test gave up on it. */
  closedAfterMs: number
  /** What the server wrote before closing. */
  response: string
}

/**
 * Opens a raw socket to 127.0.0.1, writes `head`, then one byte of `drip` every DRIP_MS until the server
 * closes it. Gives up (and destroys the socket) after `giveUpMs`, so a failing test still ends.
 */
function dripClient(port: number, head: string, drip: string, giveUpMs = CLOSED_WITHIN_MS + 2_000): Promise<Dripped> {
  return new Promise((resolve) => {
    const started = Date.now()
    const socket = net.connect(port, '127.0.0.1')
    let response = ''
    let sent = 0
    let timer: NodeJS.Timeout | undefined
    const giveUp = setTimeout(() => {
      finish(Infinity)
      socket.destroy()
    }, giveUpMs)
    const finish = (closedAfterMs: number) => {
      clearInterval(timer)
      clearTimeout(giveUp)
      resolve({ closedAfterMs, response })
    }
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => (response += chunk))
    socket.on('error', () => {})
    socket.on('close', () => finish(Date.now() - started))
    socket.on('connect', () => {
      if (head) socket.write(head)
      timer = setInterval(() => {
        if (drip && socket.writable) socket.write(drip[sent++ % drip.length] ?? ' ')
      }, DRIP_MS)
    })
  })
}

for (const backend of backends()) {
  t.test(`${backend.name}: slow clients are cut off; long streamed responses are not`, async (t) => {
    const rig = await startRig(t, backend, { env: TIMEOUTS, upstream: { chunks: 25, paceMs: 100 } })
    const port = Number(new URL(rig.url).port)

    t.test(`${SOCKETS} sockets dripping a login body are closed within ${CLOSED_WITHIN_MS} ms`, async (t) => {
      const body = JSON.stringify({ username: 'root', password: 'x'.repeat(200) })
      const head = `POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`
      const results = await Promise.all(Array.from({ length: SOCKETS }, () => dripClient(port, head, body)))
      for (const r of results) {
        t.ok(r.closedAfterMs < CLOSED_WITHIN_MS, `closed after ${r.closedAfterMs} ms`)
        t.ok(r.closedAfterMs >= 900, 'not before the request timeout')
        t.match(r.response, /^HTTP\/1\.1 408 /)
        t.match(r.response, /"code":"request_timeout"/, 'in the OpenAI error shape')
      }
    })

    t.test(`${SOCKETS} sockets dripping headers are closed within ${CLOSED_WITHIN_MS} ms`, async (t) => {
      const head = 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n'
      const results = await Promise.all(Array.from({ length: SOCKETS }, () => dripClient(port, head, 'X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa')))
      for (const r of results) {
        t.ok(r.closedAfterMs < CLOSED_WITHIN_MS, `closed after ${r.closedAfterMs} ms`)
        t.ok(r.closedAfterMs >= 400, 'not before the headers timeout')
        t.match(r.response, /^HTTP\/1\.1 408 /)
      }
    })

    t.test('a socket that connects and sends nothing is closed by the headers timeout', async (t) => {
      const r = await dripClient(port, '', '')
      t.ok(r.closedAfterMs < CLOSED_WITHIN_MS, `closed after ${r.closedAfterMs} ms`)
    })

    t.test('a streamed response longer than the request timeout is delivered whole', async (t) => {
      const model = 'slow-stream-model'
      await rig.price(model)
      await rig.channel({ key: 'ok-slow-stream', models: [model] })
      const { key } = await rig.token()
      const started = Date.now()
      const res = await post(rig, '/v1/chat/completions', key, chat(model, { stream: true }))
      const text = await res.text()
      t.equal(res.status, 200, text.slice(0, 300))
      const elapsed = Date.now() - started
      t.ok(elapsed > 2_000, `the stream lasted ${elapsed} ms, twice the request timeout`)
      const events = text.split('\n\n').filter((e) => e.startsWith('data: '))
      t.equal(events.at(-1), 'data: [DONE]')
      const streamed = events
        .slice(0, -1)
        .map((e) => (JSON.parse(e.slice(6)) as { choices: { delta?: { content?: string } }[] }).choices[0]?.delta?.content ?? '')
        .join('')
      t.equal(streamed, Array.from({ length: 25 }, (_, i) => `w${i} `).join(''), 'every chunk arrived')
    })

    t.test('a keep-alive socket idle for longer than the request timeout still serves its next request', async (t) => {
      const socket = net.connect(port, '127.0.0.1')
      t.teardown(() => socket.destroy())
      socket.setEncoding('utf8')
      let received = ''
      socket.on('data', (chunk: string) => (received += chunk))
      socket.on('error', () => {})
      const until = async (count: number) => {
        const deadline = Date.now() + 2_000
        while ((received.match(/HTTP\/1\.1 200 /g)?.length ?? 0) < count && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 20))
        }
      }
      const request = 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()))
      socket.write(request)
      await until(1)
      await new Promise((resolve) => setTimeout(resolve, 1_500))
      t.notOk(socket.destroyed, 'still open after 1.5 s idle')
      socket.write(request)
      await until(2)
      t.equal(received.match(/HTTP\/1\.1 200 /g)?.length, 2)
      // The status line, not any 408 (a request id may hold those digits).
      t.notMatch(received, /HTTP\/1\.1 408 /)
    })
  })
}

t.test('the timeouts reach the HTTP server; a headers timeout above the request timeout is lowered to it', async (t) => {
  const { app, config } = await buildApp(t, sqliteBackend, { env: TIMEOUTS })
  t.equal(config.requestTimeoutMs, 1000)
  t.equal(app.server.requestTimeout, 1000)
  t.equal(app.server.headersTimeout, 500)

  const inverted = loadConfig({ REQUEST_TIMEOUT_MS: '800', HEADERS_TIMEOUT_MS: '5000', LOG_LEVEL: 'silent' })
  const server = Fastify(serverOptions(inverted, false))
  t.teardown(() => server.close())
  await server.listen({ port: 0, host: '127.0.0.1' })
  t.ok((server.server.address() as AddressInfo).port > 0)
  t.equal(server.server.requestTimeout, 800)
  t.equal(server.server.headersTimeout, 800)

  const defaults = loadConfig({ LOG_LEVEL: 'silent' })
  const plain = Fastify(serverOptions(defaults, false))
  t.teardown(() => plain.close())
  await plain.ready()
  t.equal(plain.server.requestTimeout, 60_000)
  t.equal(plain.server.headersTimeout, 15_000)
  t.equal(plain.server.keepAliveTimeout, 72_000)
})
