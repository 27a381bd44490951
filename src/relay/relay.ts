// The relay's journey for one request (CONTRACT §3): reserve → choose a channel (with failover) → forward →
// relay the answer → settle. Settlement happens exactly once, whatever happened in between.
// The journey is the same for every client: a `/v1` HTTP reply (replyClient) or a chat turn (src/chat), each a
// RelayClient that says where the answer goes and when its client left.
import type { FastifyInstance } from 'fastify'
import type { Readable } from 'node:stream'
import { toApiError } from '../errors.js'
import { getAdapter, type ChannelAdapter } from './adapters/index.js'
import type { RelayResult } from './client-response.js'
import { relayConvertedBody } from './converted-body.js'
import { canServe, CANONICAL_PATH, isConverted, streamConversion } from './exchange.js'
import { ClientGoneError, forwardWithFailover, noChannel } from './failover.js'
import { upstreamRequestHeaders } from './headers.js'
import { relayBody } from './passthrough.js'
import { personalApiChannel } from './personal-api-channel.js'
import type { RelayClient } from './relay-client.js'
import type { RelayEndpoint } from './request.js'
import type { Meter, MeterOutcome, MeterRequest, RelayChannel, RelayPrincipal, Reservation } from './seams.js'
import { relaySse, type StreamBudget } from './stream.js'

export interface RelayJob {
  endpoint: RelayEndpoint
  principal: RelayPrincipal
  model: string
  /** The client asked for a stream. */
  stream: boolean
  clientWantsUsage: boolean
  promptTokensBound: number
  countPromptTokens(): Promise<number>
  maxCompletionTokens: number | null
  choices: number
  generates: boolean
  /** False for a body that can be sent once only (a streamed upload). */
  replayable: boolean
  /** The body one channel gets (the model mapped for it). */
  body(channel: RelayChannel, adapter: ChannelAdapter, upstreamModel: string, reservation: Reservation): Buffer | Readable
  /** Request headers to send besides the filtered client headers (e.g. a streamed upload's length). */
  extraHeaders?: Record<string, string>
  /** Who asked, for the usage log: a `/v1` request (the default) or a chat turn. */
  source?: 'relay' | 'chat'
}

/** Until billing is installed every request is free: reserving and settling do nothing. */
const FREE: Meter = {
  reserve: async () => ({ quota: 0, coveredCompletionTokens: Infinity, completionCap: null }),
  extend: async () => true,
  settle: async () => {},
}

/** What a stream needs of the meter: how far its reservation reaches, and a way to extend it. */
function streamBudget(meter: Meter, request: MeterRequest, reservation: Reservation): StreamBudget {
  return {
    covered: () => reservation.coveredCompletionTokens,
    extend: (completionTokens) => meter.extend(request, reservation, completionTokens),
  }
}

function meterOf(app: FastifyInstance): Meter {
  return app.hasDecorator('meter') ? app.meter : FREE
}

function candidatesFor(app: FastifyInstance, principal: RelayPrincipal, model: string, kind: RelayEndpoint['kind']): readonly RelayChannel[] {
  const all = principalChannels(app, principal, model)
  // A channel whose provider has no such endpoint (embeddings on a Gemini channel) does not serve the request.
  // An unknown type stays in: failover answers for it.
  return all.every((channel) => servesKind(channel, kind)) ? all : all.filter((channel) => servesKind(channel, kind))
}

function servesKind(channel: RelayChannel, kind: RelayEndpoint['kind']): boolean {
  const adapter = getAdapter(channel.type)
  return !adapter || canServe(kind, adapter)
}

function principalChannels(app: FastifyInstance, principal: RelayPrincipal, model: string): readonly RelayChannel[] {
  if (principal.personalApi) return [personalApiChannel(app, principal.personalApi)]
  if (principal.pinnedChannelId === null) return app.channelPool.candidates(principal.group, model)
  const pinned = app.channelPool.byId(principal.pinnedChannelId)
  return pinned && pinned.status === 'enabled' ? [pinned] : []
}

/**
 * Relays one request for `client` and returns how it ended (what was billed); throws the ApiError the client must
 * get when no answer was relayed (nothing reserved, no channel, every channel failed).
 */
