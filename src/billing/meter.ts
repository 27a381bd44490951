import type { FastifyBaseLogger } from 'fastify'
import type { Clock } from '../clock.js'
import { ApiError, errors } from '../errors.js'
import type { Metrics } from '../infra/metrics.js'
import type { PricingService } from '../pricing/service.js'
import type { Meter, MeterOutcome, MeterRequest, Reservation } from '../relay/seams.js'
import { computeQuota, type ModelPrice } from './cost.js'
import type { BillingRepository, SettleUnit, UsageLogEntry } from './repository.js'
import { createSettlementQueue } from './settlement-queue.js'

/** What the meter keeps between reserve and settle: the price in force when the request started. */
interface MeterReservation extends Reservation {
  readonly price: ModelPrice
  readonly groupRatioMicros: number
  readonly tokenLimited: boolean
}

const isMeterReservation = (r: Reservation): r is MeterReservation => 'price' in r && 'groupRatioMicros' in r

const isFree = (p: ModelPrice) => p.inputMicrosPer1M === 0 && p.outputMicrosPer1M === 0 && p.perRequestMicros === 0

// Column widths of usage_logs; a longer client-sent request id or upstream error is cut, not refused.
const cut = (value: string | null, max: number) => (value === null || value.length <= max ? value : value.slice(0, max))

// Transient lock conflicts (SQLite busy, MySQL deadlock / lock wait) are worth another try:
// a settlement that is given up leaves a reservation taken and no ledger row.
const SETTLE_ATTEMPTS = 4
const RETRYABLE = new Set(['SQLITE_BUSY', 'ER_LOCK_DEADLOCK', 'ER_LOCK_WAIT_TIMEOUT'])
function isRetryable(err: unknown): boolean {
  const code = (err as { code?: unknown; cause?: { code?: unknown } }).code ?? (err as { cause?: { code?: unknown } }).cause?.code
  return typeof code === 'string' && RETRYABLE.has(code)
}

export interface MeterDeps {
  repo: BillingRepository
  pricing: PricingService
  quotaPerUsd: number
  clock: Clock
  metrics: Metrics
  log: FastifyBaseLogger
  /** Batch concurrent settlements into one transaction (see settlement-queue.ts). */
  groupCommit: boolean
}

export interface BillingMeter extends Meter {
  /** Waits for every settlement queued so far (graceful stop). */
  drain(): Promise<void>
}

/**
 * Reserve before forwarding, settle after (CONTRACT §4). The price and group ratio come from the
 * in-memory pricing cache; each step is one database transaction.
 *
 * The estimate covers the prompt and `max_tokens` when given. Without `max_tokens` the real cost
 * can exceed the reservation; it is charged in full anyway, so a balance can dip below zero by
 * at most one request's overage — after which the conditional reserve refuses every request.
 */
export function createMeter(deps: MeterDeps): BillingMeter {
  const { repo, pricing, quotaPerUsd, clock, metrics, log } = deps

  function cost(request: MeterRequest, reservation: MeterReservation, outcome: MeterOutcome): number {
    if (!outcome.delivered) return 0
    const { price, groupRatioMicros } = reservation
    if (outcome.usage) {
      return computeQuota({
        promptTokens: Math.max(0, Math.trunc(outcome.usage.prompt_tokens)),
        completionTokens: Math.max(0, Math.trunc(outcome.usage.completion_tokens)),
        price,
        quotaPerUsd,
        groupRatioMicros,
      })
    }
    // No usage: only a per-request price can apply, and not to an error the upstream answered.
    if (price.perRequestMicros > 0 && outcome.status < 400) {
      return computeQuota({ promptTokens: 0, completionTokens: 0, price, quotaPerUsd, groupRatioMicros })
    }
    return 0
  }

  async function writeWithRetry(units: readonly SettleUnit[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await repo.settle(units)
        return
      } catch (err) {
        if (attempt >= SETTLE_ATTEMPTS || !isRetryable(err)) throw err
        await new Promise((resolve) => setTimeout(resolve, 5 * attempt))
      }
    }
  }
  const queue = deps.groupCommit ? createSettlementQueue(writeWithRetry) : null
  const persist = (unit: SettleUnit) => (queue ? queue.settle(unit) : writeWithRetry([unit]))

  return {
    drain: () => queue?.drain() ?? Promise.resolve(),

    async reserve(request) {
      const price = pricing.priceOf(request.model)
      if (!price) {
        throw new ApiError(400, 'model_price_unset', `model '${request.model}' has no price and there is no default price`, {
          param: 'model',
          retry: false,
        })
      }
      const { principal } = request
      const groupRatioMicros = pricing.ratioOf(principal.group)
      let quota = computeQuota({
        promptTokens: Math.max(0, Math.trunc(request.promptTokensEstimate)),
        completionTokens: Math.max(0, Math.trunc(request.maxCompletionTokens ?? 0)),
        price,
        quotaPerUsd,
        groupRatioMicros,
      })
      // A priced model always reserves something, so a user at 0 is refused before forwarding.
      if (quota === 0 && !isFree(price) && groupRatioMicros > 0) quota = 1
      const tokenLimited = !principal.token.unlimitedQuota
      const refusedBy = await repo.reserve({ userId: principal.user.id, tokenId: principal.token.id, tokenLimited, quota })
      if (refusedBy === 'token') throw errors.insufficientQuota("this token's quota is used up")
      if (refusedBy === 'user') throw errors.insufficientQuota(`insufficient quota: this request needs ${quota} and the balance is lower`)
      const reservation: MeterReservation = { quota, price, groupRatioMicros, tokenLimited }
      return reservation
    },

    async settle(request, reservation, outcome) {
      try {
        if (!isMeterReservation(reservation)) throw new Error('settle was given a reservation this meter did not make')
        const charged = cost(request, reservation, outcome)
        const entry: UsageLogEntry = {
          createdAt: new Date(clock.now()),
          requestId: cut(request.requestId, 64) ?? '',
          userId: request.principal.user.id,
          tokenId: request.principal.token.id,
          channelId: outcome.channelId,
          model: cut(request.model, 128) ?? '',
          upstreamModel: cut(outcome.upstreamModel, 128),
          stream: request.stream,
          promptTokens: outcome.usage ? Math.max(0, Math.trunc(outcome.usage.prompt_tokens)) : 0,
          completionTokens: outcome.usage ? Math.max(0, Math.trunc(outcome.usage.completion_tokens)) : 0,
          quota: charged,
          latencyMs: Math.max(0, Math.round(outcome.latencyMs)),
          firstByteMs: outcome.firstByteMs === null ? null : Math.max(0, Math.round(outcome.firstByteMs)),
          status: outcome.status,
          error: cut(outcome.error, 1024),
        }
        await persist({ reserved: reservation.quota, tokenLimited: reservation.tokenLimited, delivered: outcome.delivered, log: entry })
        // Tokens are counted by the relay (src/relay/relay.ts); the meter counts what was charged.
        if (charged > 0) metrics.quota.inc({ model: entry.model }, charged)
      } catch (err) {
        // Never into the relay; the operator needs enough here to reconcile by hand.
        log.error(
          { err, request_id: request.requestId, user_id: request.principal.user.id, token_id: request.principal.token.id, reserved: reservation.quota },
          'settlement failed: reservation not settled and no usage-log row written',
        )
      }
    },
  }
}
