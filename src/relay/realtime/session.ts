// The billing of one realtime session (CONTRACT §3, §4). Each response the upstream runs is one metered request
// of the HTTP relay's kind: reserved from the balance when the upstream announces it (`response.created`), settled
// from its own usage when it ends (`response.done`), with one usage-log row each, through the one meter
// (src/billing/meter.ts). A response still running when the client leaves is cancelled upstream and billed from the
// `response.done` the upstream sends for it (a cancelled response reports what it generated); one that never ends
// within DRAIN_MS is settled as undelivered and costs nothing.
// When the balance cannot reserve a response, or is used up after one, the session is ended with an error event
// and close code 1008, rather than left to run on credit.
// The transcription of the client's audio (a session with a transcription model) is billed like a
// `/v1/audio/transcriptions` request of that model, one usage-log row per `…input_audio_transcription.completed`:
// from its token usage, or, for a model that reports only seconds (whisper-1), at the model's per-request price.
// The model must be allowed for the key and priced, as on HTTP; a session configured with one that is not is ended.
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import type { RawData, WebSocket } from 'ws'
import { fromOpenAI } from '../../billing/usage.js'
import { ApiError, toApiError } from '../../errors.js'
import { modelPriceUnset } from '../../pricing/service.js'
import type { Meter, MeterOutcome, MeterRequest, Reservation, Usage } from '../seams.js'
import type { RealtimeTarget } from './target.js'

/** RFC 6455 policy violation: what the session ends with when the balance is used up. */
export const QUOTA_CLOSE_CODE = 1008
/** Usage-log request ids are at most 64 characters: the suffix is kept, the upgrade's id is cut if need be. */
const REQUEST_ID_MAX = 64
/** Responses a session may have running at once (out-of-band ones run beside the conversation's). */
const MAX_OPEN_RESPONSES = 64
/** How long a session whose client left waits for the `response.done` of what it cancelled. */
export const DRAIN_MS = 5_000

interface OpenResponse {
  request: MeterRequest
  reserving: Promise<Reservation | null>
  started: number
}

/** The transcription model a `session.created` / `session.updated` names (GA or beta shape), or null: none. */
export function transcriptionModelOf(session: unknown): string | null {
  if (!isRecord(session)) return null
  const input = isRecord(session.audio) && isRecord(session.audio.input) ? session.audio.input : {}
  const config = input.transcription ?? session.input_audio_transcription
  return isRecord(config) && typeof config.model === 'string' && config.model !== '' ? config.model : null
}

type Json = Record<string, unknown>
const isRecord = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value)

const CREATED = Buffer.from('"response.created"')
const DONE = Buffer.from('"response.done"')
const SESSION = Buffer.from('"session.')
const TRANSCRIBED = Buffer.from('"conversation.item.input_audio_transcription.completed"')

/** Realtime's `response.usage` → the normalised usage. Its details are `input_token_details` (no "s"). */
export function realtimeUsage(usage: unknown): Usage | null {
  if (!isRecord(usage)) return null
  return fromOpenAI({
    input_tokens: usage.input_tokens,
    output_tokens: usage.output_tokens,
    input_tokens_details: usage.input_token_details ?? usage.input_tokens_details,
    output_tokens_details: usage.output_token_details ?? usage.output_tokens_details,
  })
}

function asBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data
  return Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data)
}

export const quotaUsedUp = () => new ApiError(429, 'insufficient_quota', 'your quota is used up; top up to continue', { type: 'insufficient_quota' })

/**
 * The user's balance as of now, with what credit leases hold of it, is at or below zero. Read from the database:
 * the relay's key cache keeps a user's balance for up to a minute, longer than one realtime response takes.
 */
export async function balanceUsedUp(app: FastifyInstance, userId: number): Promise<boolean> {
  if (!app.hasDecorator('billing')) return false
  const balance = await app.billing.balanceOf(userId)
  return balance !== null && balance.quota + balance.held <= 0
}

export class RealtimeSession {
  private source: WebSocket | null = null
  private upstream: WebSocket | null = null
  private responses = 0
  private transcriptions = 0
  /** The session's transcription model, as the upstream last reported it (null: no transcription). */
  private transcriptionModel: string | null = null
  private readonly open = new Map<string, OpenResponse>()
  /** Settlements run one after another, in the order the responses ended. */
  private chain: Promise<void> = Promise.resolve()
  private ended = false
  private draining: Promise<void> | null = null
  /** Called when the last running response has ended (or the session has). */
  private onIdle: (() => void) | null = null

  constructor(
    private readonly app: FastifyInstance,
    private readonly meter: Meter,
    readonly target: RealtimeTarget,
    private readonly requestId: string,
    readonly log: FastifyBaseLogger,
  ) {}

