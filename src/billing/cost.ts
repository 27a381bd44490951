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
  /** micro-USD per 1M prompt tokens read from the provider's prompt cache; absent or null = the input price */
  cacheReadMicrosPer1M?: number | null;
  /** micro-USD per 1M prompt tokens written to the provider's prompt cache; absent or null = the input price */
  cacheWriteMicrosPer1M?: number | null;
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
  return toQuota(costMicroUsdPerMillion, quotaPerUsd, ratio);
}

/** The one rounding: a cost in micro-USD × 1M tokens, times quota per USD and the group ratio, rounded up. */
function toQuota(costMicroUsdPerMillion: bigint, quotaPerUsd: bigint, ratio: bigint): number {
  const numerator = costMicroUsdPerMillion * quotaPerUsd * ratio;
  const quota = (numerator + DENOMINATOR - 1n) / DENOMINATOR;
  if (quota > BigInt(MAX_QUOTA)) throw new RangeError('quota is beyond the safe integer range');
  return Number(quota);
}

/**
 * A usage as the relay reports it (the normalised `Usage` of src/relay/seams.ts): `prompt_tokens` is the whole
 * input, cached and cache-write tokens included; `completion_tokens` the whole output, reasoning included.
 */
export interface BilledUsage {
  prompt_tokens: number;
  completion_tokens: number;
  cached_tokens?: number;
  cache_write_tokens?: number;
  reasoning_tokens?: number;
}

export interface UsageCostArgs {
  usage: BilledUsage;
  price: ModelPrice;
  /** quota units per USD (QUOTA_PER_USD) */
  quotaPerUsd: number;
  /** group ratio × 1e6; ratio 1 → 1_000_000 */
  groupRatioMicros: number;
}

const min = (a: bigint, b: bigint): bigint => (a < b ? a : b);
const max = (a: bigint, b: bigint): bigint => (a > b ? a : b);

/** A cache price, or the input price when the model has none of its own (CONTRACT §4: absent = the input price). */
function cachePrice(name: string, value: number | null | undefined, input: bigint): bigint {
  return value === null || value === undefined ? input : nonNegativeInteger(name, value);
}

/**
 * The cost of a usage with cached, cache-write and reasoning tokens (CONTRACT §4), exact, rounded up once:
 *
 *   input  = (prompt − cached − cache_write) × input + cached × cache_read + cache_write × cache_write_price
 *   output = completion × output   (reasoning tokens are output, and already inside completion_tokens)
 *   quota  = ceil((input + output + perRequest × 1e6) / 1e6 / 1e6 × quotaPerUsd × groupRatioMicros / 1e6)
 *
 * Without cached or cache-write tokens this is exactly `computeQuota`. An inconsistent upstream cannot make a
 * usage cheaper than it is: cached tokens count at most the prompt, cache writes at most what is left of it,
 * and the output at least the reasoning tokens. Token counts must be non-negative integers (RangeError otherwise).
 */
export function computeUsageQuota(args: UsageCostArgs): number {
  const { usage, price } = args;
  const prompt = nonNegativeInteger('usage.prompt_tokens', usage.prompt_tokens);
  const completion = nonNegativeInteger('usage.completion_tokens', usage.completion_tokens);
  const cachedAsked = nonNegativeInteger('usage.cached_tokens', usage.cached_tokens ?? 0);
  const writeAsked = nonNegativeInteger('usage.cache_write_tokens', usage.cache_write_tokens ?? 0);
  const reasoning = nonNegativeInteger('usage.reasoning_tokens', usage.reasoning_tokens ?? 0);
  const input = nonNegativeInteger('price.inputMicrosPer1M', price.inputMicrosPer1M);
  const output = nonNegativeInteger('price.outputMicrosPer1M', price.outputMicrosPer1M);
  const perRequest = nonNegativeInteger('price.perRequestMicros', price.perRequestMicros);
  const cacheRead = cachePrice('price.cacheReadMicrosPer1M', price.cacheReadMicrosPer1M, input);
  const cacheWrite = cachePrice('price.cacheWriteMicrosPer1M', price.cacheWriteMicrosPer1M, input);
  const quotaPerUsd = nonNegativeInteger('quotaPerUsd', args.quotaPerUsd);
  const ratio = nonNegativeInteger('groupRatioMicros', args.groupRatioMicros);

  const cached = min(cachedAsked, prompt);
  const written = min(writeAsked, prompt - cached);
  const uncached = prompt - cached - written;
  const generated = max(completion, reasoning);
  const costMicroUsdPerMillion =
    uncached * input + cached * cacheRead + written * cacheWrite + generated * output + perRequest * ONE_MILLION;
  return toQuota(costMicroUsdPerMillion, quotaPerUsd, ratio);
}
