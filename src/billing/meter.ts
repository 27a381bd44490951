import type { FastifyBaseLogger } from 'fastify'
import type { Clock } from '../clock.js'
import { errors } from '../errors.js'
import type { Metrics } from '../infra/metrics.js'
import { modelPriceUnset, type PricingService } from '../pricing/service.js'
import type { Meter, MeterOutcome, MeterRequest, Reservation } from '../relay/seams.js'
import { computeQuota, computeUsageQuota, type ModelPrice } from './cost.js'
import type { BillingRepository, SettleUnit, UsageLogEntry } from './repository.js'
import { createSettlementQueue } from './settlement-queue.js'
import type { LeaseBook, LeaseSubjects } from './leases.js'
import { reducedLogEntry } from './usage-row.js'

/**
 * Completion tokens (per choice) a stream's reservation grows by when it runs short. Its price is the
 * "reservation increment" of CONTRACT §4: how far below zero a settlement may take a balance.
 */
export const EXTENSION_TOKENS = 1024

/** Token counts beyond any real request are clamped before pricing, so a wild upstream `usage` cannot overflow. */
const MAX_TOKENS = 1e12

/** What the meter keeps between reserve and settle: the price in force when the request started. */
interface MeterReservation extends Reservation {
  quota: number
  coveredCompletionTokens: number
  completionCap: number | null
  readonly price: ModelPrice
  readonly groupRatioMicros: number
  readonly tokenLimited: boolean
  /** The prompt bound the reservation was computed for. */
  readonly promptTokens: number
  /** The price of EXTENSION_TOKENS more completion tokens: one increment. */
  readonly increment: number
  /** The part of `quota` reserved from this instance's credit leases (the rest is held on the balance). */
  leased: number
  readonly subjects: LeaseSubjects
  /** Journal ids of the lease holds behind `leased` (closed by the settlement's journal entry). */
  readonly holds: number[]
}

const isMeterReservation = (r: Reservation): r is MeterReservation => 'price' in r && 'groupRatioMicros' in r

const FREE_PRICE: ModelPrice = { inputMicrosPer1M: 0, outputMicrosPer1M: 0, perRequestMicros: 0 }

const isFree = (p: ModelPrice) => p.inputMicrosPer1M === 0 && p.outputMicrosPer1M === 0 && p.perRequestMicros === 0

// Transient lock conflicts (SQLite busy, MySQL deadlock / lock wait) are worth another try:
// a settlement that is given up leaves a reservation taken and no ledger row.
const SETTLE_ATTEMPTS = 4
const RETRYABLE = new Set(['SQLITE_BUSY', 'ER_LOCK_DEADLOCK', 'ER_LOCK_WAIT_TIMEOUT'])
function isRetryable(err: unknown): boolean {
  const code = (err as { code?: unknown; cause?: { code?: unknown } }).code ?? (err as { cause?: { code?: unknown } }).cause?.code
  return typeof code === 'string' && RETRYABLE.has(code)
}

/**
 * A database that stopped answering (restarted, failed over, a cut network): a settlement waits for it rather than
 * be given up — the client already has its answer, so giving up would leave it unbilled. Bounded, so a graceful stop
 * (CONTRACT §6: 35 s in all) still ends; a settlement past the bound is given up as before (logged, counted).
 */
const UNAVAILABLE_WAIT_MS = 20_000
const UNAVAILABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'ER_SERVER_SHUTDOWN',
  'ER_CON_COUNT_ERROR',
])
function isUnavailable(err: unknown): boolean {
  // drizzle wraps the driver's error (DrizzleQueryError.cause); mysql2 marks a lost connection `fatal`.
  for (let e = err, depth = 0; typeof e === 'object' && e !== null && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const { code, fatal } = e as { code?: unknown; fatal?: unknown }
    if (fatal === true || (typeof code === 'string' && UNAVAILABLE.has(code))) return true
  }
  return false
}

const tokens = (value: number) => Math.min(MAX_TOKENS, Math.max(0, Math.trunc(Number.isFinite(value) ? value : 0)))

export interface MeterDeps {
  repo: BillingRepository
  pricing: PricingService
  quotaPerUsd: number
  /** Completion tokens reserved when a request names no limit (DEFAULT_COMPLETION_RESERVE). */
  defaultCompletionReserve: number
  clock: Clock
  metrics: Metrics
  log: FastifyBaseLogger
  /** Batch concurrent settlements into one transaction (see settlement-queue.ts). */
  groupCommit: boolean
  /** Credit leases (leases.ts); absent = every reservation is exact, one database write each. */
  leases?: LeaseBook
}