export async function relay(app: FastifyInstance, client: RelayClient, job: RelayJob): Promise<MeterOutcome> {
  const meter = meterOf(app)
  const meterRequest: MeterRequest = {
    requestId: client.requestId,
    principal: job.principal,
    model: job.model,
    endpoint: job.endpoint.path,
    stream: job.stream,
    promptTokensBound: job.promptTokensBound,
    countPromptTokens: job.countPromptTokens,
    maxCompletionTokens: job.maxCompletionTokens,
    choices: job.choices,
    generates: job.generates,
    source: job.source ?? 'relay',
  }
  const reservation = await meter.reserve(meterRequest)

  // Wired before the first dispatch: a client gone before the upstream's head must free that upstream at once.
  const clientGone = new AbortController()
  const offGone = client.onGone(() => clientGone.abort(new ClientGoneError()))

  const started = performance.now()
  const candidates = candidatesFor(app, job.principal, job.model, job.endpoint.kind)
  const outcome: MeterOutcome = {
    channelId: null,
    upstreamModel: null,
    status: 500,
    error: null,
    usage: null,
    usageSource: 'none',
    delivered: false,
    latencyMs: 0,
    firstByteMs: null,
  }
  try {
    if (candidates.length === 0) throw noChannel(job.model)
    const forwarded = await forwardWithFailover(
      app,
      {
        model: job.model,
        candidates,
        replayable: job.replayable,
        buildRequest: (channel, adapter, upstreamModel) => {
          // The adapter's auth headers are the only credential the upstream sees (a Gemini key never also goes out
          // as a bearer token: Google would take it for an OAuth token).
          const auth = adapter.authHeaders(channel.key, client.headers)
          const path = isConverted(job.endpoint.kind, adapter) ? CANONICAL_PATH : client.url
          const baseUrl = channel.baseUrl || adapter.defaultBaseUrl
          return {
            url: new URL(adapter.url({ baseUrl, path, model: upstreamModel, stream: job.stream })),
            method: 'POST',
            headers: upstreamRequestHeaders(client.headers, {
              authorization: auth.authorization,
              requestId: client.requestId,
              extra: job.extraHeaders ? { ...job.extraHeaders, ...auth } : auth,
            }),
            body: job.body(channel, adapter, upstreamModel, reservation),
            headersTimeoutMs: app.config.upstreamFirstByteTimeoutMs,
          }
        },
      },
      clientGone.signal,
    )
    outcome.channelId = forwarded.channel.id
    outcome.upstreamModel = forwarded.upstreamModel
    outcome.firstByteMs = forwarded.firstByteMs
    const contentType = String(forwarded.response.headers['content-type'] ?? '')
    const adapter = getAdapter(forwarded.channel.type) as ChannelAdapter
    const ctx = { model: forwarded.upstreamModel, defaultMaxTokens: app.config.defaultCompletionReserve }
    // Any streamed answer (chat, completions, the Responses API, Anthropic's messages) goes through the SSE path,
    // which reads usage on the way (converting it when the client speaks another format); other bodies are relayed
    // as they are and read for usage at the end, or converted whole.
    const result: RelayResult =
      job.stream && contentType.startsWith('text/event-stream')
        ? await relaySse(client, forwarded.response, {
            endpoint: job.endpoint,
            clientWantsUsage: job.clientWantsUsage,
            countPromptTokens: job.countPromptTokens,
            choices: job.choices,
            budget: streamBudget(meter, meterRequest, reservation),
            conversion: streamConversion(job.endpoint.kind, adapter, ctx),
          }, clientGone.signal)
        : isConverted(job.endpoint.kind, adapter)
          ? await relayConvertedBody(client, forwarded.response, { kind: job.endpoint.kind, adapter, ctx, key: forwarded.channel.key }, clientGone.signal)
          : await relayBody(client, forwarded.response, clientGone.signal, adapter.usage)
    Object.assign(outcome, result)
    return outcome
  } catch (err) {
    if (err instanceof ClientGoneError) {
      outcome.status = 499
      outcome.error = err.message
      // Nobody is left to answer; the request ends here without a response.
      client.abandon()
      return outcome
    }
    const apiError = toApiError(err)
    outcome.status = apiError.statusCode
    outcome.error = apiError.message
    throw err
  } finally {
    offGone()
    outcome.latencyMs = Math.round(performance.now() - started)
    await settle(app, meter, meterRequest, reservation, outcome)
    record(app, job, outcome, candidates.length > 0)
  }
}

async function settle(
  app: FastifyInstance,
  meter: Meter,
  request: MeterRequest,
  reservation: Awaited<ReturnType<Meter['reserve']>>,
  outcome: MeterOutcome,
): Promise<void> {
  try {
    await meter.settle(request, reservation, outcome)
  } catch (err) {
    // The meter promises not to throw; if it does, the client's answer must not change because of it.
    app.log.error({ err, requestId: request.requestId }, 'settling a relayed request failed')
  }
}

function record(app: FastifyInstance, job: RelayJob, outcome: MeterOutcome, served: boolean): void {
  // Labels come from a bounded set: a model the gateway does not know is counted as `other`.
  const model = served ? app.metrics.modelLabel(job.model) : '(unserved)'
  app.metrics.relayRequests.inc({ model, status: String(outcome.status) })
  app.metrics.relayDuration.observe({ model, stream: String(job.stream) }, outcome.latencyMs / 1000)
  if (outcome.usage) {
    app.metrics.tokens.inc({ model, kind: 'prompt' }, outcome.usage.prompt_tokens)
    app.metrics.tokens.inc({ model, kind: 'completion' }, outcome.usage.completion_tokens)
  }
}
