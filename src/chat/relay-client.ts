// The chat as a client of the relay (src/relay/relay-client.ts): instead of forwarding the upstream's bytes to a
// socket, it reads the answer as it arrives — each SSE event's `choices[0].delta.content` — and hands every piece
// of text on (to a WebSocket or SSE frame). Billing, failover and the stream's budget stay the relay's.
import type { IncomingHttpHeaders } from 'node:http'
import type { RelayClient } from '../relay/relay-client.js'
import { SseEventSplitter } from '../relay/sse.js'
import type { UpstreamResponse } from '../relay/upstream-call.js'

/** An answer that is not a stream (an error body, or JSON from an upstream that ignored `stream`) is read up to this. */
const BODY_LIMIT = 1024 * 1024
/** Upstream error messages are cut to this many characters before they are stored or shown. */
const MESSAGE_LIMIT = 500

export interface AnswerProblem {
  code: string | null
  message: string
}

export class ChatRelayClient implements RelayClient {
  readonly url = '/v1/chat/completions'
  readonly headers: IncomingHttpHeaders = { 'content-type': 'application/json' }
  /** The answer's text so far. */
  text = ''
  /** The upstream answered with an error status: its status, code and (cut, key-free) message. */
  upstreamFailure: (AnswerProblem & { status: number }) | null = null
  /** The stream carried an error event (the relay's own when the balance ran out, or the upstream's). */
  streamError: AnswerProblem | null = null
  private status = 0
  private sse = false
  private readonly splitter = new SseEventSplitter()
  private body: Buffer[] = []
  private bodyBytes = 0

  constructor(
    readonly requestId: string,
    private readonly signal: AbortSignal,
    private readonly onText: (piece: string) => void,
  ) {}

  onGone(listener: () => void): () => void {
    if (this.signal.aborted) {
      listener()
      return () => {}
    }
    this.signal.addEventListener('abort', listener, { once: true })
    return () => this.signal.removeEventListener('abort', listener)
  }

  start(upstream: UpstreamResponse): void {
    this.status = upstream.status
    this.sse = upstream.status < 300 && String(upstream.headers['content-type'] ?? '').startsWith('text/event-stream')
  }

  write(chunk: Buffer): boolean {
    if (this.sse) {
      for (const event of this.splitter.push(chunk)) this.readEvent(event)
    } else if (this.bodyBytes + chunk.length <= BODY_LIMIT) {
      this.body.push(chunk)
      this.bodyBytes += chunk.length
    }
    return true
  }

  end(last?: Buffer | null): void {
    if (last && last.length > 0) this.write(last)
    if (this.sse) {
      const rest = this.splitter.flush()
      if (rest) this.readEvent(rest)
      return
    }
    const parsed = parseJson(Buffer.concat(this.body).toString('utf8'))
    this.body = []
    if (this.status >= 300) {
      this.upstreamFailure = { status: this.status, ...(problemOf(parsed) ?? { code: null, message: `upstream answered ${this.status}` }) }
      return
    }
    // A whole answer (an upstream that does not stream): its first choice's message.
    const content = firstChoice(parsed)?.message
    if (isObject(content) && typeof content.content === 'string' && content.content) this.append(content.content)
  }

  abandon(): void {}

  private readEvent(event: Buffer): void {
    let data = ''
    for (const raw of event.toString('utf8').split('\n')) {
      const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw
      if (!line.startsWith('data:')) continue
      const value = line.charCodeAt(5) === 0x20 ? line.slice(6) : line.slice(5)
      data = data ? `${data}\n${value}` : value
    }
    if (!data || data.trim() === '[DONE]') return
    const parsed = parseJson(data)
    const problem = problemOf(parsed)
    if (problem) {
      this.streamError = problem
      return
    }
    const delta = firstChoice(parsed)?.delta
    if (isObject(delta) && typeof delta.content === 'string' && delta.content) this.append(delta.content)
  }

  private append(piece: string): void {
    this.text += piece
    this.onText(piece)
  }
}

type Json = Record<string, unknown>

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return null
  }
}

/** `choices[0]` of a chunk or answer: the choice with index 0 (the chat asks for one). */
function firstChoice(parsed: unknown): Json | null {
  if (!isObject(parsed) || !Array.isArray(parsed.choices)) return null
  const choice: unknown = parsed.choices.find((c: unknown) => isObject(c) && (c.index === 0 || c.index === undefined))
  return isObject(choice) ? choice : null
}

/** OpenAI's `{"error": {...}}` (or `{"error": "..."}`), as a code and a safe message; null when there is none. */
function problemOf(parsed: unknown): AnswerProblem | null {
  if (!isObject(parsed) || !('error' in parsed)) return null
  const error = parsed.error
  if (typeof error === 'string') return { code: null, message: safeMessage(error) }
  if (!isObject(error)) return null
  const message = typeof error.message === 'string' && error.message ? error.message : 'the upstream reported an error'
  return { code: typeof error.code === 'string' && error.code ? error.code : null, message: safeMessage(message) }
}

/**
 * Upstream messages are stored and shown to the user: cut short, and anything that looks like a key taken out
 * (an upstream may quote the key it refused, CONTRACT §7).
 */
function safeMessage(message: string): string {
  return message.replace(/\b(?:sk|key|api)[-_][A-Za-z0-9*_.-]{4,}/g, '[redacted]').slice(0, MESSAGE_LIMIT)
}
