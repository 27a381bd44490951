import type { Cache } from '../cache/cache.js'
import type { Clock } from '../clock.js'
import { ApiError, errors } from '../errors.js'
import { INVALIDATE } from '../relay/seams.js'
import type { UserRow, UsersRepository } from '../users/repository.js'
import { isQuota, MAX_QUOTA, QuotaRangeError } from './limits.js'
import type { AdjustResult, BillingRepository } from './repository.js'
import type { LeaseRepository } from './lease-repository.js'

export interface QuotaAdjustment {
  userId: number
  delta: number
  remark: string
  adminId: number
}

export function createBillingService(deps: { repo: BillingRepository; leases: LeaseRepository; users: UsersRepository; cache: Cache; clock: Clock }) {
  const { repo, users, cache, clock } = deps
  return {
    /** A user's quota and what credit leases hold of it over every instance, read together (null: no such user). */
    balanceOf: (userId: number): Promise<{ quota: number; held: number } | null> => deps.leases.balanceOf(userId),

    /** Adds `delta` (may be negative) to a user's quota, recorded as an `adjustment` ledger row. */
    async adjustQuota(input: QuotaAdjustment): Promise<UserRow> {
      if (!isQuota(input.delta) || input.delta === 0) {
        throw errors.invalidRequest(`delta must be a non-zero integer within ±${MAX_QUOTA}`, 'delta')
      }
      let result: AdjustResult
      try {
        result = await repo.adjust({ ...input, at: new Date(clock.now()) })
      } catch (err) {
        if (err instanceof QuotaRangeError) {
          throw new ApiError(400, 'quota_out_of_range', `the user's quota is ${err.balance}; a delta of ${input.delta} would take it beyond ±${MAX_QUOTA}`, {
            param: 'delta',
          })
        }
        throw err
      }
      if (!result.ok) {
        if (result.reason === 'not_found') throw errors.notFound('user')
        throw new ApiError(400, 'quota_below_zero', `the user's quota is ${result.quota ?? 0}; a delta of ${input.delta} would take it below zero`, {
          param: 'delta',
        })
      }
      // The relay caches users; every instance must see the new balance.
      await cache.publish(INVALIDATE.user, String(input.userId))
      const user = await users.findById(input.userId)
      if (!user) throw errors.notFound('user')
      return user
    },
  }
}

export type BillingService = ReturnType<typeof createBillingService>
