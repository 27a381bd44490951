// SSE relay for chat and completions streams: the upstream's own bytes go to the client, one write per upstream
// chunk, nothing re-serialised. The splitter only finds event boundaries, so the usage-only chunk (which the
// gateway asked for on the client's behalf) can be held back, and usage or generated text can be read on the way
// (sse.ts reads them without parsing the JSON).
//
// A stream also spends as it flows (CONTRACT §4): when its generated text nears what the reservation covers, the
// reservation is extended; when the balance cannot cover more, the stream ends with `finish_reason: "length"` and
// an SSE error event, and the upstream is aborted.
import type { FastifyReply } from 'fastify'
import { StreamTokenCounter } from '../billing/tokens-count.js'
import { clientWriter, endClientResponse, pumpBody, startClientResponse, type RelayResult } from './client-response.js'
import type { RelayEndpoint } from './request.js'
import type { Usage } from './seams.js'
import { SseEventSplitter } from './sse.js'
import { SseEventReader } from './sse-event.js'
import type { UpstreamResponse } from './upstream-call.js'

/** How far a stream's reservation reaches, and the way to extend it. */
export interface StreamBudget {
  /** Completion tokens the reservation covers now. */
  covered(): number
  /** Asks for a reservation covering `completionTokens`; false when the balance cannot. */
  extend(completionTokens: number): Promise<boolean>
}

export interface SseRelayOptions {
  endpoint: RelayEndpoint
  /** The client asked for `stream_options.include_usage`; otherwise the usage-only chunk is dropped. */
  clientWantsUsage: boolean
  /** The exact prompt count, used only when the stream ends without usage. */
  countPromptTokens(): Promise<number>
  choices: number
  budget: StreamBudget
}

/** An extension is asked for this many completion tokens before the reservation would run out. */
const EXTEND_AHEAD = 256

class BalanceExhausted extends Error {
  constructor() {
    super('the balance cannot cover more of this stream')
  }
}

export async function relaySse(
  reply: FastifyReply,
  upstream: UpstreamResponse,
  opts: SseRelayOptions,
  signal: AbortSignal,
): Promise<RelayResult> {
  const splitter = new SseEventSplitter()
  const counter = new StreamTokenCounter()
  let usage: Usage | null = null
  startClientResponse(reply, upstream)
  const client = clientWriter(reply, upstream)
  const { budget } = opts
  const reader = new SseEventReader()
  /** The kept events of the chunk at hand; one array for the whole stream, emptied after each chunk. */
  const kept: Buffer[] = []
  let extending: Promise<boolean> | null = null
  let refused = false
  let exhausted = false

  /** Extends the reservation ahead of need; one request at a time. */
  const spend = (): void => {
    const generated = counter.upperBound()
    if (extending || refused || generated + EXTEND_AHEAD <= budget.covered()) return
    extending = budget.extend(generated + EXTEND_AHEAD).then(
      (ok) => ok,
      () => false,
    )
    void extending.then((ok) => {
      extending = null
      if (!ok) refused = true
    })
  }

  /** The text is past what is reserved: counted exactly before deciding, since this ends the stream. */
  const overBudget = (): boolean => {
    if (counter.upperBound() <= budget.covered()) return false
    counter.flush()
    return counter.upperBound() > budget.covered()
  }

  /** Inspects one event; true when it goes on to the client. */
  const keep = (event: Buffer): boolean => {
    const info = reader.read(event)
    if (info.usage) usage = { prompt_tokens: info.usage.prompt_tokens, completion_tokens: info.usage.completion_tokens }
    if (info.text) {
      counter.add(info.text, info.textBound)
      spend()
      // Past what is reserved with no extension to come: this event is not delivered and the stream ends.
      if (refused && overBudget()) {
        exhausted = true
        upstream.abort(new BalanceExhausted())
        return false
      }
    }
    return !(info.usageOnly && !opts.clientWantsUsage)
  }

  const error = await pumpBody(reply, upstream, {
    data(chunk) {
      if (exhausted) return true
      const heldBefore = splitter.heldBytes
      let dropped = false
      for (const event of splitter.push(chunk)) {
        if (exhausted) break
        if (keep(event)) kept.push(event)
        else dropped = true
      }
      // The common case: the chunk was exactly whole events, all kept → the chunk itself goes on.
      const whole = !dropped && !exhausted && heldBefore === 0 && splitter.heldBytes === 0
      const out = whole ? chunk : kept.length > 0 ? joined(kept) : null
      kept.length = 0
      return out ? client.write(out) : true
    },
  }, signal)

  // An extension still under way must land before settlement, or its hold would never be given back.
  if (extending) await extending
  if (exhausted) {
    endClientResponse(reply, exhaustedEnding(opts.endpoint, opts.choices))
  } else {
    const rest = splitter.flush()
    endClientResponse(reply, rest && keep(rest) ? rest : null)
  }
  const upstreamUsage: Usage | null = exhausted ? null : usage
  return {
    status: upstream.status,
    usage: upstreamUsage ?? { prompt_tokens: await opts.countPromptTokens(), completion_tokens: counter.total() },
    usageSource: upstreamUsage ? 'upstream' : 'counted',
    delivered: true,
    error: exhausted ? 'stream ended: the balance cannot cover more' : error,
  }
}

/**
 * One buffer holding `events` in order, for a single write: a view when they lie back to back in memory (a chunk's
 * events but a dropped usage chunk at its end), a copy otherwise (an event dropped between others, or an event
 * pieced together from earlier chunks followed by more).
 */
function joined(events: Buffer[]): Buffer {
  const first = events[0] as Buffer
  if (events.length === 1) return first
  let length = first.length
  let adjacent = true
  for (let i = 1; i < events.length; i++) {
    const event = events[i] as Buffer
    if (adjacent && (event.buffer !== first.buffer || event.byteOffset !== first.byteOffset + length)) adjacent = false
    length += event.length
  }
  return adjacent ? Buffer.from(first.buffer, first.byteOffset, length) : Buffer.concat(events, length)
}

const EXHAUSTED_MESSAGE = 'insufficient quota: the balance cannot cover more of this response'

/** The events that end a stream cut for want of balance: a `length` finish per choice, an error, then [DONE]. */
function exhaustedEnding(endpoint: RelayEndpoint, choices: number): Buffer {
  if (endpoint.kind === 'passthrough') {
    // The Responses API's own error event.
    const data = JSON.stringify({ type: 'error', code: 'insufficient_quota', message: EXHAUSTED_MESSAGE, param: null })
    return Buffer.from(`event: error\ndata: ${data}\n\n`)
  }
  const finishes = Array.from({ length: choices }, (_, index) =>
    endpoint.kind === 'completions' ? { index, text: '', finish_reason: 'length' } : { index, delta: {}, finish_reason: 'length' },
  )
  const object = endpoint.kind === 'completions' ? 'text_completion' : 'chat.completion.chunk'
  const finish = JSON.stringify({ object, created: Math.floor(Date.now() / 1000), choices: finishes })
  const error = JSON.stringify({
    error: { message: EXHAUSTED_MESSAGE, type: 'insufficient_quota', code: 'insufficient_quota', param: null },
  })
  return Buffer.from(`data: ${finish}\n\ndata: ${error}\n\ndata: [DONE]\n\n`)
}
