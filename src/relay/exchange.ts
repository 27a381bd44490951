// How one request is spoken to one channel and how its answer is spoken back (CONTRACT §9). The client's format
// follows from the endpoint (chat → OpenAI, messages → Anthropic; every other endpoint is OpenAI's own and goes
// only to channels of OpenAI's format); the channel's from its adapter. Equal formats: nothing is converted, the
// upstream's bytes are relayed as they are. Different: the request goes client format → canonical (OpenAI chat) →
// channel format, and the answer back the same way, event by event for streams. Nothing here knows a provider by
// name: the adapter brings its codec, the client format its writer.
import type { ChannelAdapter, ConversionContext, StreamConverter, StreamEventReader, WireFormat } from './adapters/adapter.js'
import { anthropicToCanonical } from './formats/anthropic/request.js'
import { toAnthropicMessage } from './formats/anthropic/response.js'
import { OpenAIToAnthropicStream } from './formats/anthropic/stream.js'
import { isObject, type EventTransform, type Json } from './formats/shared.js'
import type { RelayEndpoint } from './request.js'
import type { Usage } from './seams.js'
import { SseEventReader } from './sse-event.js'

/** The format a client of this endpoint speaks; null for OpenAI's other endpoints, which are never converted. */
export function clientFormatOf(kind: RelayEndpoint['kind']): WireFormat | null {
  if (kind === 'chat') return 'openai'
  if (kind === 'messages') return 'anthropic'
  return null
}

/** Whether a channel can take this endpoint at all: natively, or converted through the canonical format. */
export function canServe(kind: RelayEndpoint['kind'], adapter: ChannelAdapter): boolean {
  if (!adapter.serves(kind)) return false
  return clientFormatOf(kind) !== null || adapter.format === 'openai'
}

export function isConverted(kind: RelayEndpoint['kind'], adapter: ChannelAdapter): boolean {
  const client = clientFormatOf(kind)
  return client !== null && client !== adapter.format
}

/** The OpenAI-style path a converted request is for (the adapter turns it into its own URL). */
export const CANONICAL_PATH = '/v1/chat/completions'

/** A body in the client's format → the canonical request (a chat body is one already). */
function canonicalOf(kind: RelayEndpoint['kind'], json: Json, target: WireFormat): Json {
  return kind === 'messages' ? anthropicToCanonical(json, target) : { ...json }
}

/** OpenAI's reasoning models refuse `max_tokens` on chat and take `max_completion_tokens` instead. */
export const REASONING_MODEL = /^(?:o\d|gpt-5)/

/**
 * The body a channel of another format gets: canonical with the model mapped, the completion capped when the
 * balance could not afford the whole allowance, usage asked for on streams, then the adapter's own format.
 */
export function convertRequest(
  kind: RelayEndpoint['kind'],
  json: Json,
  adapter: ChannelAdapter,
  ctx: ConversionContext,
  completionCap: number | null,
): Json {
  const canonical = canonicalOf(kind, json, adapter.format)
  canonical.model = ctx.model
  if (completionCap !== null) {
    delete canonical.max_completion_tokens
    canonical.max_tokens = completionCap
  }
  if (canonical.stream === true) {
    const options = isObject(canonical.stream_options) ? canonical.stream_options : {}
    canonical.stream_options = { ...options, include_usage: true }
  }
  if (adapter.codec) return adapter.codec.request(canonical, ctx)
  if (REASONING_MODEL.test(ctx.model) && canonical.max_tokens !== undefined && canonical.max_completion_tokens === undefined) {
    canonical.max_completion_tokens = canonical.max_tokens
    delete canonical.max_tokens
  }
  return canonical
}

/** How a stream's events travel from the upstream to the client, and which reader bills them. */
export interface StreamConversion {
  /** Upstream events → canonical chunks; null when the upstream already speaks the reading format. */
  toCanonical: StreamConverter | null
  /** Reads usage and text for billing, at the reading stage. */
  reader: StreamEventReader
  /** Canonical chunks → the client's events; null when the client speaks the reading format. */
  toClient: EventTransform | null
}

/**
 * The stream path for an answer: null for the common case (OpenAI events read by the relay's own scanner and
 * passed on untouched); a native stream of another format brings its adapter's reader; a converted one runs
 * through the adapter's converter and the client format's writer, read in between in canonical form.
 */
export function streamConversion(kind: RelayEndpoint['kind'], adapter: ChannelAdapter, ctx: ConversionContext): StreamConversion | null {
  if (!isConverted(kind, adapter)) {
    return adapter.nativeStreamReader ? { toCanonical: null, reader: adapter.nativeStreamReader(), toClient: null } : null
  }
  return {
    toCanonical: adapter.codec ? adapter.codec.stream(ctx) : null,
    reader: new SseEventReader(),
    toClient: clientFormatOf(kind) === 'anthropic' ? new OpenAIToAnthropicStream(ctx.model) : null,
  }
}

/** A whole converted answer: the client's body, and the usage read from the provider's own fields. */
export function convertAnswer(kind: RelayEndpoint['kind'], adapter: ChannelAdapter, answer: Json, ctx: ConversionContext): { body: Json; usage: Usage | null } {
  const canonical = adapter.codec ? adapter.codec.response(answer, ctx) : answer
  const usage = adapter.usage(answer)
  const body = clientFormatOf(kind) === 'anthropic' ? toAnthropicMessage(canonical, usage, ctx.model) : canonical
  return { body, usage }
}
