/**
 * The interfaces the relay's hot path depends on, implemented by other domains:
 * - `RelayKeys` (src/tokens): relay key → token + user, from the cache when warm;
 * - `ChannelPool` (src/channels): the in-memory routing table with decrypted keys;
 * - `Meter` (src/billing): reserve before forwarding, settle after.
 * The relay never reads the database itself.
 */
import type { RoutableChannel } from './channel-picker.js'

export interface RelayToken {
  id: number
  userId: number
  name: string
  status: string
  /** Epoch ms, or null for never. */
  expiresAt: number | null
  unlimitedQuota: boolean
  remainQuota: number
  models: string[]
  allowIps: string[]
  group: string | null
  /** Requests per minute; null = no limit. */
  rateLimitRpm: number | null
  /** The personal API (CONTRACT §7) this key is bound to; absent or null = the gateway's channels. */
  personalApiId?: number | null
}

export interface RelayUser {
  id: number
  role: string
  status: string
  group: string
  quota: number
}

/** A user's own upstream (CONTRACT §7), decrypted for one request: what a bound key or a chat turn goes to. */
export interface PersonalApiTarget {
  id: number
  type: 'openai' | 'anthropic' | 'gemini'
  baseUrl: string
  /** Decrypted key: memory only, never logged or returned. */
  key: string
  model: string
}

export interface RelayPrincipal {
  token: RelayToken
  user: RelayUser
  /**
   * Set when the request goes to the user's own upstream (a relay key bound to a personal API, or a chat turn
   * with `api_id`): it is routed there alone, through the address-checked dispatcher, and costs 0 quota.
   */
  personalApi: PersonalApiTarget | null
  /** The group channels are chosen from: the token's group, else the user's. */
  group: string
  /** `sk-KEY-CHANNELID` pins a channel; honoured for admins' tokens only. */
  pinnedChannelId: number | null
}

export interface RelayKeys {
  /**
   * Resolves `Authorization: Bearer sk-...` and runs every key check of CONTRACT §3 that does
   * not need the body, in the contract's order; throws the contract's ApiError otherwise.
   */
  authenticate(authorization: string | undefined, clientIp: string): Promise<RelayPrincipal>
  /** The body-dependent check: `model_not_allowed` (403) when the token may not use `model`. */
  assertModelAllowed(principal: RelayPrincipal, model: string): void
}

export interface RelayChannel extends RoutableChannel {
  id: number
  type: string
  name: string
  baseUrl: string
  /** Decrypted upstream key: kept in memory only, never logged or returned. */
  key: string
  models: string[]
  modelMapping: Record<string, string>
  groups: string[]
  priority: number
  weight: number
  status: string
  /**
   * The undici dispatcher this channel's requests go through; absent = the shared upstream Agent. A personal
   * API's synthetic channel carries the address-checked one (CONTRACT §7).
   */
  dispatcher?: import('undici').Dispatcher
}

export interface ChannelPool {
  /** Enabled channels of the group serving the model, highest priority first. */
  candidates(group: string, model: string): readonly RelayChannel[]
  byId(id: number): RelayChannel | undefined
  /** Model ids an enabled channel of the group serves explicitly. */
  modelsForGroup(group: string): string[]
  /** Upstream said 401/403: disable the channel with the reason, for every instance. */
  autoDisable(id: number, reason: string): Promise<void>
  recordResponseTime(id: number, ms: number): void
  /** Circuit breaker (src/channels/circuit.ts): false only when the channel is half-open and its one probe is taken. */
  admit(id: number): boolean | Promise<boolean>
  /** Circuit breaker: what one attempt said about the channel (`neutral`: a 429, a client who left). */
  recordOutcome(id: number, outcome: 'success' | 'failure' | 'neutral'): void
}

