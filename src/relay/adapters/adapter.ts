// A provider adapter describes how to reach one kind of upstream and how to speak its format, so the relay itself
// never branches on provider. Adding a provider is adding a folder beside openai/ and listing it in index.ts.
//
// The relay's canonical format is OpenAI chat completions. An adapter whose `format` is not 'openai' carries a
// codec: pure functions from a canonical request to its own body, and from its own answer (whole, or SSE event by
// SSE event) back to canonical. When the client already speaks the channel's format, nothing is converted.
import type { IncomingHttpHeaders } from 'node:http'
import type { EventTransform, Json } from '../formats/shared.js'
import type { RelayEndpoint } from '../request.js'
import type { Usage } from '../seams.js'
import type { ChunkInfo } from '../sse-event.js'

/** The wire format of a channel's chat API; 'openai' is the canonical one. */
export type WireFormat = 'openai' | 'anthropic' | 'gemini'

/** What the adapter needs to build the upstream URL of one request. */
export interface UpstreamTarget {
  /** The channel's base URL (or the adapter's default). */
  baseUrl: string
  /** The OpenAI-style path (and query) the request is for: the client's own, or `/v1/chat/completions` when converted. */
  path: string
  /** The model as the upstream knows it (after the channel's model_mapping). */
  model: string
  stream: boolean
}

export interface ConversionContext {
  /** The upstream model, named in converted answers. */
  model: string
  /** `max_tokens` for a provider that requires one when the client named none (DEFAULT_COMPLETION_RESERVE). */
  defaultMaxTokens: number
}

/** Provider SSE → canonical chunks, with the provider's own usage as it was reported. */
export interface StreamConverter extends EventTransform {
  /** The provider's usage so far, normalised (src/billing/usage.ts); null until it reported any. */
  usage(): Usage | null
}

export interface ProviderCodec {
  /** A canonical request (OpenAI chat) → the provider's body; 400 `unsupported_parameter` for what it cannot say. */
  request(canonical: Json, ctx: ConversionContext): Json
  /** The provider's whole answer → a canonical `chat.completion`. */
  response(answer: Json, ctx: ConversionContext): Json
  /** A converter of one stream of the provider's SSE events into canonical chunks, ending with `[DONE]`. */
  stream(ctx: ConversionContext): StreamConverter
}

/** Reads one stream's events for billing: usage, and generated text with an upper bound of its tokens. */
export interface StreamEventReader {
  read(event: Buffer): ChunkInfo & { textBound: number }
}

export interface ChannelAdapter {
  /** The channel `type` this adapter serves, as stored on the channel. */
  type: string
  /** Used when a channel of this type has no `base_url`. */
  defaultBaseUrl: string
  format: WireFormat
  /** Whether it can serve a relay endpoint at all (a Gemini channel has no embeddings or audio). */
  serves(kind: RelayEndpoint['kind']): boolean
  /** The upstream URL of one request. Keys never go in it (Gemini's `?key=` included). */
  url(target: UpstreamTarget): string
  /** The headers that carry the channel's key, and the API version the upstream needs. */
  authHeaders(key: string, client: IncomingHttpHeaders): Record<string, string>
  /** Its usage, normalised, from a whole answer in its own format; null when the answer has none. */
  usage(answer: unknown): Usage | null
  /**
   * Reads a stream of its own format relayed as it is (a client speaking the channel's format); absent for the
   * canonical format, which the relay's own scanner reads.
   */
  nativeStreamReader?(): StreamEventReader
  /** Conversion to and from the canonical format; absent when the format is 'openai'. */
  codec?: ProviderCodec
}