export interface BillingMeter extends Meter {
  /** Waits for every settlement queued so far (graceful stop). */
  drain(): Promise<void>
  /**
   * Waits for every queued settlement, then returns every idle credit lease: afterwards (with nothing in
   * flight) CONTRACT §4's invariants hold on the balances themselves.
   */
  quiesce(): Promise<void>
}

/**
 * Reserve before forwarding, extend while a stream flows, settle after (CONTRACT §4). The price and group
 * ratio come from the in-memory pricing cache; each step is one conditional database write.
 *
 * The no-overdraft rule: every hold is taken only while the balance covers it, so concurrent requests can
 * never spend the same quota twice; a reservation covers the prompt's upper bound and the completion allowance
 * (the client's limit, else DEFAULT_COMPLETION_RESERVE); a stream that outgrows it extends it one increment at a
 * time or is ended. Whatever is still uncovered at settlement (an upstream that ignored its limit, hidden
 * reasoning tokens, an image worth more than its allowance) is charged only as far as the balance can go down to
 * minus one increment; the rest is forgiven, logged and counted.
 */
export function createMeter(deps: MeterDeps): BillingMeter {
  const { repo, pricing, quotaPerUsd, clock, metrics, log, leases } = deps

  /** The quota of a request of this size: exact, and capped at the safe range instead of throwing. */
  function quotaOf(price: ModelPrice, groupRatioMicros: number, promptTokens: number, completionTokens: number): number {
    try {
      return computeQuota({ promptTokens: tokens(promptTokens), completionTokens: tokens(completionTokens), price, quotaPerUsd, groupRatioMicros })
    } catch (err) {
      if (err instanceof RangeError) return Number.MAX_SAFE_INTEGER
      throw err
    }
  }

  function cost(reservation: MeterReservation, outcome: MeterOutcome): number {
    if (!outcome.delivered) return 0
    const { price, groupRatioMicros } = reservation
    if (outcome.usage) {
      const u = outcome.usage
      try {
        // Cached input and cache writes at their own prices, reasoning as output (CONTRACT §4).
        return computeUsageQuota({
          usage: {
            prompt_tokens: tokens(u.prompt_tokens),
            completion_tokens: tokens(u.completion_tokens),
            cached_tokens: tokens(u.cached_tokens ?? 0),
            cache_write_tokens: tokens(u.cache_write_tokens ?? 0),
            reasoning_tokens: tokens(u.reasoning_tokens ?? 0),
          },
          price,
          quotaPerUsd,
          groupRatioMicros,
        })
      } catch (err) {
        if (err instanceof RangeError) return Number.MAX_SAFE_INTEGER
        throw err
      }
    }
    // No usage: only a per-request price can apply, and not to an error the upstream answered.
    if (price.perRequestMicros > 0 && outcome.status < 400) return quotaOf(price, groupRatioMicros, 0, 0)
    return 0
  }

  /** The largest completion (within [low, high]) whose whole request costs at most `quota`. */
  function affordableCompletion(r: Pick<MeterReservation, 'price' | 'groupRatioMicros' | 'promptTokens'>, quota: number, low: number, high: number): number {
    while (low < high) {
      const mid = Math.floor((low + high + 1) / 2)
      if (quotaOf(r.price, r.groupRatioMicros, r.promptTokens, mid) <= quota) low = mid
      else high = mid - 1
    }
    return low
  }

  /** Since when the database has been unreachable for settlements (null: it answered last time). */
  let unavailableSince: number | null = null

  async function writeWithRetry(units: readonly SettleUnit[]): Promise<void> {
    let lost = false
    for (let attempt = 1, waits = 0; ; ) {
      try {
        // The connection was lost mid-transaction: if the commit went through, writing again would charge twice.
        if (lost && (await repo.settledAlready(units))) return
        await repo.settle(units)
        unavailableSince = null
        return
      } catch (err) {
        if (isUnavailable(err)) {
          // One clock for every settlement: once the wait is over, the queue's unit-by-unit retries fail fast.
          unavailableSince ??= Date.now()
          if (Date.now() - unavailableSince >= UNAVAILABLE_WAIT_MS) throw err
          lost = true
          await new Promise((resolve) => setTimeout(resolve, Math.min(1_000, 50 * 2 ** waits++)))
          continue
        }
        if (attempt >= SETTLE_ATTEMPTS || !isRetryable(err)) throw err
        await new Promise((resolve) => setTimeout(resolve, 5 * attempt))
        attempt++
      }
    }
  }

  /**
   * One unit's settlement, and if its usage-log row cannot be written (a value the database refuses), the money
   * still moves with a reduced row: an unsettled reservation would hold the user's quota for ever.
   */
  async function writeUnit(units: readonly SettleUnit[]): Promise<void> {
    try {
      await writeWithRetry(units)
    } catch (err) {
      // A database that is away refused nothing: a reduced row would not get through either.
      if (units.length !== 1 || isUnavailable(err)) throw err
      const unit = units[0] as SettleUnit
      log.error({ err, request_id: unit.log.requestId }, 'usage-log row refused: settling with a reduced row')
      metrics.settlementFailures.inc({ kind: 'reduced_row' })
      await writeWithRetry([{ ...unit, log: reducedLogEntry(unit.log, err) }])
    }
  }
  const queue = deps.groupCommit ? createSettlementQueue(writeUnit) : null
  const persist = (unit: SettleUnit) => (queue ? queue.settle(unit) : writeUnit([unit]))

  /**
   * A cost is paid from the leased part first, then from the part held on the balance, then from whatever the
   * leases have free; only what is left after that goes to the balance's own overdraft rule (settle-plan.ts).
   */
  async function persistLeased(r: MeterReservation, unit: SettleUnit, book: LeaseBook): Promise<void> {
    const total = unit.cost
    const fromLease = Math.min(total, r.leased)
    const onBalance = r.quota - r.leased
    const fromBalance = Math.min(total - fromLease, onBalance)
    const extra = Math.min(total - fromLease - fromBalance, book.available(r.subjects))
    unit.prepaid = fromLease + extra
    unit.reserved = onBalance
    unit.cost = total - unit.prepaid
    unit.leaseInstance = book.instanceId
    unit.journalSeq = book.finish(r.subjects, r.leased, unit, r.holds)
    try {
      await persist(unit)
    } finally {
      book.committed(r.subjects, unit.prepaid, unit.journalSeq)
    }
  }

  const drain = () => queue?.drain() ?? Promise.resolve()

  /** Takes `quota` from the leases when the subject is busy, else exactly from the balance (one write). */
  async function take(
    subjects: LeaseSubjects,
    tokenId: number,
    quota: number,
    minQuota: number,
  ): Promise<{ granted: number; leased: number; hold: number | null } | { refusedBy: 'token' | 'user' }> {
    const hold = leases ? await leases.reserve(subjects, quota) : false
    if (hold !== false) return { granted: quota, leased: quota, hold }
    const result = await repo.reserve({ userId: subjects.userId, tokenId, tokenLimited: subjects.tokenId !== null, quota, minQuota })
    return result.refusedBy !== undefined ? { refusedBy: result.refusedBy } : { granted: result.granted, leased: 0, hold: null }
  }

  return {
    drain,
    async quiesce() {
      await drain()
      await leases?.releaseAll()
    },

    async reserve(request) {
      // The user's own upstream: they pay their provider, the gateway charges nothing (CONTRACT §7).
      const price = request.principal.personalApi ? FREE_PRICE : pricing.priceOf(request.model)
      if (!price) {
        throw modelPriceUnset(request.model)
      }
      const { principal } = request
      const groupRatioMicros = pricing.ratioOf(principal.group)
      const promptTokens = tokens(request.promptTokensBound)
      const choices = Math.max(1, request.choices)
      const clientLimit = request.maxCompletionTokens
      const allowance = clientLimit !== null ? clientLimit * choices : request.generates ? deps.defaultCompletionReserve * choices : 0
      const priced = !isFree(price) && groupRatioMicros > 0
      // A priced model always reserves something, so a user at 0 is refused before forwarding.
      const floorOf = (quota: number) => (quota === 0 && priced ? 1 : quota)
      const full = floorOf(quotaOf(price, groupRatioMicros, promptTokens, allowance))
      // Without a client limit the allowance is ours to shrink: the least useful request is one token per choice.
      const shrinkable = clientLimit === null && allowance > choices
      const least = shrinkable ? floorOf(quotaOf(price, groupRatioMicros, promptTokens, choices)) : full
      const tokenLimited = !principal.token.unlimitedQuota
      const subjects: LeaseSubjects = { userId: principal.user.id, tokenId: tokenLimited ? principal.token.id : null }
      const result = await take(subjects, principal.token.id, full, least)
      if ('refusedBy' in result) {
        throw errors.insufficientQuota(
          result.refusedBy === 'token'
            ? "this token's quota is used up"
            : `insufficient quota: this request needs at least ${least} and the balance is lower`,
        )
      }
      const granted = result.granted

      const base = { price, groupRatioMicros, promptTokens }
      const freeOutput = price.outputMicrosPer1M === 0 || groupRatioMicros === 0
      const covered = freeOutput ? Infinity : granted >= full ? allowance : affordableCompletion(base, granted, choices, allowance)
      const reservation: MeterReservation = {
        ...base,
        quota: granted,
        coveredCompletionTokens: covered,
        // A stream grows its reservation as it flows; a plain answer must be told where to stop.
        completionCap: granted < full && !request.stream ? Math.max(1, Math.floor(covered / choices)) : null,
        tokenLimited,
        leased: result.leased,
        subjects,
        holds: result.hold === null ? [] : [result.hold],
        increment: freeOutput ? 0 : Math.max(1, quotaOf(price, groupRatioMicros, 0, EXTENSION_TOKENS * choices) - quotaOf(price, groupRatioMicros, 0, 0)),
      }
      return reservation
    },

    async extend(request, reservation, completionTokens) {
      if (!isMeterReservation(reservation)) return false
      const r = reservation
      if (completionTokens <= r.coveredCompletionTokens) return true
      // At least one increment at a time, so a long stream extends rarely.
      const target = Math.max(completionTokens, r.coveredCompletionTokens + EXTENSION_TOKENS * Math.max(1, request.choices))
      const need = quotaOf(r.price, r.groupRatioMicros, r.promptTokens, target) - r.quota
      if (need > 0) {
        const result = await take(r.subjects, request.principal.token.id, need, need)
        if ('refusedBy' in result) return false
        r.quota += need
        r.leased += result.leased
        if (result.hold !== null) r.holds.push(result.hold)
      }
      r.coveredCompletionTokens = target
      return true
    },

    async settle(request, reservation, outcome) {
      try {
        if (!isMeterReservation(reservation)) throw new Error('settle was given a reservation this meter did not make')
        const charged = cost(reservation, outcome)
        const entry: UsageLogEntry = {
          createdAt: new Date(clock.now()),
          requestId: request.requestId,
          userId: request.principal.user.id,
          tokenId: request.principal.token.id,
          // A personal API's synthetic channel (negative id) is no channel of the gateway's.
          channelId: outcome.channelId !== null && outcome.channelId > 0 ? outcome.channelId : null,
          model: request.model,
          upstreamModel: outcome.upstreamModel,
          stream: request.stream,
          promptTokens: outcome.usage ? tokens(outcome.usage.prompt_tokens) : 0,
          completionTokens: outcome.usage ? tokens(outcome.usage.completion_tokens) : 0,
          cachedTokens: tokens(outcome.usage?.cached_tokens ?? 0),
          cacheWriteTokens: tokens(outcome.usage?.cache_write_tokens ?? 0),
          reasoningTokens: tokens(outcome.usage?.reasoning_tokens ?? 0),
          source: request.source ?? 'relay',
          quota: charged,
          latencyMs: Math.max(0, Math.round(outcome.latencyMs)),
          firstByteMs: outcome.firstByteMs === null ? null : Math.max(0, Math.round(outcome.firstByteMs)),
          status: outcome.status,
          error: outcome.error,
        }
        const unit: SettleUnit = {
          reserved: reservation.quota,
          cost: charged,
          overdraft: reservation.increment,
          tokenLimited: reservation.tokenLimited,
          delivered: outcome.delivered,
          log: entry,
          forgiven: 0,
          prepaid: 0,
          leaseInstance: null,
          journalSeq: 0,
        }
        if (reservation.leased > 0 && leases) await persistLeased(reservation, unit, leases)
        else await persist(unit)
        if (unit.forgiven > 0) {
          log.warn(
            { request_id: request.requestId, user_id: entry.userId, token_id: entry.tokenId, cost: charged, forgiven: unit.forgiven },
            'cost beyond the reservation and the balance: the rest was forgiven',
          )
          metrics.quotaForgiven.inc(unit.forgiven)
        }
        // Tokens are counted by the relay (src/relay/relay.ts); the meter counts what was charged.
        if (unit.log.quota > 0) metrics.quota.inc({ model: metrics.modelLabel(request.model) }, unit.log.quota)
      } catch (err) {
        // Never into the relay; the operator needs enough here to reconcile by hand.
        metrics.settlementFailures.inc({ kind: 'unsettled' })
        log.error(
          { err, request_id: request.requestId, user_id: request.principal.user.id, token_id: request.principal.token.id, reserved: reservation.quota },
          'settlement failed: reservation not settled and no usage-log row written',
        )
      }
    },
  }
}
