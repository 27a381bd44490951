// Channel choice with failover (CONTRACT §3): a connect error, a timeout, a 429 or a 5xx before any byte reached
// the client sends the request to the next channel; a 401/403 also disables the channel. Every channel gets the
// request at most once. Only a response worth relaying leaves this module; everything else is drained here.
import type { FastifyInstance } from 'fastify'
import { ApiError } from '../errors.js'
import { getAdapter, type ChannelAdapter } from './adapters/index.js'
import { pickChannel } from './channel-picker.js'
import { upstreamModelOf } from './model-mapping.js'
import type { RelayChannel } from './seams.js'
import { callUpstream, type UpstreamRequest, type UpstreamResponse } from './upstream-call.js'

export interface ForwardPlan {
  model: string
  candidates: readonly RelayChannel[]
  /** False for a body that can be sent once only (a streamed upload): then there is no second channel. */
  replayable: boolean
  buildRequest(channel: RelayChannel, adapter: ChannelAdapter, upstreamModel: string): UpstreamRequest
}

export interface Forwarded {
  channel: RelayChannel
  upstreamModel: string
  response: UpstreamResponse
  /** Milliseconds from the first dispatch to this response's head. */
  firstByteMs: number
  /** How many channels were tried, this one included. */
  attempts: number
}

/** The client left while the gateway was still looking for an upstream answer. */
export class ClientGoneError extends Error {
  constructor() {
    super('client closed the request')
  }
}

/** Error bodies are small; an upstream that sends more is not read further. */
const ERROR_BODY_LIMIT = 64 * 1024

export async function forwardWithFailover(app: FastifyInstance, plan: ForwardPlan, signal: AbortSignal): Promise<Forwarded> {
  const tried = new Set<number>()
  const maxAttempts = plan.replayable ? 1 + app.config.relayRetries : 1
  const started = performance.now()
  let lastFailure: ApiError | null = null
  /** Half-open channels passed over because another request holds their one probe: they cost no attempt. */
  let skipped = 0

  while (tried.size - skipped < maxAttempts) {
    const channel = pickChannel(plan.candidates, tried)
    if (!channel) break
    tried.add(channel.id)
    const adapter = getAdapter(channel.type)
    if (!adapter) {
      lastFailure = new ApiError(502, 'upstream_error', `channel type '${channel.type}' is not supported`)
      continue
    }
    const upstreamModel = upstreamModelOf(channel.modelMapping, plan.model)
    // Built outside the try below: whatever the gateway throws while building a request is its own error (a 500,
    // or the client's 400), never a channel failure, and no reason to try another channel (CONTRACT §6).
    const upstreamRequest = plan.buildRequest(channel, adapter, upstreamModel)
    // Circuit breaker (src/channels/circuit.ts): a half-open channel lets one probe through at a time.
    const admitted = app.channelPool.admit(channel.id)
    if (admitted !== true && !(await admitted)) {
      skipped += 1
      continue
    }
    const attemptStarted = performance.now()
    let response: UpstreamResponse
    try {
      response = await callUpstream(channel.dispatcher ?? app.upstream, upstreamRequest, signal, {
        bodyTimeoutMs: app.config.upstreamIdleTimeoutMs,
        onBodyError: (err) => {
          if (isUpstreamBodyFault(err)) app.channelPool.recordOutcome(channel.id, 'failure')
        },
      })
    } catch (err) {
      // Only the upstream's own failures count against the channel (CONTRACT §6).
      app.channelPool.recordOutcome(channel.id, signal.aborted || isGatewaySide(err) ? 'neutral' : 'failure')
      if (signal.aborted) throw new ClientGoneError()
      if (isGatewaySide(err)) throw err
      lastFailure = transportFailure(err, app.config.upstreamFirstByteTimeoutMs)
      app.metrics.upstreamErrors.inc({ channel: channelLabel(channel), reason: lastFailure.statusCode === 504 ? 'timeout' : 'connect' })
      continue
    }
    const status = response.status
    if (status !== 401 && status !== 403 && status !== 429 && status < 500) {
      if (channel.id > 0) app.channelPool.recordResponseTime(channel.id, Math.round(performance.now() - attemptStarted))
      app.channelPool.recordOutcome(channel.id, 'success')
      return { channel, upstreamModel, response, firstByteMs: Math.round(performance.now() - started), attempts: tried.size }
    }
    lastFailure = await statusFailure(response, channel)
    app.metrics.upstreamErrors.inc({ channel: channelLabel(channel), reason: `status_${status}` })
    // A 5xx counts against the channel; a 429 is the upstream's capacity, 401/403 disable it below.
    app.channelPool.recordOutcome(channel.id, status >= 500 ? 'failure' : 'neutral')
    if (status === 401 || status === 403) await disable(app, channel, lastFailure)
    if (signal.aborted) throw new ClientGoneError()
  }

  throw lastFailure ?? (skipped > 0 ? channelsRecovering(plan.model) : noChannel(plan.model))
}

