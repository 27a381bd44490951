// `GET /v1/realtime` (CONTRACT §3): OpenAI's Realtime API relayed over WebSockets to a fake realtime upstream,
// the key swapped for the channel's, each `response.done` billed from its usage. The client is `ws` itself: the
// `openai` package's realtime client always dials `wss:`, which a plain 127.0.0.1 gateway does not serve.
import { like } from 'drizzle-orm'
import t from 'tap'
import WebSocket from 'ws'
import { backends, type Backend } from '../support/backends.js'
import { bearer } from '../support/build-app.js'
import { DRAIN_MS } from '../../src/relay/realtime/session.js'
import { CANCELLED_USAGE, REALTIME_USAGE, startFakeRealtime, TRANSCRIPTION_USAGE, type FakeRealtime } from '../support/fake-realtime.js'
import { eventually, startRig, type Rig } from './fixture.js'

const MODEL = 'gpt-realtime'
const UPSTREAM_MODEL = 'gpt-realtime-2025-08-28'
const CHANNEL_KEY = 'sk-channel-realtime-key-0001'
// USD per 1M tokens: input 4, cached input 0.4, output 16.
const PRICE = { input_per_1m: '4', output_per_1m: '16', cache_read_per_1m: '0.4' }

type Event = Record<string, unknown> & { type: string }

/** A client socket whose events are queued, so a test can wait for the next one of a type. */
class Client {
  readonly events: Event[] = []
  private waiters: Array<() => void> = []
  readonly closed: Promise<{ code: number; reason: string }>

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      this.events.push(JSON.parse(String(data)) as Event)
      for (const wake of this.waiters.splice(0)) wake()
    })
    this.closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })))
  }

  async next(type: string, ms = 5000): Promise<Event> {
    const until = Date.now() + ms
    for (;;) {
      const i = this.events.findIndex((e) => e.type === type)
      if (i >= 0) return this.events.splice(i, 1)[0] as Event
      if (Date.now() > until) throw new Error(`no ${type} event; got ${this.events.map((e) => e.type).join(', ')}`)
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve)
        setTimeout(resolve, 100)
      })
    }
  }

  send(event: Record<string, unknown>): void {
    this.ws.send(JSON.stringify(event))
  }
}

interface Refused {
  status: number
  body: { error?: { code?: string; type?: string; message?: string } }
  headers: Record<string, string | string[] | undefined>
}

/** Opens a realtime socket, or resolves with the HTTP answer that refused the upgrade. */
function connect(rig: Rig, query: string, opts: { headers?: Record<string, string>; protocols?: string[] } = {}): Promise<Client | Refused> {
  const ws = new WebSocket(`${rig.url.replace('http:', 'ws:')}/v1/realtime${query}`, opts.protocols ?? [], { headers: opts.headers })
  const client = new Client(ws)
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(client))
    ws.once('unexpected-response', (_req, res) => {
      let text = ''
      res.on('data', (chunk: Buffer) => (text += chunk.toString()))
      res.on('end', () => {
        ws.terminate()
        resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : {}, headers: res.headers })
      })
    })
    ws.once('error', (err) => reject(err))
  })
}

async function open(rig: Rig, query: string, opts: { headers?: Record<string, string>; protocols?: string[] } = {}): Promise<Client> {
  const result = await connect(rig, query, opts)
  if (!(result instanceof Client)) throw new Error(`upgrade refused: ${result.status} ${JSON.stringify(result.body)}`)
  return result
}

async function refused(rig: Rig, query: string, opts: { headers?: Record<string, string>; protocols?: string[] } = {}): Promise<Refused> {
  const result = await connect(rig, query, opts)
  if (result instanceof Client) {
    result.ws.close()
    throw new Error('the upgrade was accepted')
  }
  return result
}

