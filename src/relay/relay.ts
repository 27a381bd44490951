// The relay's journey for one request (CONTRACT §3): reserve → choose a channel (with failover) → forward →
// relay the answer → settle. Settlement happens exactly once, whatever happened in between.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Readable } from 'node:stream'
import { toApiError } from '../errors.js'
import type { ChannelAdapter } from './adapters/index.js'
import type { RelayResult } from './client-response.js'
import { ClientGoneError, forwardWithFailover, noChannel } from './failover.js'
import { upstreamRequestHeaders } from './headers.js'
import { relayBody } from './passthrough.js'
import { personalApiChannel } from './personal-api-channel.js'
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

function candidatesFor(app: FastifyInstance, principal: RelayPrincipal, model: string): readonly RelayChannel[] {
  if (principal.personalApi) return [personalApiChannel(app, principal.personalApi)]
  if (principal.pinnedChannelId === null) return app.channelPool.candidates(principal.group, model)
  const pinned = app.channelPool.byId(principal.pinnedChannelId)
  return pinned && pinned.status === 'enabled' ? [pinned] : []
}

export async function relay(app: FastifyInstance, request: FastifyRequest, reply: FastifyReply, job: RelayJob): Promise<void> {
  const meter = meterOf(app)
  const meterRequest: MeterRequest = {
    requestId: request.id,
    principal: job.principal,
    model: job.model,
    endpoint: job.endpoint.path,
    stream: job.stream,
    promptTokensBound: job.promptTokensBound,
    countPromptTokens: job.countPromptTokens,
    maxCompletionTokens: job.maxCompletionTokens,
    choices: job.choices,
    generates: job.generates,
  }
  const reservation = await meter.reserve(meterRequest)

  // Wired before the first dispatch: a client gone before the upstream's head must free that upstream at once.
  const clientGone = new AbortController()
  const res = reply.raw
  const onClose = (): void => {
    if (!res.writableFinished) clientGone.abort(new ClientGoneError())
  }
  res.once('close', onClose)

  const started = performance.now()
  const candidates = candidatesFor(app, job.principal, job.model)
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
          // The adapter's auth header is what the upstream sees; `authorization` is only the fallback slot.
          const auth = adapter.authHeaders(channel.key)
          return {
            url: new URL(adapter.url(channel.baseUrl || adapter.defaultBaseUrl, request.url)),
            method: 'POST',
            headers: upstreamRequestHeaders(request.headers, {
              authorization: auth.authorization ?? `Bearer ${channel.key}`,
              requestId: request.id,
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
    // Any streamed answer (chat, completions, the Responses API) goes through the SSE path, which reads usage
    // on the way; other bodies are relayed as they are and read for usage at the end.
    const result: RelayResult =
      job.stream && contentType.startsWith('text/event-stream')
        ? await relaySse(reply, forwarded.response, {
            endpoint: job.endpoint,
            clientWantsUsage: job.clientWantsUsage,
            countPromptTokens: job.countPromptTokens,
            choices: job.choices,
            budget: streamBudget(meter, meterRequest, reservation),
          }, clientGone.signal)
        : await relayBody(reply, forwarded.response, clientGone.signal)
    Object.assign(outcome, result)
  } catch (err) {
    if (err instanceof ClientGoneError) {
      outcome.status = 499
      outcome.error = err.message
      // Nobody is left to answer; the request ends here without a response.
      reply.hijack()
      return
    }
    const apiError = toApiError(err)
    outcome.status = apiError.statusCode
    outcome.error = apiError.message
    throw err
  } finally {
    res.off('close', onClose)
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
