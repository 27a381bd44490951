// SSE relay for chat and completions streams: the upstream's own bytes go to the client, one write per upstream
// chunk, nothing re-serialised. The splitter only finds event boundaries, so the usage-only chunk (which the
// gateway asked for on the client's behalf) can be held back, and usage or generated text can be read on the way
// (sse.ts reads them without parsing the JSON).
//
// A stream also spends as it flows (CONTRACT §4): when its generated text nears what the reservation covers, the
// reservation is extended; when the balance cannot cover more, the stream ends with `finish_reason: "length"` and
// an SSE error event, and the upstream is aborted.
import { StreamTokenCounter } from '../billing/tokens-count.js'
import { pumpBody, type RelayResult } from './client-response.js'
import type { StreamConversion } from './exchange.js'
import { anthropicErrorEvent } from './formats/anthropic/errors.js'
import type { RelayClient } from './relay-client.js'
import type { RelayEndpoint } from './request.js'
import type { Usage } from './seams.js'
import { SseEventSplitter } from './sse.js'
import { SseEventReader } from './sse-event.js'
import type { UpstreamResponse } from './upstream-call.js'
import { UPSTREAM_IDLE_ERROR, upstreamFailedEnding } from './upstream-fault.js'

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
  /**
   * A stream of another format (exchange.ts): converted event by event and/or read by its own reader. Absent: an
   * OpenAI stream, read by the relay's scanner and passed on untouched.
   */
  conversion?: StreamConversion | null
}

/** An extension is asked for this many completion tokens before the reservation would run out. */
const EXTEND_AHEAD = 256

class BalanceExhausted extends Error {
  constructor() {
    super('the balance cannot cover more of this stream')
  }
}

export async function relaySse(
  client: RelayClient,
  upstream: UpstreamResponse,
  opts: SseRelayOptions,
  signal: AbortSignal,
): Promise<RelayResult> {
  const splitter = new SseEventSplitter()
  const counter = new StreamTokenCounter()
  let usage: Usage | null = null
  client.start(upstream)
  const { budget } = opts
  const conversion = opts.conversion ?? null
  const reader = conversion?.reader ?? new SseEventReader()
  const toCanonical = conversion?.toCanonical ?? null
  const toClient = conversion?.toClient ?? null
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
    // The whole normalised usage (cached, cache-write and reasoning parts too), so they bill at their own prices.
    if (info.usage) usage = withoutTotal(info.usage)
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

  /** One upstream event on its way: converted to the reading format, read, converted to the client's. */
  const pass = (event: Buffer): void => {
    if (!toCanonical && !toClient) {
      if (keep(event)) kept.push(event)
      return
    }
    for (const read of toCanonical ? toCanonical.push(event) : [event]) {
      if (exhausted) return
      if (!keep(read)) continue
      if (toClient) kept.push(...toClient.push(read))
      else kept.push(read)
    }
  }

  const error = await pumpBody(upstream, {
    data(chunk) {
      if (exhausted) return true
      const heldBefore = splitter.heldBytes
      const keptBefore = kept.length
      let eventsIn = 0
      for (const event of splitter.push(chunk)) {
        if (exhausted) break
        eventsIn += 1
        pass(event)
      }
      // The common case: the chunk was exactly whole events, all kept as they were → the chunk itself goes on.
      const whole = !toCanonical && !toClient && kept.length - keptBefore === eventsIn && !exhausted && heldBefore === 0 && splitter.heldBytes === 0
      const out = whole ? chunk : kept.length > 0 ? joined(kept) : null
      kept.length = 0
      return out ? client.write(out) : true
    },
  }, signal)

  // An extension still under way must land before settlement, or its hold would never be given back.
  if (extending) await extending
  if (exhausted) {
    client.end(exhaustedEnding(opts.endpoint, opts.choices))
  } else if (error && !signal.aborted) {
    // Cut, or silent past UPSTREAM_IDLE_TIMEOUT_MS: a partly received event is dropped, an error event ends it.
    client.end(failedEnding(opts.endpoint, error))
  } else {
    const rest = splitter.flush()
    if (rest) pass(rest)
    // The converters' closing events (a usage chunk and [DONE], message_stop), read and written like the others.
    if (toCanonical && !exhausted) {
      for (const read of toCanonical.end()) if (keep(read)) kept.push(...(toClient ? toClient.push(read) : [read]))
    }
    if (toClient && !exhausted) kept.push(...toClient.end())
    client.end(kept.length > 0 ? joined(kept) : null)
    kept.length = 0
  }
  // A converter reads the provider's own usage fields (cache writes included); else what the reader saw.
  const upstreamUsage: Usage | null = exhausted ? null : (toCanonical?.usage() ?? usage)
  // The upstream produced nothing (only an error event, or cut before its first token): a failed request, free.
  if (!upstreamUsage && !exhausted && !signal.aborted && counter.upperBound() === 0) {
    return { status: upstream.status, usage: null, usageSource: 'none', delivered: true, error: error ?? 'the stream carried no output' }
  }
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

/** The usage as billed: OpenAI's `total_tokens` is not part of it. */
function withoutTotal(usage: Usage & { total_tokens?: number }): Usage {
  const { total_tokens: _total, ...rest } = usage
  return rest
}

/** The event that ends a stream whose upstream failed: in Anthropic's format for an Anthropic client. */
function failedEnding(endpoint: RelayEndpoint, error: string): Buffer {
  if (endpoint.kind !== 'messages') return upstreamFailedEnding(endpoint, error)
  return error === UPSTREAM_IDLE_ERROR
    ? anthropicErrorEvent('timeout_error', 'the upstream sent nothing for longer than the idle timeout; the stream was ended')
    : anthropicErrorEvent('api_error', 'the upstream connection failed mid-stream; the stream was ended')
}

/** The events that end a stream cut for want of balance: a `length` finish per choice, an error, then [DONE]. */
function exhaustedEnding(endpoint: RelayEndpoint, choices: number): Buffer {
  // An Anthropic client: the error event Anthropic itself ends a failed stream with.
  if (endpoint.kind === 'messages') return anthropicErrorEvent('billing_error', EXHAUSTED_MESSAGE)
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