/** CONTRACT §4, rounded up once: (uncached × input + cached × cache_read + output × output) × QUOTA_PER_USD. */
function expectedQuota(usage: ReturnType<typeof REALTIME_USAGE>, quotaPerUsd: number): number {
  const input = BigInt(usage.input_tokens ?? 0)
  const cached = BigInt(usage.input_token_details?.cached_tokens ?? 0)
  const output = BigInt(usage.output_tokens ?? 0)
  // micro-USD per 1M tokens
  const microUsdPerMillion = (input - cached) * 4_000_000n + cached * 400_000n + output * 16_000_000n
  const denominator = 1_000_000n * 1_000_000n
  return Number((microUsdPerMillion * BigInt(quotaPerUsd) + denominator - 1n) / denominator)
}

/** The admin's account; `quota` is the balance, with what credit leases hold of it (a busy user has one out). */
async function selfOf(rig: Rig): Promise<{ id: number; quota: number; used_quota: number }> {
  const res = await rig.app.inject({ method: 'GET', url: '/api/user/self', headers: bearer(rig.adminSession) })
  const self = res.json() as { id: number; quota: number; held_quota: number; used_quota: number }
  return { id: self.id, quota: self.quota + self.held_quota, used_quota: self.used_quota }
}

async function rowsLike(rig: Rig, requestId: string) {
  const { db, t: tables } = rig.app.db
  const rows = await db.select().from(tables.usageLogs).where(like(tables.usageLogs.requestId, `${requestId}:%`))
  return rows.map((r) => ({ requestId: r.requestId, quota: Number(r.quota), promptTokens: Number(r.promptTokens), completionTokens: Number(r.completionTokens), cachedTokens: Number(r.cachedTokens), status: r.status, error: r.error, channelId: r.channelId, upstreamModel: r.upstreamModel, source: r.source }))
    .sort((a, b) => a.requestId.localeCompare(b.requestId))
}

async function setup(t: { teardown(fn: () => unknown): void }, backend: Backend) {
  const upstream = await startFakeRealtime({ keys: [CHANNEL_KEY] })
  t.teardown(() => upstream.close())
  const rig = await startRig(t, backend)
  await rig.price(MODEL, PRICE)
  const channelId = await rig.channel({ key: CHANNEL_KEY, base_url: upstream.url, models: [MODEL], model_mapping: { [MODEL]: UPSTREAM_MODEL } })
  return { rig, upstream, channelId }
}

const rid = (name: string) => `rt-${name}-${Math.random().toString(36).slice(2, 10)}`

