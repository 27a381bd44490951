/**
 * CONTRACT §4: every quota value — balances, costs, deltas, token quotas — is an integer in
 * [−MAX_QUOTA, MAX_QUOTA]. JSON numbers are exact only up to 2^53−1 (and MySQL BIGINT is read
 * back as a JS number), so that is the range end to end; about 18 billion USD at the default
 * QUOTA_PER_USD. A value or a result outside it is refused with 400.
 */
export const MAX_QUOTA = Number.MAX_SAFE_INTEGER
export const MIN_QUOTA = -MAX_QUOTA

/** True when `value` is a quota the gateway can hold and answer exactly. */
export function isQuota(value: number): boolean {
  return Number.isSafeInteger(value)
}

/**
 * A money-moving unit would leave a balance outside the quota range; thrown inside the unit's
 * transaction so nothing of it is written, and answered 400 by the service.
 */
export class QuotaRangeError extends RangeError {
  override name = 'QuotaRangeError'
  constructor(
    /** The balance before the unit. */
    readonly balance: number,
    /** What the unit would have added (may be negative). */
    readonly delta: number,
  ) {
    super(`a balance of ${balance} plus ${delta} leaves the quota range of ±${MAX_QUOTA}`)
  }
}

/** Throws QuotaRangeError unless `balance + delta` stays within the range. Exact for safe inputs: a sum past 2^53 rounds to ≥ 2^53. */
export function assertQuotaSum(balance: number, delta: number): void {
  const result = balance + delta
  if (!(result <= MAX_QUOTA && result >= MIN_QUOTA)) throw new QuotaRangeError(balance, delta)
}