  /** The client's and the upstream's sockets, once both are open. */
  attach(source: WebSocket, upstream: WebSocket): void {
    this.source = source
    this.upstream = upstream
    // The client may have left while the upstream was still connecting: nothing is left to relay to.
    if (this.ended || source.readyState !== source.OPEN) {
      this.close(1001, 'session ended')
      void this.end('client closed the session before it opened')
    }
  }

  /** The gateway is stopping: the client is told (1001, going away), running responses cost nothing. */
  shutdown(): Promise<void> {
    this.close(1001, 'gateway shutting down')
    return this.end('gateway shutting down')
  }

  /**
   * An upstream event on its way to the client. Only the events that bill or configure are parsed: a response's
   * start and end, the session's configuration and a finished transcription (audio deltas, the bulk of a session,
   * are only searched for those names).
   */
  onUpstreamEvent(data: RawData, binary: boolean): void {
    if (binary || this.ended) return
    const bytes = asBuffer(data)
    if (!bytes.includes(CREATED) && !bytes.includes(DONE) && !bytes.includes(SESSION) && !bytes.includes(TRANSCRIBED)) return
    let event: unknown
    try {
      event = JSON.parse(bytes.toString('utf8'))
    } catch {
      return
    }
    if (!isRecord(event)) return
    if (event.type === 'session.created' || event.type === 'session.updated') return this.configure(event.session)
    if (event.type === 'conversation.item.input_audio_transcription.completed') return this.transcribed(event)
    if (!isRecord(event.response)) return
    const response = event.response
    const id = typeof response.id === 'string' ? response.id : ''
    if (event.type === 'response.created') this.begin(id)
    else if (event.type === 'response.done') this.finish(id, response)
  }

  /**
   * The client left with responses running: each is cancelled upstream (`response.cancel`), and the session waits up
   * to `ms` for their `response.done`, which bills what they generated. Otherwise a client could take every
   * response for free by leaving just before its end. Resolves at once when nothing runs; the same wait for every
   * caller.
   */
  drain(ms = DRAIN_MS): Promise<void> {
    this.draining ??= new Promise<void>((resolve) => {
      const upstream = this.upstream
      if (this.ended || this.open.size === 0 || !upstream || upstream.readyState !== upstream.OPEN) return resolve()
      for (const id of this.open.keys()) {
        // A response known only by its position (no id on its `response.created`) cannot be named: cancel the current one.
        upstream.send(JSON.stringify(id.startsWith('#') ? { type: 'response.cancel' } : { type: 'response.cancel', response_id: id }))
      }
      const timer = setTimeout(resolve, ms)
      this.onIdle = () => {
        clearTimeout(timer)
        resolve()
      }
    })
    return this.draining
  }

  /** The session is over (either side closed): responses still running are settled as undelivered. */
  end(reason: string): Promise<void> {
    this.onIdle?.()
    if (!this.ended) {
      this.ended = true
      for (const [id, response] of this.open) {
        this.open.delete(id)
        this.settle(response, { delivered: false, status: 499, error: reason, usage: null })
      }
    }
    return this.chain
  }

  /** A response (`:r<n>`) or a transcription (`:t<n>`) of the session, metered as one request of `model`. */
  private meterRequest(kind: 'r' | 't' = 'r', model = this.target.model): MeterRequest {
    const n = kind === 'r' ? ++this.responses : ++this.transcriptions
    const suffix = `:${kind}${n}`
    return {
      requestId: `${this.requestId.slice(0, REQUEST_ID_MAX - suffix.length)}${suffix}`,
      principal: this.target.principal,
      model,
      endpoint: '/v1/realtime',
      stream: true,
      // The conversation the upstream keeps is not visible here: the input is billed from the usage, the
      // reservation covers the completion allowance (CONTRACT §4's bound on going below zero still holds).
      promptTokensBound: 0,
      countPromptTokens: async () => 0,
      maxCompletionTokens: null,
      choices: 1,
      generates: true,
      source: 'relay',
    }
  }

  private begin(id: string): void {
    if (this.open.size >= MAX_OPEN_RESPONSES) {
      this.refuse(new ApiError(429, 'too_many_responses', `at most ${MAX_OPEN_RESPONSES} responses may run at once in one session`))
      return
    }
    const request = this.meterRequest()
    const reserving = this.meter.reserve(request).catch((err: unknown) => {
      this.refuse(toApiError(err))
      return null
    })
    this.open.set(id || `#${this.responses}`, { request, reserving, started: performance.now() })
  }