for (const backend of backends()) {
  t.test(backend.name, async (t) => {
    const { rig, upstream, channelId }: { rig: Rig; upstream: FakeRealtime; channelId: number } = await setup(t, backend)
    const { key } = await rig.token()

    t.test('a session with two responses: two usage-log rows, each billed exactly from its response.done', async (t) => {
      const before = await selfOf(rig)
      const id = rid('two')
      const client = await open(rig, `?model=${MODEL}`, { headers: { authorization: `Bearer ${key}`, 'x-request-id': id, 'openai-beta': 'realtime=v1' } })
      const created = await client.next('session.created')
      t.match(created, { session: { model: UPSTREAM_MODEL } })
      client.send({ type: 'session.update', session: { type: 'realtime', instructions: 'Be brief.' } })
      await client.next('session.updated')
      for (let n = 1; n <= 2; n++) {
        client.send({ type: 'response.create' })
        t.match(await client.next('response.created'), { response: { id: `resp_${n}` } })
        t.match(await client.next('response.output_audio_transcript.delta'), { delta: 'Hello ' })
        t.match(await client.next('response.output_audio.delta'), { response_id: `resp_${n}` })
        t.match(await client.next('response.done'), { response: { id: `resp_${n}`, usage: REALTIME_USAGE(n) } })
      }
      const q1 = expectedQuota(REALTIME_USAGE(1), rig.app.config.quotaPerUsd)
      const q2 = expectedQuota(REALTIME_USAGE(2), rig.app.config.quotaPerUsd)
      const rows = await eventually(() => rowsLike(rig, id), (r) => r.length >= 2)
      t.same(rows, [
        { requestId: `${id}:r1`, quota: q1, promptTokens: 1000, completionTokens: 300, cachedTokens: 0, status: 200, error: null, channelId, upstreamModel: UPSTREAM_MODEL, source: 'relay' },
        { requestId: `${id}:r2`, quota: q2, promptTokens: 2000, completionTokens: 300, cachedTokens: 640, status: 200, error: null, channelId, upstreamModel: UPSTREAM_MODEL, source: 'relay' },
      ])
      const after = await eventually(() => selfOf(rig), (u) => u.used_quota === before.used_quota + q1 + q2)
      t.equal(after.used_quota - before.used_quota, q1 + q2, 'used quota grew by the two costs exactly')
      t.equal(before.quota - after.quota, q1 + q2, 'the balance fell by the two costs exactly (nothing left reserved)')

      // The upstream saw the channel's key, the mapped model, the client's OpenAI-Beta — and nothing of the relay key.
      const shake = upstream.handshakes.at(-1)!
      t.equal(shake.headers.authorization, `Bearer ${CHANNEL_KEY}`)
      t.equal(shake.url, `/v1/realtime?model=${UPSTREAM_MODEL}`)
      t.equal(shake.headers['openai-beta'], 'realtime=v1')
      t.equal(shake.headers['x-nexus-realtime-session'], undefined)
      t.notOk(JSON.stringify(shake).includes(key.slice(3)), 'the relay key never reached the upstream')
      t.same(upstream.received.slice(-3).map((e) => e.type), ['session.update', 'response.create', 'response.create'])
      client.ws.close()
      await client.closed
    })

    t.test("the transcription of the client's audio: a row each, from its tokens, or at the per-request price (whisper-1)", async (t) => {
      // USD per 1M tokens: input 2.5, output 10; whisper-1 at $0.006 a request.
      await rig.price('gpt-4o-transcribe', { input_per_1m: '2.5', output_per_1m: '10' })
      await rig.price('whisper-1', { per_request: '0.006' })
      const before = await selfOf(rig)
      const id = rid('transcribe')
      const client = await open(rig, `?model=${MODEL}`, { headers: { authorization: `Bearer ${key}`, 'x-request-id': id } })
      await client.next('session.created')
      const transcribe = async () => {
        client.send({ type: 'input_audio_buffer.commit' })
        return client.next('conversation.item.input_audio_transcription.completed')
      }
      // The GA shape, then the beta one.
      client.send({ type: 'session.update', session: { type: 'realtime', audio: { input: { transcription: { model: 'gpt-4o-transcribe' } } } } })
      await client.next('session.updated')
      t.match(await transcribe(), { transcript: 'Hello there.', usage: TRANSCRIPTION_USAGE(1) })
      t.match(await transcribe(), { usage: TRANSCRIPTION_USAGE(2) })
      client.send({ type: 'session.update', session: { input_audio_transcription: { model: 'whisper-1' } } })
      await client.next('session.updated')
      t.match(await transcribe(), { usage: { type: 'duration', seconds: 3 } })

      const qpu = rig.app.config.quotaPerUsd
      // (input × 2.5 + output × 10) USD per 1M tokens, rounded up once.
      const byTokens = (input: number, output: number) => Math.ceil(((input * 25 + output * 100) * qpu) / 10_000_000)
      const whisper = Math.ceil((6 * qpu) / 1000)
      const rows = await eventually(() => rowsLike(rig, id), (r) => r.length >= 3)
      const row = { cachedTokens: 0, status: 200, error: null, channelId, source: 'relay' }
      t.same(rows, [
        { ...row, requestId: `${id}:t1`, quota: byTokens(100, 20), promptTokens: 100, completionTokens: 20, upstreamModel: 'gpt-4o-transcribe' },
        { ...row, requestId: `${id}:t2`, quota: byTokens(200, 20), promptTokens: 200, completionTokens: 20, upstreamModel: 'gpt-4o-transcribe' },
        { ...row, requestId: `${id}:t3`, quota: whisper, promptTokens: 0, completionTokens: 0, upstreamModel: 'whisper-1' },
      ])
      const total = byTokens(100, 20) + byTokens(200, 20) + whisper
      const after = await eventually(() => selfOf(rig), (u) => u.used_quota === before.used_quota + total)
      t.equal(before.quota - after.quota, total, 'the balance fell by the three costs exactly (nothing left reserved)')
      client.ws.close()
      await client.closed
    })

    t.test('a session naming a transcription model the key may not use, or without a price, is ended; nothing billed', async (t) => {
      const restricted = await rig.token({ models: [MODEL] })
      for (const [bearerKey, transcriber, code] of [
        [restricted.key, 'gpt-4o-transcribe', 'model_not_allowed'],
        [key, 'unpriced-transcriber', 'model_price_unset'],
      ] as const) {
        const id = rid('transcriber-refused')
        const client = await open(rig, `?model=${MODEL}`, { headers: { authorization: `Bearer ${bearerKey}`, 'x-request-id': id } })
        await client.next('session.created')
        client.send({ type: 'session.update', session: { type: 'realtime', audio: { input: { transcription: { model: transcriber } } } } })
        t.match(await client.next('error'), { error: { code } }, `${transcriber}: ${code}`)
        t.equal((await client.closed).code, 1008, 'closed with 1008')
        t.same(await rowsLike(rig, id), [], 'nothing billed')
      }
    })

    t.test('the browser form: the key as a subprotocol, stripped before the upstream', async (t) => {
      const client = await open(rig, `?model=${MODEL}`, { protocols: ['realtime', `openai-insecure-api-key.${key}`, 'openai-beta.realtime-v1'] })
      t.equal(client.ws.protocol, 'realtime', 'the gateway answers with `realtime`, never the key')
      await client.next('session.created')
      const shake = upstream.handshakes.at(-1)!
      t.same(shake.protocols, ['realtime'])
      t.equal(shake.headers.authorization, `Bearer ${CHANNEL_KEY}`)
      t.equal(shake.headers['openai-beta'], 'realtime=v1')
      t.notOk(JSON.stringify(shake).includes(key.slice(3)), 'the relay key never reached the upstream')
      client.ws.close()
      await client.closed
    })

    t.test('refused before the handshake, as HTTP errors in OpenAI’s shape', async (t) => {
      const unknown = await refused(rig, `?model=${MODEL}`, { headers: { authorization: `Bearer sk-${'x'.repeat(48)}` } })
      t.equal(unknown.status, 401)
      t.match(unknown.body, { error: { code: 'invalid_api_key', type: 'authentication_error' } })
      t.equal((await refused(rig, `?model=${MODEL}`)).status, 401, 'no key at all')
      t.equal((await refused(rig, `?model=${MODEL}`, { protocols: ['realtime', 'openai-insecure-api-key.sk-bogus'] })).status, 401, 'a bad subprotocol key')

      const noModel = await refused(rig, '', { headers: { authorization: `Bearer ${key}` } })
      t.equal(noModel.status, 400)
      t.match(noModel.body, { error: { param: 'model', type: 'invalid_request_error' } })

      const narrow = await rig.token({ name: 'narrow', models: ['gpt-4o-mini'] })
      const notAllowed = await refused(rig, `?model=${MODEL}`, { headers: { authorization: `Bearer ${narrow.key}` } })
      t.equal(notAllowed.status, 403)
      t.match(notAllowed.body, { error: { code: 'model_not_allowed' } })

      const empty = await rig.token({ name: 'empty', unlimited_quota: false, remain_quota: 0 })
      const exhausted = await refused(rig, `?model=${MODEL}`, { headers: { authorization: `Bearer ${empty.key}` } })
      t.equal(exhausted.status, 429)
      t.match(exhausted.body, { error: { code: 'insufficient_quota' } })

      // A model no channel serves: the same answer as the HTTP relay's.
      const unserved = await refused(rig, '?model=gpt-4o-mini', { headers: { authorization: `Bearer ${key}` } })
      const http = await rig.app.inject({ method: 'POST', url: '/v1/chat/completions', headers: { authorization: `Bearer ${key}` }, payload: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] } })
      t.equal(unserved.status, http.statusCode)
      t.equal(unserved.body.error?.code, (http.json() as { error: { code: string } }).error.code)

      const plain = await fetch(`${rig.url}/v1/realtime?model=${MODEL}`, { headers: { authorization: `Bearer ${key}` } })
      t.equal(plain.status, 426, 'a plain GET is not proxied')
      t.equal(upstream.handshakes.filter((h) => !h.headers.authorization?.includes(CHANNEL_KEY)).length, 0)
    })

    /** A session (request id `id`) whose client drops its socket while the upstream holds a response mid-way. */
    const leaveMidResponse = async (id: string) => {
      const client = await open(rig, `?model=${MODEL}`, { headers: { authorization: `Bearer ${key}`, 'x-request-id': id } })
      await client.next('session.created')
      client.send({ type: 'response.create' })
      await client.next('response.created')
      await upstream.heldStarted()
      client.ws.terminate()
    }

    t.test('a client closing mid-response: the response is cancelled upstream and billed for what it generated', async (t) => {
      const before = await selfOf(rig)
      const id = rid('leave')
      upstream.setHold(true)
      t.teardown(() => upstream.setHold(false))
      await leaveMidResponse(id)
      const rows = await eventually(() => rowsLike(rig, id), (r) => r.length >= 1)
      const cost = expectedQuota(CANCELLED_USAGE(1), rig.app.config.quotaPerUsd)
      t.match(rows, [{ requestId: `${id}:r1`, quota: cost, status: 499, promptTokens: 1000, completionTokens: 100, error: 'client left; response cancelled' }])
      t.ok(upstream.received.some((e) => e.type === 'response.cancel' && e.response_id === 'resp_1'), 'the running response was cancelled upstream')
      await eventually(async () => upstream.sockets.size, (n) => n === 0)
      t.equal(upstream.sockets.size, 0, 'the upstream socket was closed after its response.done')
      const after = await selfOf(rig)
      t.equal(after.used_quota - before.used_quota, cost, 'what the cancelled response generated is billed, to the unit')
      t.equal(before.quota - after.quota, cost, 'and only that: the rest of the reservation was given back')
      upstream.setHold(false)
      const again = await open(rig, `?model=${MODEL}`, { headers: { authorization: `Bearer ${key}` } })
      await again.next('session.created')
      again.ws.close()
      await again.closed
    })

    t.test('a client closing mid-response, the upstream never ending it: settled as undelivered after the drain wait', async (t) => {
      const before = await selfOf(rig)
      const id = rid('leave-silent')
      upstream.setHold(true)
      upstream.setIgnoreCancel(true)
      t.teardown(() => {
        upstream.setHold(false)
        upstream.setIgnoreCancel(false)
        upstream.finishHeld()
      })
      await leaveMidResponse(id)
      const rows = await eventually(() => rowsLike(rig, id), (r) => r.length >= 1, DRAIN_MS + 5_000)
      t.match(rows, [{ requestId: `${id}:r1`, quota: 0, status: 499, promptTokens: 0, completionTokens: 0 }])
      await eventually(async () => upstream.sockets.size, (n) => n === 0)
      t.equal(upstream.sockets.size, 0, 'the upstream socket was closed after the wait')
      const after = await selfOf(rig)
      t.equal(after.used_quota, before.used_quota, 'nothing billed without a usage')
      t.equal(after.quota, before.quota, 'the reservation was given back')
    })

    t.test('the upstream closing closes the client', async (t) => {
      const client = await open(rig, `?model=${MODEL}`, { headers: { authorization: `Bearer ${key}` } })
      await client.next('session.created')
      for (const socket of upstream.sockets) socket.close(1000, 'bye')
      const closed = await client.closed
      t.equal(closed.code, 1000)
    })

    t.test('an upstream refusing the channel key: the client is closed, the channel disabled', async (t) => {
      const bad = await startFakeRealtime({ keys: ['another-key'] })
      t.teardown(() => bad.close())
      const model = 'gpt-realtime-mini'
      await rig.price(model, PRICE)
      const badChannel = await rig.channel({ key: 'sk-wrong-realtime-key', base_url: bad.url, models: [model] })
      const client = await open(rig, `?model=${model}`, { headers: { authorization: `Bearer ${key}` } })
      const closed = await client.closed
      t.equal(closed.code, 1011)
      const channel = await eventually(
        async () => (await rig.app.inject({ method: 'GET', url: `/api/channel/${badChannel}`, headers: bearer(rig.adminSession) })).json() as { status: string },
        (c) => c.status === 'auto_disabled',
      )
      t.equal(channel.status, 'auto_disabled')
    })

    t.test('the chat WebSocket and unknown upgrade paths are still answered once, by @fastify/websocket', async (t) => {
      const chat = new WebSocket(`${rig.url.replace('http:', 'ws:')}/ws/chat`)
      chat.on('error', () => {})
      const status = await new Promise<number>((resolve) => chat.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)))
      chat.terminate()
      t.equal(status, 401, 'no session')
      const session = new WebSocket(`${rig.url.replace('http:', 'ws:')}/ws/chat?token=${rig.adminSession}`)
      const ready = await new Promise<string>((resolve) => session.once('message', (data) => resolve(String(data))))
      t.match(JSON.parse(ready), { type: 'ready' })
      session.close()
      const other = new WebSocket(`${rig.url.replace('http:', 'ws:')}/v1/nothing-here`)
      other.on('error', () => {})
      t.equal(await new Promise<number>((resolve) => other.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0))), 404)
      other.terminate()
    })
  })

  t.test(`${backend.name}: a balance used up by a response ends the session with 1008`, async (t) => {
    const { rig } = await setup(t, backend)
    const self = await selfOf(rig)
    const q1 = expectedQuota(REALTIME_USAGE(1), rig.app.config.quotaPerUsd)
    // Leave the user less than one response costs: the response is still billed (within one increment), then the end.
    const res = await rig.app.inject({ method: 'POST', url: `/api/user/${self.id}/quota`, headers: bearer(rig.adminSession), payload: { delta: -(self.quota - Math.floor(q1 / 2)), remark: 'realtime test' } })
    t.equal(res.statusCode, 200)
    const { key } = await rig.token()
    const id = rid('broke')
    const client = await open(rig, `?model=${MODEL}`, { headers: { authorization: `Bearer ${key}`, 'x-request-id': id } })
    await client.next('session.created')
    client.send({ type: 'response.create' })
    await client.next('response.done')
    const error = await client.next('error')
    t.match(error, { type: 'error', error: { code: 'insufficient_quota' } })
    const closed = await client.closed
    t.equal(closed.code, 1008)
    const rows = await eventually(() => rowsLike(rig, id), (r) => r.length >= 1)
    t.equal(rows.length, 1)
    t.equal(rows[0]?.quota, q1, 'the response was billed in full (within the one-increment bound)')
    const after = await selfOf(rig)
    t.ok(after.quota <= 0, 'the balance is used up')
    const again = await refused(rig, `?model=${MODEL}`, { headers: { authorization: `Bearer ${key}` } })
    t.equal(again.status, 429, 'a new session is refused before the handshake')
  })

  t.test(`${backend.name}: the gateway closing ends open sessions`, async (t) => {
    const { rig, upstream } = await setup(t, backend)
    const { key } = await rig.token()
    const client = await open(rig, `?model=${MODEL}`, { headers: { authorization: `Bearer ${key}` } })
    await client.next('session.created')
    await rig.app.close()
    const closed = await client.closed
    t.equal(closed.code, 1001)
    await eventually(async () => upstream.sockets.size, (n) => n === 0)
    t.equal(upstream.sockets.size, 0)
  })
}

