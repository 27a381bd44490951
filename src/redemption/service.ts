import type { FastifyBaseLogger } from 'fastify'
import type { Cache } from '../cache/cache.js'
import type { Clock } from '../clock.js'
import type { Config } from '../config.js'
import { ApiError, errors } from '../errors.js'
import { MAX_QUOTA, QuotaRangeError } from '../billing/limits.js'
import { formatMicros, usdMicrosToQuota } from '../billing/usd.js'
import { parseTopupAmount } from '../external/service.js'
import { INVALIDATE } from '../relay/seams.js'
import { generateSecretToken, hashRelayKey, maskSecret } from '../security/secrets.js'
import type { UserRow } from '../users/repository.js'
import { RedeemerGoneError, type NewRedemptionCode, type RedemptionRepository, type RedemptionStatus } from './repository.js'
import { redemptionCodeView, type RedemptionCodeView } from './view.js'

/** Codes look like `nxr-` + 32 characters of [A-Za-z0-9]: ~190 random bits, recognisable in a support ticket. */
export const CODE_PREFIX = 'nxr-'
const CODE_LENGTH = 32
const CODE_FORMAT = /^nxr-[A-Za-z0-9]{32}$/

/** CONTRACT §8: 5 failed redemptions per user per 10 minutes, counted in the shared cache (all instances). */
export const REDEEM_MAX_FAILURES = 5
export const REDEEM_WINDOW_MS = 600_000

export interface CreateCodesInput {
  name: string
  amountUsd: unknown
  count: number
  expiresAt: Date | null
}

export interface CreatedCodes {
  codes: string[]
  name: string
  amount_usd: string
  quota: number
  expires_at: string | null
}

export interface RedemptionCodePage {
  data: RedemptionCodeView[]
  total: number
  page: number
  page_size: number
}

export interface RedemptionServiceDeps {
  repo: RedemptionRepository
  cache: Cache
  clock: Clock
  config: Config
  log: FastifyBaseLogger
}

/** The same answer for unknown, used and expired codes: nothing to learn from which. */
const invalidCode = () =>
  new ApiError(400, 'invalid_code', 'this recharge code is unknown, already used or expired', { param: 'code', retry: false })

export function createRedemptionService({ repo, cache, clock, config, log }: RedemptionServiceDeps) {
  const failuresKey = (userId: number) => `redeem-failures:${userId}`

  /**
   * Counts the attempt before it runs, so concurrent guesses cannot all slip under the limit; a success (or
   * an error that was not the code's fault) takes its count back. Over the limit → 429, nothing tried.
   */
  async function countAttempt(userId: number): Promise<void> {
    const key = failuresKey(userId)
    const attempts = await cache.incr(key, 1, REDEEM_WINDOW_MS)
    if (attempts <= REDEEM_MAX_FAILURES) return
    const ttl = await cache.ttl(key)
    throw errors.rateLimited(
      'too_many_attempts',
      `too many failed recharge codes: at most ${REDEEM_MAX_FAILURES} per ${REDEEM_WINDOW_MS / 60_000} minutes; try again later`,
      ttl > 0 ? ttl / 1000 : REDEEM_WINDOW_MS / 1000,
    )
  }

  async function uncountAttempt(userId: number): Promise<void> {
    try {
      await cache.incr(failuresKey(userId), -1, REDEEM_WINDOW_MS)
    } catch (err) {
      // At worst the user has one attempt fewer for the rest of the window.
      log.warn({ err, user_id: userId }, 'cannot take back a counted recharge attempt')
    }
  }

  /** amount → quota per code; beyond the quota range (only with a huge QUOTA_PER_USD) → 400. */
  function quotaOf(micros: bigint): number {
    try {
      return usdMicrosToQuota(micros, config.quotaPerUsd)
    } catch (err) {
      if (err instanceof RangeError) throw errors.invalidRequest(`amount_usd is worth more than ${MAX_QUOTA} quota`, 'amount_usd')
      throw err
    }
  }

  return {
    /** Mints `count` codes worth `amountUsd` each; the whole codes are returned this once and stored hashed. */
    async create(actor: UserRow, input: CreateCodesInput): Promise<CreatedCodes> {
      const name = input.name.trim()
      if (!name) throw errors.invalidRequest('name must not be blank', 'name')
      const micros = parseTopupAmount(input.amountUsd)
      const quota = quotaOf(micros)
      const now = clock.now()
      if (input.expiresAt !== null && input.expiresAt.getTime() <= now) {
        throw errors.invalidRequest('expires_at must be in the future', 'expires_at')
      }
      const codes: string[] = []
      const rows: NewRedemptionCode[] = []
      for (let i = 0; i < input.count; i++) {
        const code = generateSecretToken(CODE_PREFIX, CODE_LENGTH)
        codes.push(code)
        rows.push({
          name,
          codeHash: hashRelayKey(code),
          codeMask: maskSecret(code),
          amountMicros: Number(micros),
          quota,
          status: 'unused',
          createdBy: actor.id,
          expiresAt: input.expiresAt,
          createdAt: new Date(now),
        })
      }
      await repo.createMany(rows)
      log.info({ admin_id: actor.id, count: input.count, quota }, 'recharge codes created')
      return {
        codes,
        name,
        amount_usd: formatMicros(micros),
        quota,
        expires_at: input.expiresAt ? input.expiresAt.toISOString() : null,
      }
    },

    async list(query: { status?: RedemptionStatus; page: number; pageSize: number }): Promise<RedemptionCodePage> {
      const now = clock.now()
      const { rows, total } = await repo.list(query, new Date(now))
      return { data: rows.map((row) => redemptionCodeView(row, now)), total, page: query.page, page_size: query.pageSize }
    },

    async remove(id: number): Promise<void> {
      if (!(await repo.remove(id))) throw errors.notFound('recharge code')
    },

    /**
     * Credits the code's value to `user`, once: the code's "used" mark, the balance and the ledger row commit
     * together (repository `redeem`). Unknown, used and expired codes are one 400 `invalid_code`, counted
     * against the user's failure limit.
     */
    async redeem(user: UserRow, rawCode: string): Promise<{ added_quota: number; quota: number }> {
      await countAttempt(user.id)
      const code = rawCode.trim()
      let outcome
      try {
        outcome = CODE_FORMAT.test(code)
          ? await repo.redeem({ codeHash: hashRelayKey(code), userId: user.id, at: new Date(clock.now()) })
          : ({ ok: false } as const)
      } catch (err) {
        await uncountAttempt(user.id)
        if (err instanceof RedeemerGoneError) throw errors.unauthorized('invalid_session', 'this account no longer exists')
        if (err instanceof QuotaRangeError) {
          throw new ApiError(400, 'quota_out_of_range', `this code would take your quota beyond ${MAX_QUOTA}; nothing was credited`, {
            param: 'code',
          })
        }
        throw err
      }
      if (!outcome.ok) throw invalidCode()
      await uncountAttempt(user.id)
      try {
        // Every instance's relay must see the new balance (users are cached with their keys).
        await cache.publish(INVALIDATE.user, String(user.id))
      } catch (err) {
        // The credit is committed: answer it. Other instances fall back on their cache TTL.
        log.error({ err, user_id: user.id }, 'cannot publish user invalidation after a redemption')
      }
      log.info({ user_id: user.id, code_id: outcome.codeId, quota: outcome.addedQuota }, 'recharge code redeemed')
      return { added_quota: outcome.addedQuota, quota: outcome.quota }
    },
  }
}

export type RedemptionService = ReturnType<typeof createRedemptionService>
