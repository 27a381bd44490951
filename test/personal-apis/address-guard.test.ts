// The outbound guard of personal APIs on its own: which addresses pass, and the Agent that checks every address at
// connect time (IP literals, names that resolve to loopback, any one bad address among several), never follows a
// redirect, and cuts and redacts error bodies. Everything here connects to 127.0.0.1 or nowhere.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import type { Dispatcher } from 'undici'
import { ApiError } from '../../src/errors.js'
import { createPersonalApiAgent, type Resolve } from '../../src/infra/safe-upstream.js'
import { ERROR_BODY_LIMIT } from '../../src/infra/upstream-error-guard.js'
import { callUpstream } from '../../src/relay/upstream-call.js'
import { addressRefusal } from '../../src/security/address-guard.js'
import { redactKeys } from '../../src/security/redact-keys.js'

const KEY = 'sk-personal0123456789abcdefghijklmnopqrstuvwxyzABCD'

interface Local {
  url: string
  hits: number
  close(): Promise<void>
}

/** A loopback HTTP server answering every request with `answer`. */
async function localServer(answer: (req: http.IncomingMessage, res: http.ServerResponse) => void): Promise<Local> {
  const local = { url: '', hits: 0, close: async () => {} }
  const server = http.createServer((req, res) => {
    local.hits += 1
    req.resume()
    req.on('end', () => answer(req, res))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  local.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  local.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
  return local
}

async function call(dispatcher: Dispatcher, url: string, headers: Record<string, string> = { authorization: `Bearer ${KEY}` }) {
  const response = await callUpstream(
    dispatcher,
    { url: new URL(url), method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: Buffer.from('{}'), headersTimeoutMs: 5_000 },
    AbortSignal.timeout(5_000),
  )
  const body = await response.read(1024 * 1024)
  return { status: response.status, headers: response.headers, body: body.toString('utf8') }
}

async function refusal(dispatcher: Dispatcher, url: string): Promise<unknown> {
  return call(dispatcher, url).then(
    () => null,
    (err: unknown) => err,
  )
}

t.test('addressRefusal: public unicast passes; every private, special and embedded form is refused', async (t) => {
  const refused = [
    '127.0.0.1', '127.1.2.3', '::1', '169.254.169.254', '10.0.0.1', '172.16.5.4', '192.168.1.1', '0.0.0.0', '::',
    '100.64.0.1', '224.0.0.1', '255.255.255.255', '240.0.0.1', '192.0.2.1', 'fc00::1', 'fd12:3456::1', 'fe80::1',
    'ff02::1', '::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:10.0.0.1', '::ffff:169.254.169.254', '64:ff9b::7f00:1',
    '64:ff9b::a00:1', '64:ff9b:1::1', '2002:7f00:1::1', '::7f00:1', '2001:db8::1', '100::1', 'not-an-ip',
  ]
  for (const address of refused) t.not(addressRefusal(address), null, `${address} refused`)
  const allowed = ['8.8.8.8', '1.1.1.1', '93.184.216.34', '2606:4700::1111', '2a00:1450:4001::200e', '::ffff:8.8.8.8', '64:ff9b::808:808']
  for (const address of allowed) t.equal(addressRefusal(address), null, `${address} allowed`)
  t.equal(addressRefusal('169.254.169.254'), 'linkLocal')
  t.equal(addressRefusal('64:ff9b::7f00:1'), 'loopback', 'NAT64 is judged by the IPv4 address it carries')
})

t.test('redactKeys: the key and anything key-like are cut out', async (t) => {
  const text = `Incorrect API key provided: ${KEY}. Also sk-ab***wxyz, AIzaSyA1234567890abcdefghijklmno, Bearer abc.def and token 0123456789abcdef0123456789abcdef0123`
  const out = redactKeys(text, KEY)
  t.notOk(out.includes(KEY))
  t.notOk(out.includes('sk-ab'))
  t.notOk(out.includes('AIza'))
  t.notOk(out.includes('abc.def'))
  t.notOk(out.includes('0123456789abcdef0123456789abcdef'))
  t.ok(out.startsWith('Incorrect API key provided: [redacted]'))
  t.equal(redactKeys('model gpt-4o-mini is not available'), 'model gpt-4o-mini is not available', 'ordinary text is kept')
})

t.test('with private addresses refused', async (t) => {
  const upstream = await localServer((_req, res) => res.end('{"ok":true}'))
  t.teardown(() => upstream.close())
  const resolved: string[] = []
  // Names resolve through this seam: `rebind.test` to loopback, `mixed.test` to a public address and a private one.
  const resolve: Resolve = async (hostname) => {
    resolved.push(hostname)
    if (hostname === 'rebind.test') return [{ address: '127.0.0.1', family: 4 }]
    if (hostname === 'mixed.test') return [{ address: '93.184.216.34', family: 4 }, { address: '10.1.2.3', family: 4 }]
    if (hostname === 'metadata.test') return [{ address: '::ffff:169.254.169.254', family: 6 }]
    throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' })
  }
  const { agent, dispatcher } = createPersonalApiAgent({ allowPrivate: false, headersTimeoutMs: 5_000, resolve })
  t.teardown(() => agent.close())
  const port = new URL(upstream.url).port

  const literals = [
    `http://127.0.0.1:${port}`, `https://127.0.0.1:${port}`, `https://[::1]:${port}`, 'https://169.254.169.254',
    'https://10.0.0.1', 'https://[::ffff:127.0.0.1]', 'https://[64:ff9b::7f00:1]', 'https://0.0.0.0', 'https://100.64.0.1',
  ]
  for (const url of literals) {
    const err = await refusal(dispatcher, `${url}/v1/chat/completions`)
    t.ok(err instanceof ApiError, `${url} refused by the gateway`)
    t.match(err, { statusCode: 400, code: 'address_not_allowed' }, url)
  }

  for (const host of ['rebind.test', 'mixed.test', 'metadata.test']) {
    const err = await refusal(dispatcher, `https://${host}:${port}/v1/chat/completions`)
    t.match(err, { statusCode: 400, code: 'address_not_allowed' }, `${host}: a resolved address is refused at connect time`)
    t.notOk(String((err as Error).message).match(/127\.0\.0\.1|10\.1\.2\.3|169\.254/), 'the resolved address is not disclosed')
  }
  t.same(resolved, ['rebind.test', 'mixed.test', 'metadata.test'], 'each name was resolved by the guard when connecting')

  // A second connection resolves again: nothing that passed once is trusted later.
  await refusal(dispatcher, `https://rebind.test:${port}/again`)
  t.equal(resolved.filter((h) => h === 'rebind.test').length, 2)
  t.equal(upstream.hits, 0, 'nothing reached the loopback server')
})

t.test('`localhost` through the system resolver is refused at connect time', async (t) => {
  const upstream = await localServer((_req, res) => res.end('{"ok":true}'))
  t.teardown(() => upstream.close())
  const { agent, dispatcher } = createPersonalApiAgent({ allowPrivate: false, headersTimeoutMs: 5_000 })
  t.teardown(() => agent.close())
  const err = await refusal(dispatcher, `https://localhost:${new URL(upstream.url).port}/v1/chat/completions`)
  t.match(err, { statusCode: 400, code: 'address_not_allowed' })
  t.equal(upstream.hits, 0)
})

t.test('with private addresses allowed: redirects are answers, error bodies are cut and redacted', async (t) => {
  const target = await localServer((_req, res) => res.end('{"reached":true}'))
  t.teardown(() => target.close())
  const longText = `error ${'x'.repeat(20_000)} ${KEY}`
  const upstream = await localServer((req, res) => {
    if (req.url === '/redirect') {
      res.writeHead(302, { location: `${target.url}/v1/chat/completions` })
      return res.end()
    }
    if (req.url === '/json-error') {
      res.writeHead(401, { 'content-type': 'application/json' })
      return res.end(JSON.stringify({ error: { message: `Incorrect API key provided: ${KEY}`, type: 'invalid_request_error', code: 'invalid_api_key' } }))
    }
    if (req.url === '/long-error') {
      res.writeHead(400, { 'content-type': 'text/plain' })
      return res.end(longText)
    }
    if (req.url === '/endless-error') {
      res.writeHead(500, { 'content-type': 'text/plain' })
      const chunk = `${KEY} `.repeat(1000)
      const timer = setInterval(() => res.write(chunk), 1)
      res.on('close', () => clearInterval(timer))
      return
    }
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ echo: KEY }))
  })
  t.teardown(() => upstream.close())
  const { agent, dispatcher } = createPersonalApiAgent({ allowPrivate: true, headersTimeoutMs: 5_000 })
  t.teardown(() => agent.close())

  const redirected = await call(dispatcher, `${upstream.url}/redirect`)
  t.equal(redirected.status, 302, 'the redirect comes back as it is')
  t.equal(target.hits, 0, 'and is not followed')

  const json = await call(dispatcher, `${upstream.url}/json-error`)
  t.equal(json.status, 401)
  t.notOk(json.body.includes(KEY), 'the key is cut out of the error')
  t.match(JSON.parse(json.body), { error: { message: 'Incorrect API key provided: [redacted]', code: 'invalid_api_key' } }, 'the rest of the error object is kept')

  const long = await call(dispatcher, `${upstream.url}/long-error`)
  t.equal(long.status, 400)
  t.ok(Buffer.byteLength(long.body) <= ERROR_BODY_LIMIT, `cut to at most ${ERROR_BODY_LIMIT} bytes (${Buffer.byteLength(long.body)})`)
  t.equal(long.headers['content-length'], String(Buffer.byteLength(long.body)))
  t.match(JSON.parse(long.body), { error: { type: 'upstream_error', message: /^error x+/ } })
  t.notOk(long.body.includes(KEY))

  const endless = await call(dispatcher, `${upstream.url}/endless-error`)
  t.equal(endless.status, 500, 'an error body that never ends is cut off, and the error still answers')
  t.notOk(endless.body.includes(KEY))

  const ok = await call(dispatcher, `${upstream.url}/v1/chat/completions`)
  t.equal(ok.status, 200)
  t.same(JSON.parse(ok.body), { echo: KEY }, 'success bodies pass untouched')
})
