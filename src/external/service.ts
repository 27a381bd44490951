import type { Cache } from '../cache/cache.js'
import type { Clock } from '../clock.js'
import type { Config } from '../config.js'
import type { LogsService } from '../logs/plugin.js'
import type { CreatedToken, TokensService } from '../tokens/service.js'
import { ApiError, errors } from '../errors.js'
import { MAX_QUOTA, QuotaRangeError } from '../billing/limits.js'
import { formatMicros, parseUsdMicros, quotaToUsd, UsdFormatError, usdMicrosToQuota } from '../billing/usd.js'
import { UNIQUE, violatedUnique } from '../db/unique-violation.js'
import { findJsonProblem } from '../infra/json-body.js'
import { INVALIDATE } from '../relay/seams.js'
import type { NewUser, UserRow } from '../users/repository.js'
import { UserGoneError, type ExternalRepository, type TopupRow } from './repository.js'
import type { ExternalUserViewT, StatsResultT, SyncInput, TokenInput, TopupInput } from './schemas.js'
import { randomUsername, usernameCandidates } from './username.js'
import { parseBound } from '../logs/range.js'

const MAX_TOPUP_MICROS = 100_000n * 1_000_000n
/**
 * `external_data` is stored in a JSON column, and MariaDB's JSON refuses values nested deeper than 32 levels
 * as it counts them (a value inside 31 objects or arrays); MySQL 8 allows 100. The stricter one is the limit,
 * so a partner gets a 400 on every backend rather than a 500 on one.
 */
const EXTERNAL_DATA_MAX_DEPTH = 31

export interface ExternalServiceDeps {
  repo: ExternalRepository
  config: Config
  clock: Clock
  cache: Cache
  tokens: TokensService
  logs: LogsService
}

export interface TopupOutcome {
  external_user_id: string
  payment_id: string
  amount_usd: string
  added_quota: number
  quota: number
  duplicate: boolean
}

/** `amount_usd` → micro-USD, exactly, from its decimal digits; every refusal names the field. */
export function parseTopupAmount(amount: unknown): bigint {
  if (typeof amount !== 'number' && typeof amount !== 'string') {
    throw errors.invalidRequest('amount_usd must be a JSON number or a decimal string', 'amount_usd')
  }
  let micros: bigint
  try {
    micros = parseUsdMicros(amount)
  } catch (err) {
    if (err instanceof UsdFormatError) throw errors.invalidRequest(err.message, 'amount_usd')
    throw err
  }
  if (micros <= 0n) throw errors.invalidRequest('amount_usd must be greater than 0', 'amount_usd')
  if (micros > MAX_TOPUP_MICROS) throw errors.invalidRequest('amount_usd must be at most 100000', 'amount_usd')
  return micros
}

