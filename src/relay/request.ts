// What the relay needs to know about a client's request, read loosely (CONTRACT §3, STYLE habit 4): only the
// fields the gateway itself depends on are checked; every other field is kept and forwarded untouched.
import { errors } from '../errors.js'
import type { ChannelAdapter } from './adapters/index.js'
import { convertRequest, isConverted, REASONING_MODEL } from './exchange.js'
import { promptTokensBound } from './prompt-bound.js'

export interface RelayEndpoint {
  /** The public and upstream path, e.g. `/v1/chat/completions`. */
  path: string
  /** `native` endpoints stream SSE with usage handling; `passthrough` ones relay the upstream's bytes as they are. */
  kind: 'chat' | 'completions' | 'embeddings' | 'passthrough' | 'messages'
  /** OpenAI's own default when the body names no model (moderations, images); absent → `model` is required. */
  defaultModel?: string
  /** The body field that limits the completion, when the endpoint generates text (the meter reserves for it). */
  completionLimitField?: 'max_tokens' | 'max_output_tokens'
}

export const ENDPOINTS = {
  chat: { path: '/v1/chat/completions', kind: 'chat', completionLimitField: 'max_tokens' },
  /** Anthropic's Messages API (CONTRACT §3, §9): native to Anthropic channels, converted for the others. */
  messages: { path: '/v1/messages', kind: 'messages', completionLimitField: 'max_tokens' },
  completions: { path: '/v1/completions', kind: 'completions', completionLimitField: 'max_tokens' },
  embeddings: { path: '/v1/embeddings', kind: 'embeddings' },
  responses: { path: '/v1/responses', kind: 'passthrough', completionLimitField: 'max_output_tokens' },
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
  /** The client's completion limit per choice, or null. */
  maxCompletionTokens: number | null
  /** `n`: completions per request. */
  choices: number
  /** Upper bound of the prompt's tokens, from the body's size (see prompt-bound.ts). */
  promptTokensBound: number
  /** Characters of the JSON text the body was parsed from. */
  textLength: number
  json: JsonObject
  /**
   * The client's own bytes and their text, when the parser kept them: forwarded as they came when nothing changes.
   * `forwardable` is decided at the first attempt that would send them and kept for a failover's next attempts.
   */
  raw?: { bytes: Buffer; text: string; forwardable?: boolean }
}

/** Model names as providers spell them (`gpt-4o`, `deepseek-ai/DeepSeek-V3`, `llama3.1:8b`, `@cf/meta/llama-3`). */
const MODEL_NAME = /^[A-Za-z0-9@][A-Za-z0-9._:/@+-]{0,127}$/

/** Completion limits beyond any model's output: refused rather than reserved (and overflowing the cost). */
export const MAX_COMPLETION_TOKENS = 10_000_000
/** OpenAI accepts at most 128 choices per request. */
const MAX_CHOICES = 128
const LIMIT_FIELDS = ['max_completion_tokens', 'max_tokens', 'max_output_tokens'] as const

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** 400 unless `model` is a sane model name (1–128 characters of the set providers use). */
export function assertModelName(model: unknown, param = 'model'): asserts model is string {
  if (typeof model !== 'string' || model.length === 0) throw errors.invalidRequest(`'${param}' is required and must be a string`, param)
  if (!MODEL_NAME.test(model)) {
    throw errors.invalidRequest(
      `'${param}' must be 1–128 characters of letters, digits and . _ : / @ + - (starting with a letter, digit or @)`,
      param,
    )
  }
}

/**
 * Validates a parsed JSON body for `endpoint`; throws 400 `invalid_request` naming the field.
 * `text` is the JSON as received (its size bounds the prompt's tokens).
 */
export function readJsonBody(endpoint: RelayEndpoint, body: unknown, text: string, bytes?: Buffer | null): RelayBody {
  if (!isObject(body)) throw errors.invalidRequest('request body must be a JSON object')
  const model = body.model ?? endpoint.defaultModel
  assertModelName(model)
  if ((endpoint.kind === 'chat' || endpoint.kind === 'messages') && !(Array.isArray(body.messages) && body.messages.every(isObject))) {
    throw errors.invalidRequest("'messages' must be an array of message objects", 'messages')
  }
  const stream = body.stream === true
  const options = body.stream_options
  return {
    model,
    stream,
    clientWantsUsage: stream && isObject(options) && options.include_usage === true,
    maxCompletionTokens: completionLimit(body),
    choices: choicesOf(body),
    promptTokensBound: promptTokensBound(text),
    textLength: text.length,
    json: body,
    ...(bytes ? { raw: { bytes, text } } : {}),
  }
}