/** Every channel left was half-open with its one probe taken by another request (a short window): retry soon. */
function channelsRecovering(model: string): ApiError {
  const message = `every channel serving '${model}' is recovering from upstream failures; retry shortly`
  return new ApiError(503, 'channel_unavailable', message, { type: 'api_error', headers: { 'retry-after': '1' } })
}

/** A body that failed after its head because of the upstream: cut, reset, or silent past UPSTREAM_IDLE_TIMEOUT_MS. */
function isUpstreamBodyFault(err: Error): boolean {
  const code = 'code' in err ? String(err.code) : ''
  return code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_SOCKET' || code === 'ECONNRESET'
}

export function noChannel(model: string): ApiError {
  return new ApiError(500, 'no_available_channel', `no available channel for model '${model}'`, { retry: false, type: 'api_error' })
}

/** undici refusing the request it was handed (a bad header, a bad body type): the gateway's fault, not the upstream's. */
function isGatewaySide(err: unknown): boolean {
  // The gateway's own refusal raised inside a dispatcher (a personal API's address check: 400 address_not_allowed).
  if (err instanceof ApiError) return true
  const code = typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : ''
  return code === 'UND_ERR_INVALID_ARG' || code === 'UND_ERR_NOT_SUPPORTED' || code.startsWith('ERR_INVALID_')
}

function transportFailure(err: unknown, timeoutMs: number): ApiError {
  const code = typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : ''
  if (code === 'UND_ERR_HEADERS_TIMEOUT') {
    return new ApiError(504, 'upstream_error', `upstream sent no response within ${timeoutMs} ms`, { type: 'upstream_error' })
  }
  if (code === 'UND_ERR_CONNECT_TIMEOUT') {
    return new ApiError(504, 'upstream_error', 'connecting to the upstream timed out', { type: 'upstream_error' })
  }
  return new ApiError(502, 'upstream_error', 'could not reach the upstream', { type: 'upstream_error', cause: err })
}

/** The upstream's own status and message (and code, when it sent an OpenAI error object). */
async function statusFailure(response: UpstreamResponse, channel: RelayChannel): Promise<ApiError> {
  let message = `upstream answered ${response.status}`
  let code: string | null = null
  try {
    const parsed: unknown = JSON.parse((await response.read(ERROR_BODY_LIMIT)).toString('utf8'))
    const error = typeof parsed === 'object' && parsed !== null && 'error' in parsed ? parsed.error : null
    if (typeof error === 'object' && error !== null) {
      if ('message' in error && typeof error.message === 'string' && error.message) message = error.message
      if ('code' in error && typeof error.code === 'string' && error.code) code = error.code
    } else if (typeof error === 'string' && error) {
      message = error
    }
  } catch {
    // Not JSON, too long or cut: the status alone is the message.
  }
  // A 429's or 503's `retry-after` (seconds) reaches the client when this is the answer it gets.
  const retryAfter = response.headers['retry-after']
  const headers = typeof retryAfter === 'string' && /^\d{1,6}$/.test(retryAfter) ? { 'retry-after': retryAfter } : undefined
  return new ApiError(response.status, code ?? 'upstream_error', redactKeys(message, channel.key), { type: 'upstream_error', headers })
}

/**
 * Upstreams quote the rejected key in their message (OpenAI: "Incorrect API key provided: sk-ab***yz"); that is
 * the channel's secret, so any key-looking token is cut out before the message reaches a client.
 */
function redactKeys(message: string, key: string): string {
  let out = key.length >= 4 ? message.split(key).join('[redacted]') : message
  out = out.replace(/\b(?:sk|key|api)[-_][A-Za-z0-9*_.-]{4,}/g, '[redacted]')
  return out
}

/** Personal APIs (synthetic channels, negative ids) share one label: one per user's upstream would be unbounded. */
function channelLabel(channel: RelayChannel): string {
  return channel.id > 0 ? String(channel.id) : 'personal'
}

async function disable(app: FastifyInstance, channel: RelayChannel, failure: ApiError): Promise<void> {
  // A personal API is the user's own to fix; there is no channel to disable.
  if (channel.id <= 0) return
  try {
    await app.channelPool.autoDisable(channel.id, `upstream answered ${failure.statusCode}: ${failure.message}`)
  } catch (err) {
    app.log.error({ err, channelId: channel.id }, 'auto-disabling a channel failed')
  }
}