export interface MeterRequest {
  requestId: string
  principal: RelayPrincipal
  model: string
  /** The relay route, e.g. `/v1/chat/completions`. */
  endpoint: string
  stream: boolean
  /**
   * A cheap upper bound of the prompt's tokens (from the body's size, never the tokenizer): what the
   * reservation covers. The exact count is only needed when the answer carries no usage.
   */
  promptTokensBound: number
  /** The exact prompt count (o200k), computed on demand: only for an answer without usage. */
  countPromptTokens(): Promise<number>
  /** The client's own completion limit (`max_tokens` / `max_completion_tokens` / `max_output_tokens`), or null. */
  maxCompletionTokens: number | null
  /** Completions generated per request (`n`); the completion allowance is per choice. */
  choices: number
  /** The endpoint generates completion tokens (chat, completions, responses), so an allowance is reserved. */
  generates: boolean
  /** Who asked: a `/v1` request (`relay`, the default) or a chat turn (`chat`, token id 0); the usage log's `source`. */
  source?: 'relay' | 'chat'
}

/** What was reserved; opaque to the relay apart from these read-only facts. */
export interface Reservation {
  /** Quota held for this request so far (grows when a stream's reservation is extended). */
  readonly quota: number
  /** Completion tokens (all choices together) the reservation covers; Infinity when output is free. */
  readonly coveredCompletionTokens: number
  /**
   * Set when the balance could not afford the whole completion allowance of a request that named no limit:
   * the per-choice `max_tokens` the upstream must be sent (CONTRACT §4). Null otherwise.
   */
  readonly completionCap: number | null
}

/**
 * Usage normalised across providers (src/billing/usage.ts makes it from each provider's own fields):
 * `prompt_tokens` is the WHOLE input, cached and cache-write tokens included (as OpenAI counts it), and
 * `completion_tokens` the WHOLE output, reasoning included. The optional counts say how much of those totals
 * was read from / written to the provider's prompt cache, or was reasoning; absent means 0.
 */
export interface Usage {
  prompt_tokens: number
  completion_tokens: number
  /** Of `prompt_tokens`: read from the prompt cache (billed at the cache-read price). */
  cached_tokens?: number
  /** Of `prompt_tokens`: written to the prompt cache (billed at the cache-write price). */
  cache_write_tokens?: number
  /** Of `completion_tokens`: reasoning / thinking (billed as output, like the rest of it). */
  reasoning_tokens?: number
}

export interface MeterOutcome {
  channelId: number | null
  upstreamModel: string | null
  /** The HTTP status the client got. */
  status: number
  error: string | null
  /** Usage to bill: the upstream's, or counted by the gateway; null when the response carried none. */
  usage: Usage | null
  usageSource: 'upstream' | 'counted' | 'none'
  /** True when any response byte reached the client (a failure before that costs nothing). */
  delivered: boolean
  latencyMs: number
  firstByteMs: number | null
}

export interface Meter {
  /** Throws 400 `model_price_unset` or 429 `insufficient_quota`; reserves otherwise. */
  reserve(request: MeterRequest): Promise<Reservation>
  /**
   * Grows a stream's reservation so it covers at least `completionTokens` (plus one increment of headroom);
   * false when the balance cannot cover more — the stream must then end (CONTRACT §4).
   */
  extend(request: MeterRequest, reservation: Reservation, completionTokens: number): Promise<boolean>
  /** Settles to the real cost and writes the usage-log row; never throws into the relay. */
  settle(request: MeterRequest, reservation: Reservation, outcome: MeterOutcome): Promise<void>
}

/**
 * Cache pub/sub channels for cross-instance invalidation (CONTRACT: a change reaches every
 * instance's relay within 1 s). The message is the id as a decimal string.
 */
export const INVALIDATE = {
  /** A user's status, role, group or quota changed (or the user was deleted). */
  user: 'invalidate:user',
  /** A token changed or was deleted. */
  token: 'invalidate:token',
  /** Any channel changed; the message is the channel id. */
  channels: 'invalidate:channels',
  /** Prices or group ratios changed. */
  pricing: 'invalidate:pricing',
  /** A personal API changed or was deleted; the message is its id (keys bound to it drop their decrypted copy). */
  personalApi: 'invalidate:personal-api',
} as const