/**
 * The fields the gateway decides by (route, bill, cap). The client's bytes go upstream as they came only when each
 * of these appears at most once as a literal key: JSON.parse keeps the LAST of duplicate keys and some upstream
 * parsers the first, so `{"model":"cheap",…,"model":"dear"}` forwarded as it came could be billed as one model and
 * served as another. A key spelled with a `\u` escape cannot be counted by its literal, so any `\u` in the text
 * also sends it through JSON.stringify (whose output has no duplicates). Inside a string value a quote is always
 * escaped (`\"model\"`), so a literal `"model"` is a key.
 */
const DECISION_KEYS = ['model', 'stream', 'stream_options', 'n', 'messages', ...LIMIT_FIELDS].map((key) => `"${key}"`)

function forwardableAsIs(text: string): boolean {
  if (text.charCodeAt(0) === 0xfeff || text.includes('\\u')) return false
  for (const key of DECISION_KEYS) {
    const first = text.indexOf(key)
    if (first >= 0 && text.indexOf(key, first + key.length) >= 0) return false
  }
  return true
}

/** The first completion limit the body names; a limit that is not a whole number in range is a 400. */
function completionLimit(body: JsonObject): number | null {
  let limit: number | null = null
  for (const field of LIMIT_FIELDS) {
    const value = body[field]
    if (value === undefined || value === null) continue
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_COMPLETION_TOKENS) {
      throw errors.invalidRequest(`'${field}' must be an integer from 0 to ${MAX_COMPLETION_TOKENS}`, field)
    }
    limit ??= value
  }
  return limit
}

function choicesOf(body: JsonObject): number {
  const n = body.n
  if (n === undefined || n === null) return 1
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_CHOICES) {
    throw errors.invalidRequest(`'n' must be an integer from 1 to ${MAX_CHOICES}`, 'n')
  }
  return n
}

/** `max_tokens` for a converted request to a provider that requires one, when the client named none. */
const DEFAULT_MAX_TOKENS = 4096

/**
 * The body one channel gets. In the channel's own format: the model mapped (only when the channel maps it), for
 * native streams `stream_options.include_usage` turned on so the gateway can bill from the upstream's own count,
 * and the completion capped when the balance could not afford the whole allowance (`completionCap`, CONTRACT §4).
 * In another format (CONTRACT §9): converted by exchange.ts, with the same model, cap and usage request.
 */
export function upstreamJsonBody(
  endpoint: RelayEndpoint,
  body: RelayBody,
  upstreamModel: string,
  adapter: ChannelAdapter,
  completionCap: number | null = null,
  defaultMaxTokens = DEFAULT_MAX_TOKENS,
): Buffer {
  if (isConverted(endpoint.kind, adapter)) {
    const converted = convertRequest(endpoint.kind, body.json, adapter, { model: upstreamModel, defaultMaxTokens }, completionCap)
    return Buffer.from(JSON.stringify(converted))
  }
  let json = body.json
  const asksUsage = body.stream && (endpoint.kind === 'chat' || endpoint.kind === 'completions')
  const capField = completionCap !== null ? capFieldOf(endpoint, upstreamModel) : null
  if (upstreamModel !== body.model || (asksUsage && !body.clientWantsUsage) || capField) {
    json = { ...json }
    if (upstreamModel !== body.model) json.model = upstreamModel
    if (asksUsage && !body.clientWantsUsage) {
      const options = isObject(json.stream_options) ? json.stream_options : {}
      json.stream_options = { ...options, include_usage: true }
    }
    if (capField) json[capField] = completionCap
  }
  // Unchanged: the client's own bytes, spared a re-serialisation (~1 ms for a 128 KB prompt) when they are safe.
  if (json === body.json && body.raw && (body.raw.forwardable ??= forwardableAsIs(body.raw.text))) return body.raw.bytes
  return Buffer.from(JSON.stringify(json))
}

function capFieldOf(endpoint: RelayEndpoint, upstreamModel: string): string | null {
  const field = endpoint.completionLimitField
  if (field === 'max_tokens' && endpoint.kind === 'chat' && REASONING_MODEL.test(upstreamModel)) return 'max_completion_tokens'
  return field ?? null
}
