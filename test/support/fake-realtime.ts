// A fake OpenAI Realtime upstream (`GET /v1/realtime?model=…` over a WebSocket) on 127.0.0.1, port 0. It checks the
// bearer key of each handshake (401 unless it is one it accepts), answers `session.created`, and runs a response
// for every `response.create`: `response.created`, text and audio-transcript deltas, then `response.done` with a
// usage block in the Realtime API's shape. A `session.update` naming a transcription model makes each
// `input_audio_buffer.commit` answer a finished transcription with its usage (seconds for whisper-1, tokens else). A `response.cancel` of a held response ends it at once with a
// `response.done` of status `cancelled` and the usage of what it generated so far (CANCELLED_USAGE), as OpenAI does. Event shapes are typed by the official `openai` package.
import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import type {
  RealtimeResponseUsage,
  RealtimeServerEvent,
} from 'openai/resources/realtime/realtime'
import { WebSocketServer, type WebSocket } from 'ws'

export interface RealtimeHandshake {
  url: string
  headers: IncomingHttpHeaders
  /** The subprotocols the gateway offered the upstream. */
  protocols: string[]
}

export interface FakeRealtimeOptions {
  /** Bearer keys the upstream accepts. */
  keys: string[]
  /** The usage of the n-th response of a session (1-based). */
  usage?: (n: number) => RealtimeResponseUsage
  /** When true, a response stops after its first delta and ends only when `finishHeld()` is called. */
  hold?: boolean
}

export interface FakeRealtime {
  /** `http://127.0.0.1:PORT` — the base URL a channel is given. */
  url: string
  handshakes: RealtimeHandshake[]
  /** Client events each session received, in order. */
  received: Record<string, unknown>[]
  /** Open upstream sockets. */
  sockets: Set<WebSocket>
  /** From now on, responses stop after their first deltas (see `hold`). */
  setHold(hold: boolean): void
  /** From now on, `response.cancel` is ignored (an upstream that never ends a cancelled response). */
  setIgnoreCancel(ignore: boolean): void
  /** Resolves once a held response has sent its first delta. */
  heldStarted(): Promise<void>
  finishHeld(): void
  close(): Promise<void>
}

export const REALTIME_USAGE = (n: number): RealtimeResponseUsage => ({
  total_tokens: 1000 * n + 300,
  input_tokens: 1000 * n,
  output_tokens: 300,
  input_token_details: { cached_tokens: 640 * (n - 1), text_tokens: 200 * n, audio_tokens: 800 * n, cached_tokens_details: { text_tokens: 0, audio_tokens: 640 * (n - 1) } },
  output_token_details: { text_tokens: 60, audio_tokens: 240 },
})

/** What a response cancelled after its first deltas reports: its whole input, part of its output. */
export const CANCELLED_USAGE = (n: number): RealtimeResponseUsage => ({
  ...REALTIME_USAGE(n),
  total_tokens: 1000 * n + 100,
  output_tokens: 100,
  output_token_details: { text_tokens: 20, audio_tokens: 80 },
})

/** The token usage of the n-th transcription of a session (gpt-4o-transcribe's shape). */
export const TRANSCRIPTION_USAGE = (n: number) => ({
  type: 'tokens' as const,
  total_tokens: 100 * n + 20,
  input_tokens: 100 * n,
  input_token_details: { audio_tokens: 100 * n, text_tokens: 0 },
  output_tokens: 20,
})

