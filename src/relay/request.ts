// What the relay needs to know about a client's request, read loosely (CONTRACT §3, STYLE habit 4): only the
// fields the gateway itself depends on are checked; every other field is kept and forwarded untouched.
import { estimatePromptTokens } from '../billing/tokens-count.js'
import { errors } from '../errors.js'
import type { ChannelAdapter } from './adapters/index.js'

export interface RelayEndpoint {
  /** The public and upstream path, e.g. `/v1/chat/completions`. */
  path: string
  /** `native` endpoints stream SSE with usage handling; `passthrough` ones relay the upstream's bytes as they are. */
  kind: 'chat' | 'completions' | 'embeddings' | 'passthrough'
  /** OpenAI's own default when the body names no model (moderations, images); absent → `model` is required. */
  defaultModel?: string
}

export const ENDPOINTS = {
  chat: { path: '/v1/chat/completions', kind: 'chat' },
  completions: { path: '/v1/completions', kind: 'completions' },
  embeddings: { path: '/v1/embeddings', kind: 'embeddings' },
  responses: { path: '/v1/responses', kind: 'passthrough' },
  moderations: { path: '/v1/moderations', kind: 'passthrough', defaultModel: 'omni-moderation-latest' },
  images: { path: '/v1/images/generations', kind: 'passthrough', defaultModel: 'dall-e-2' },
  speech: { path: '/v1/audio/speech', kind: 'passthrough' },
  transcriptions: { path: '/v1/audio/transcriptions', kind: 'passthrough' },
} as const satisfies Record<string, RelayEndpoint>

export type JsonObject = Record<string, unknown>

export interface RelayBody {
  model: string
  stream: boolean
  /** The client asked for `stream_options.include_usage`: the usage chunk is passed on only then. */
  clientWantsUsage: boolean
  maxCompletionTokens: number | null
  promptTokensEstimate: number
  json: JsonObject
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Validates a parsed JSON body for `endpoint`; throws 400 `invalid_request` naming the field. */
export function readJsonBody(endpoint: RelayEndpoint, body: unknown): RelayBody {
  if (!isObject(body)) throw errors.invalidRequest('request body must be a JSON object')
  const model = body.model ?? endpoint.defaultModel
  if (typeof model !== 'string' || model.length === 0) {
    throw errors.invalidRequest("'model' is required and must be a string", 'model')
  }
  if (endpoint.kind === 'chat' && !Array.isArray(body.messages)) {
    throw errors.invalidRequest("'messages' must be an array", 'messages')
  }
  const stream = body.stream === true
  const options = body.stream_options
  return {
    model,
    stream,
    clientWantsUsage: stream && isObject(options) && options.include_usage === true,
    maxCompletionTokens: maxTokens(body),
    promptTokensEstimate: estimatePromptTokens(body),
    json: body,
  }
}

function maxTokens(body: JsonObject): number | null {
  for (const value of [body.max_completion_tokens, body.max_tokens, body.max_output_tokens]) {
    if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return Math.floor(value)
  }
  return null
}

/**
 * The body one channel gets: the model mapped (only when the channel maps it), and for native streams
 * `stream_options.include_usage` turned on so the gateway can bill from the upstream's own count.
 */
export function upstreamJsonBody(
  endpoint: RelayEndpoint,
  body: RelayBody,
  upstreamModel: string,
  adapter: ChannelAdapter,
): Buffer {
  let json = body.json
  const asksUsage = body.stream && (endpoint.kind === 'chat' || endpoint.kind === 'completions')
  if (upstreamModel !== body.model || (asksUsage && !body.clientWantsUsage)) {
    json = { ...json }
    if (upstreamModel !== body.model) json.model = upstreamModel
    if (asksUsage && !body.clientWantsUsage) {
      const options = isObject(json.stream_options) ? json.stream_options : {}
      json.stream_options = { ...options, include_usage: true }
    }
  }
  if (adapter.transformRequestBody) json = adapter.transformRequestBody(json)
  return Buffer.from(JSON.stringify(json))
}
