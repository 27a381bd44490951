// The one cost function of the gateway (CONTRACT §4). Every price is an integer in micro-USD and
// the group ratio an integer in millionths, so the whole request is one exact bigint fraction
// rounded up once: a request is never billed less than it cost, and never rounded twice.

import { MAX_QUOTA } from './limits.js';

export interface ModelPrice {
  /** micro-USD per 1M prompt tokens ($2 / 1M → 2_000_000) */
  inputMicrosPer1M: number;
  /** micro-USD per 1M completion tokens */
  outputMicrosPer1M: number;
  /** micro-USD charged once per request, on top of any token price */
  perRequestMicros: number;
}

export interface CostArgs {
  promptTokens: number;
  completionTokens: number;
  price: ModelPrice;
  /** quota units per USD (QUOTA_PER_USD) */
  quotaPerUsd: number;
  /** group ratio × 1e6; ratio 1 → 1_000_000 */
  groupRatioMicros: number;
}

const ONE_MILLION = 1_000_000n;
// tokens are priced per 1M (1e6), prices are in micro-USD (1e6), the ratio is in millionths (1e6)
const DENOMINATOR = ONE_MILLION * ONE_MILLION * ONE_MILLION;

function nonNegativeInteger(name: string, value: number): bigint {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${name} must be a non-negative integer, got ${value}`);
  }
  return BigInt(value);
}

/**
 * quota = ceil((prompt × input + completion × output + perRequest × 1e6) / 1e6 [per 1M]
 *              / 1e6 [micro-USD] × quotaPerUsd × groupRatioMicros / 1e6)
 */
export function computeQuota(args: CostArgs): number {
  const prompt = nonNegativeInteger('promptTokens', args.promptTokens);
  const completion = nonNegativeInteger('completionTokens', args.completionTokens);
  const input = nonNegativeInteger('price.inputMicrosPer1M', args.price.inputMicrosPer1M);
  const output = nonNegativeInteger('price.outputMicrosPer1M', args.price.outputMicrosPer1M);
  const perRequest = nonNegativeInteger('price.perRequestMicros', args.price.perRequestMicros);
  const quotaPerUsd = nonNegativeInteger('quotaPerUsd', args.quotaPerUsd);
  const ratio = nonNegativeInteger('groupRatioMicros', args.groupRatioMicros);

  // micro-USD × 1M tokens, so the per-request price is scaled up to the same unit
  const costMicroUsdPerMillion = prompt * input + completion * output + perRequest * ONE_MILLION;
  const numerator = costMicroUsdPerMillion * quotaPerUsd * ratio;
  const quota = (numerator + DENOMINATOR - 1n) / DENOMINATOR;
  if (quota > BigInt(MAX_QUOTA)) throw new RangeError('quota is beyond the safe integer range');
  return Number(quota);
}