export async function startFakeRealtime(opts: FakeRealtimeOptions): Promise<FakeRealtime> {
  const usage = opts.usage ?? REALTIME_USAGE
  const server = createServer((_req, res) => {
    res.writeHead(404).end()
  })
  const wss = new WebSocketServer({ noServer: true })
  const handshakes: RealtimeHandshake[] = []
  const received: Record<string, unknown>[] = []
  const sockets = new Set<WebSocket>()
  let hold = opts.hold ?? false
  let held: (() => void) | null = null
  let heldResponse: { id: string; n: number } | null = null
  let ignoreCancel = false
  let heldStartedResolve: (() => void) | null = null
  let heldStartedPromise = new Promise<void>((resolve) => (heldStartedResolve = resolve))
  let eventSeq = 0
  const eventId = () => `event_${++eventSeq}`

  server.on('upgrade', (req, socket, head) => {
    const protocols = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim()).filter(Boolean)
    handshakes.push({ url: req.url ?? '', headers: req.headers, protocols })
    const key = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1]
    if (!req.url?.startsWith('/v1/realtime?') || !key || !opts.keys.includes(key)) {
      socket.end('HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}')
      return
    }
    wss.handleUpgrade(req, socket, head, (ws) => session(ws, new URL(req.url ?? '', 'http://x').searchParams.get('model') ?? ''))
  })

  function session(ws: WebSocket, model: string): void {
    sockets.add(ws)
    ws.on('close', () => sockets.delete(ws))
    let responses = 0
    let commits = 0
    /** The transcription model the session runs (set by `session.update`), or null. */
    let transcription: string | null = null
    const send = (event: RealtimeServerEvent) => ws.send(JSON.stringify(event))
    send({ type: 'session.created', event_id: eventId(), session: { type: 'realtime', model, output_modalities: ['audio'] } })
    ws.on('message', (data) => {
      const event = JSON.parse(String(data)) as Record<string, unknown>
      received.push(event)
      if (event.type === 'response.cancel' && held && heldResponse && !ignoreCancel) {
        const { id, n } = heldResponse
        held = null
        heldResponse = null
        send({ type: 'response.done', event_id: eventId(), response: { id, object: 'realtime.response', status: 'cancelled', output: [], usage: CANCELLED_USAGE(n) } })
        return
      }
      if (event.type === 'session.update') {
        // The transcription setting is echoed in the shape the client used (GA `audio.input.transcription`, or
        // beta `input_audio_transcription`), as the session the upstream now runs.
        const update = (event.session ?? {}) as Record<string, unknown>
        const ga = (update.audio as { input?: { transcription?: { model?: string } | null } } | undefined)?.input?.transcription
        const beta = update.input_audio_transcription as { model?: string } | null | undefined
        if (ga !== undefined) transcription = ga?.model ?? null
        if (beta !== undefined) transcription = beta?.model ?? null
        const session: Record<string, unknown> = { type: 'realtime', model }
        if (ga !== undefined) session.audio = { input: { transcription: ga } }
        if (beta !== undefined) session.input_audio_transcription = beta
        ws.send(JSON.stringify({ type: 'session.updated', event_id: eventId(), session }))
      }
      if (event.type === 'input_audio_buffer.commit') {
        const item = `item_audio_${++commits}`
        send({ type: 'input_audio_buffer.committed', event_id: eventId(), item_id: item, previous_item_id: null })
        if (transcription !== null) {
          // whisper-1 reports seconds; the gpt-4o transcribers report tokens.
          send({
            type: 'conversation.item.input_audio_transcription.completed',
            event_id: eventId(),
            item_id: item,
            content_index: 0,
            transcript: 'Hello there.',
            usage: transcription === 'whisper-1' ? { type: 'duration', seconds: 3 } : TRANSCRIPTION_USAGE(commits),
          })
        }
      }
      if (event.type !== 'response.create') return
      const n = ++responses
      const id = `resp_${n}`
      const delta = (text: string) => ({ response_id: id, item_id: `item_${n}`, output_index: 0, content_index: 0, delta: text, event_id: eventId() })
      send({ type: 'response.created', event_id: eventId(), response: { id, object: 'realtime.response', status: 'in_progress', output: [] } })
      send({ type: 'response.output_audio_transcript.delta', ...delta('Hello ') })
      send({ type: 'response.output_audio.delta', ...delta(Buffer.alloc(4800, n).toString('base64')) })
      const rest = () => {
        if (ws.readyState !== ws.OPEN) return
        send({ type: 'response.output_text.delta', ...delta('there.') })
        send({ type: 'response.done', event_id: eventId(), response: { id, object: 'realtime.response', status: 'completed', output: [], usage: usage(n) } })
      }
      if (hold) {
        held = rest
        heldResponse = { id, n }
        heldStartedResolve?.()
      } else rest()
    })
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    url,
    handshakes,
    received,
    sockets,
    setHold(value) {
      hold = value
    },
    setIgnoreCancel(value) {
      ignoreCancel = value
    },
    heldStarted: () => heldStartedPromise,
    finishHeld() {
      held?.()
      held = null
      heldResponse = null
      heldStartedPromise = new Promise<void>((resolve) => (heldStartedResolve = resolve))
    },
    async close() {
      for (const ws of sockets) ws.terminate()
      wss.close()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