export function createExternalService({ repo, config, clock, cache, tokens, logs }: ExternalServiceDeps) {
  const userNotFound = () => errors.notFound('external user')

  async function requireUser(externalUserId: string): Promise<UserRow> {
    const user = await repo.findByExternalId(externalUserId)
    if (!user) throw userNotFound()
    return user
  }

  async function view(user: UserRow): Promise<ExternalUserViewT> {
    const quota = Number(user.quota)
    const used = Number(user.usedQuota)
    return {
      id: user.id,
      external_user_id: user.externalUserId ?? '',
      username: user.username,
      email: user.email ?? null,
      login_type: user.loginType ?? null,
      status: user.status,
      group: user.group,
      quota,
      quota_usd: quotaToUsd(quota, config.quotaPerUsd),
      used_quota: used,
      used_usd: quotaToUsd(used, config.quotaPerUsd),
      request_count: Number(user.requestCount),
      token_count: await repo.tokenCount(user.id),
      created_at: user.createdAt.toISOString(),
    }
  }

  /** The columns a sync body sets; absent fields are left alone, `null` clears. */
  function identityChanges(input: SyncInput): Partial<NewUser> {
    const changes: Partial<NewUser> = {}
    if (input.email !== undefined) changes.email = input.email
    if (input.phone !== undefined) changes.phone = input.phone
    if (input.wechat_openid !== undefined) changes.wechatOpenid = input.wechat_openid
    if (input.wechat_unionid !== undefined) changes.wechatUnionid = input.wechat_unionid
    if (input.alipay_userid !== undefined) changes.alipayUserid = input.alipay_userid
    if (input.login_type !== undefined) changes.loginType = input.login_type
    if (input.external_data !== undefined) changes.externalData = input.external_data
    if (input.group !== undefined) changes.group = input.group
    if (input.username !== undefined) changes.username = input.username
    return changes
  }

  function conflictFrom(err: unknown): ApiError | undefined {
    if (violatedUnique(err, UNIQUE.username)) return errors.conflict('username_taken', 'that username is taken', 'username')
    if (violatedUnique(err, UNIQUE.email)) return errors.conflict('email_taken', 'that email is already registered', 'email')
    return undefined
  }

  async function assertFree(input: SyncInput, self?: UserRow): Promise<void> {
    const username = input.username
    if (username !== undefined && username.toLowerCase() !== self?.username.toLowerCase()) {
      if ((await repo.takenUsernames([username])).size > 0) {
        throw errors.conflict('username_taken', 'that username is taken', 'username')
      }
    }
    if (input.email && (await repo.emailTaken(input.email, self?.id))) {
      throw errors.conflict('email_taken', 'that email is already registered', 'email')
    }
  }

  async function update(user: UserRow, input: SyncInput): Promise<ExternalUserViewT> {
    await assertFree(input, user)
    const changes = identityChanges(input)
    try {
      await repo.updateUser(user.id, { ...changes, updatedAt: new Date(clock.now()) })
    } catch (err) {
      throw conflictFrom(err) ?? err
    }
    if (changes.group !== undefined && changes.group !== user.group) await cache.publish(INVALIDATE.user, String(user.id))
    const fresh = await repo.findById(user.id)
    if (!fresh) throw userNotFound()
    return view(fresh)
  }

  async function pickUsername(externalUserId: string): Promise<string> {
    const candidates = usernameCandidates(externalUserId)
    const taken = await repo.takenUsernames(candidates)
    return candidates.find((c) => !taken.has(c.toLowerCase())) ?? randomUsername(externalUserId)
  }

  async function create(input: SyncInput): Promise<{ created: boolean; user: ExternalUserViewT }> {
    await assertFree(input)
    const now = new Date(clock.now())
    let username = input.username ?? (await pickUsername(input.external_user_id))
    for (let attempt = 0; ; attempt++) {
      try {
        const id = await repo.createUser(
          { ...identityChanges(input), username, externalUserId: input.external_user_id, createdAt: now, updatedAt: now },
          { quota: config.newUserQuota, remark: 'new user quota' },
        )
        const user = await repo.findById(id)
        if (!user) throw errors.internal()
        return { created: true, user: await view(user) }
      } catch (err) {
        // A concurrent sync of the same partner id won the insert: this one becomes its update.
        if (violatedUnique(err, UNIQUE.externalUserId)) {
          const winner = await repo.findByExternalId(input.external_user_id)
          if (!winner) throw err
          return { created: false, user: await update(winner, input) }
        }
        // A derived name taken meanwhile: derive another; a name the partner chose is a conflict.
        if (input.username === undefined && violatedUnique(err, UNIQUE.username) && attempt < 3) {
          username = randomUsername(input.external_user_id)
          continue
        }
        throw conflictFrom(err) ?? err
      }
    }
  }

  /** amount → quota; beyond the quota range (only with a very large QUOTA_PER_USD) → 400. */
  function topupQuota(micros: bigint): number {
    try {
      return usdMicrosToQuota(micros, config.quotaPerUsd)
    } catch (err) {
      if (err instanceof RangeError) throw errors.invalidRequest(`amount_usd is worth more than ${MAX_QUOTA} quota`, 'amount_usd')
      throw err
    }
  }

  async function duplicateOutcome(existing: TopupRow, user: UserRow, input: TopupInput, micros: bigint): Promise<TopupOutcome> {
    if (existing.kind !== 'topup' || existing.userId !== user.id || BigInt(existing.amountMicros ?? -1) !== micros) {
      throw errors.conflict(
        'payment_id_conflict',
        'this payment_id was already used for another user or another amount',
        'payment_id',
      )
    }
    const current = await repo.findById(user.id)
    if (!current) throw userNotFound()
    return {
      external_user_id: input.external_user_id,
      payment_id: existing.paymentId ?? input.payment_id,
      amount_usd: formatMicros(micros),
      added_quota: Number(existing.quota),
      quota: Number(current.quota),
      duplicate: true,
    }
  }

  return {
    /** Creates (→ created: true) or updates the user mapped to `external_user_id`. */
    async sync(input: SyncInput): Promise<{ created: boolean; user: ExternalUserViewT }> {
      const problem = findJsonProblem(input.external_data, EXTERNAL_DATA_MAX_DEPTH, { strings: true })
      if (problem !== null) throw errors.invalidRequest(`external_data: ${problem}`, 'external_data')
      const existing = await repo.findByExternalId(input.external_user_id, { includeDeleted: true })
      if (existing?.deletedAt) {
        throw errors.conflict('external_user_deleted', 'the user with this external_user_id was deleted by an administrator', 'external_user_id')
      }
      if (existing) return { created: false, user: await update(existing, input) }
      return create(input)
    },

    /**
     * Credits a payment exactly once. The unique index on payment_id decides: the insert that
     * commits first credits; every other (same request retried, raced, or on another instance)
     * fails on the index and answers from the stored row.
     */
    async topup(input: TopupInput): Promise<TopupOutcome> {
      const micros = parseTopupAmount(input.amount_usd)
      const user = await requireUser(input.external_user_id)
      const addedQuota = topupQuota(micros)
      try {
        const quota = await repo.creditTopup({
          userId: user.id,
          paymentId: input.payment_id,
          amountMicros: Number(micros),
          quota: addedQuota,
          remark: input.remark ?? null,
          createdAt: new Date(clock.now()),
        })
        await cache.publish(INVALIDATE.user, String(user.id))
        return {
          external_user_id: input.external_user_id,
          payment_id: input.payment_id,
          amount_usd: formatMicros(micros),
          added_quota: addedQuota,
          quota,
          duplicate: false,
        }
      } catch (err) {
        if (err instanceof UserGoneError) throw userNotFound()
        if (err instanceof QuotaRangeError) {
          throw new ApiError(400, 'quota_out_of_range', `this top-up would take the user's quota beyond ${MAX_QUOTA}; nothing was credited`, {
            param: 'amount_usd',
          })
        }
        if (!violatedUnique(err, UNIQUE.paymentId)) throw err
        const existing = await repo.findTopupByPaymentId(input.payment_id)
        if (!existing) throw err
        return duplicateOutcome(existing, user, input, micros)
      }
    },

    async get(externalUserId: string): Promise<ExternalUserViewT> {
      return view(await requireUser(externalUserId))
    },

    /** Mints a relay key for the user (default: valid 365 days, unlimited quota, all models). */
    async issueToken(input: TokenInput): Promise<CreatedToken> {
      const user = await requireUser(input.external_user_id)
      if (user.status !== 'enabled') throw errors.forbidden('user_disabled', 'this user is disabled')
      return tokens.create(user.id, {
        name: input.name ?? 'partner key',
        expiresInDays: input.expires_in_days ?? 365,
        unlimitedQuota: input.unlimited_quota,
        remainQuota: input.remain_quota,
        models: input.models,
      })
    },

    /** The balance now, and the usage within [from, to] (all time when both are absent). */
    async stats(externalUserId: string, range: { from?: string; to?: string }): Promise<StatsResultT> {
      const from = parseBound(range.from, 'from')
      const to = parseBound(range.to, 'to')
      if (from && to && from > to) throw errors.invalidRequest('from must not be after to', 'from')
      const user = await requireUser(externalUserId)
      const usage = await logs.stats({ userId: user.id, from, to })
      return {
        quota: Number(user.quota),
        used_quota: usage.quota,
        request_count: usage.requests,
        by_model: usage.by_model,
        by_day: usage.by_day,
      }
    },

    async topups(externalUserId: string, page: number, pageSize: number) {
      const user = await requireUser(externalUserId)
      const { rows, total } = await repo.listTopups(user.id, page, pageSize)
      return {
        data: rows.map((row) => ({
          payment_id: row.paymentId ?? '',
          amount_usd: formatMicros(BigInt(row.amountMicros ?? 0)),
          added_quota: Number(row.quota),
          remark: row.remark ?? null,
          created_at: row.createdAt.toISOString(),
        })),
        total,
        page,
        page_size: pageSize,
      }
    },
  }
}

export type ExternalService = ReturnType<typeof createExternalService>