  private finish(id: string, response: Json): void {
    let open = this.open.get(id)
    if (open) {
      this.open.delete(id)
      if (this.open.size === 0) this.onIdle?.()
    } else {
      // A `response.done` without its `response.created`: reserved now, so it is still billed like any other.
      const request = this.meterRequest()
      open = { request, reserving: this.meter.reserve(request).catch(() => null), started: performance.now() }
    }
    const status = typeof response.status === 'string' ? response.status : 'completed'
    // Billed from its usage either way; a response that ended after its client left is logged as the HTTP relay
    // logs a stream whose client went away (499).
    const clientLeft = this.draining !== null
    this.settle(open, {
      delivered: true,
      status: clientLeft ? 499 : 200,
      error: clientLeft ? `client left; response ${status}` : status === 'completed' ? null : `response ${status}`,
      usage: realtimeUsage(response.usage),
    })
    if (this.draining === null) this.chain = this.chain.then(() => this.closeIfExhausted())
  }

  /** The session's configuration: a transcription model it names must be one the key may use and that has a price. */
  private configure(session: unknown): void {
    const model = transcriptionModelOf(session)
    if (model === this.transcriptionModel) return
    this.transcriptionModel = model
    if (model === null) return
    try {
      this.app.relayKeys.assertModelAllowed(this.target.principal, model)
      if (this.app.hasDecorator('pricing') && !this.app.pricing.priceOf(model)) throw modelPriceUnset(model)
    } catch (err) {
      this.refuse(toApiError(err))
    }
  }

  /** A finished transcription of the client's audio: reserved and settled at once, from its usage. */
  private transcribed(event: Json): void {
    const model = this.transcriptionModel
    if (model === null) {
      // The upstream always reports the session's configuration first; without it there is no model to price.
      this.log.warn({ request_id: this.requestId }, 'realtime transcription without a transcription model in the session: not billed')
      return
    }
    const request = this.meterRequest('t', model)
    const reserving = this.meter.reserve(request).catch((err: unknown) => {
      this.refuse(toApiError(err))
      return null
    })
    // Token usage is priced per token; a duration (whisper-1) leaves only the model's per-request price.
    const usage = isRecord(event.usage) && event.usage.type !== 'duration' ? realtimeUsage(event.usage) : null
    this.settle({ request, reserving, started: performance.now() }, { delivered: true, status: 200, error: null, usage })
    if (this.draining === null) this.chain = this.chain.then(() => this.closeIfExhausted())
  }

  private settle(open: OpenResponse, result: Pick<MeterOutcome, 'delivered' | 'status' | 'error' | 'usage'>): void {
    this.chain = this.chain.then(async () => {
      const reservation = await open.reserving
      if (!reservation) {
        if (result.usage) this.log.warn({ request_id: open.request.requestId }, 'realtime response not billed: its reservation was refused')
        return
      }
      const outcome: MeterOutcome = {
        ...result,
        channelId: this.target.channel.id,
        // A transcription's model is the client's own choice, sent on unchanged.
        upstreamModel: open.request.model === this.target.model ? this.target.upstreamModel : open.request.model,
        usageSource: result.usage ? 'upstream' : 'none',
        latencyMs: Math.round(performance.now() - open.started),
        firstByteMs: null,
      }
      try {
        await this.meter.settle(open.request, reservation, outcome)
      } catch (err) {
        this.log.error({ err, request_id: open.request.requestId }, 'settling a realtime response failed')
      }
      if (outcome.usage) {
        const model = this.app.metrics.modelLabel(open.request.model)
        this.app.metrics.tokens.inc({ model, kind: 'prompt' }, outcome.usage.prompt_tokens)
        this.app.metrics.tokens.inc({ model, kind: 'completion' }, outcome.usage.completion_tokens)
      }
    })
  }

  /** After a settlement: a balance used up ends the session. */
  private async closeIfExhausted(): Promise<void> {
    if (this.ended) return
    try {
      if (await balanceUsedUp(this.app, this.target.principal.user.id)) this.refuse(quotaUsedUp())
    } catch (err) {
      this.log.warn({ err, request_id: this.requestId }, 'realtime balance check failed')
    }
  }

  /** An error event in the Realtime API's shape, then close code 1008 on both sides. */
  private refuse(error: ApiError): void {
    if (this.ended) return
    const body = error.toJSON().error
    const event = { type: 'error', event_id: `event_gw_${this.requestId}`, error: { type: body.type, code: body.code, message: body.message, param: body.param, event_id: null } }
    if (this.source && this.source.readyState === this.source.OPEN) this.source.send(JSON.stringify(event))
    this.close(QUOTA_CLOSE_CODE, error.code ?? 'policy')
    void this.end(error.message)
  }

  private close(code: number, reason: string): void {
    // A close reason is at most 123 bytes.
    const short = reason.slice(0, 120)
    if (this.source && this.source.readyState === this.source.OPEN) this.source.close(code, short)
    const upstream = this.upstream
    if (upstream && upstream.readyState === upstream.OPEN) upstream.close(1000)
  }
}
