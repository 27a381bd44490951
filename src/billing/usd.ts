// USD amounts enter the system at the edges (top-ups, price settings) and are turned into
// integers there, exactly once. Everything here is decimal-exact: amounts are parsed from
// their decimal digits into micro-USD (bigint), never through binary floating point.

import { MAX_QUOTA, MIN_QUOTA } from './limits.js';

export const MICROS_PER_USD = 1_000_000n;
const MAX_DECIMALS = 6;

export class UsdFormatError extends Error {
  override name = 'UsdFormatError';
}

const DECIMAL = /^(-?)(\d+)(?:\.(\d+))?$/;
const JS_EXPONENT = /^(-?)(\d+)(?:\.(\d+))?e([+-]\d+)$/;

/**
 * Parses a USD amount into micro-USD.
 *
 * Strings must be plain decimals: digits, an optional fractional part, and an optional leading
 * '-' (returned as a negative value so the caller can answer "must be > 0" rather than a format
 * error). No '+', no exponent, no whitespace, no bare "." or ".5".
 *
 * Numbers are read through their shortest round-trip decimal (`String(n)`), which is exactly the
 * digits the client wrote in its JSON for any amount with ≤ 17 significant digits. JS renders
 * numbers below 1e-6 and from 1e21 up with an exponent; that form is expanded exactly into
 * decimal digits, so `1e-7` is rejected for having 7 decimals and `1e21` is accepted as written.
 */
export function parseUsdMicros(input: number | string, opts: { maxDecimals?: number } = {}): bigint {
  const maxDecimals = opts.maxDecimals ?? MAX_DECIMALS;
  if (!Number.isInteger(maxDecimals) || maxDecimals < 0 || maxDecimals > MAX_DECIMALS) {
    throw new RangeError(`maxDecimals must be an integer from 0 to ${MAX_DECIMALS}`);
  }
  const decimal = typeof input === 'number' ? numberToDecimal(input) : input;
  if (typeof decimal !== 'string') throw new UsdFormatError('amount must be a number or a decimal string');
  const match = DECIMAL.exec(decimal);
  if (!match) {
    throw new UsdFormatError(`amount ${JSON.stringify(decimal)} is not a plain decimal number like "12.5"`);
  }
  const [, sign = '', whole = '0', fraction = ''] = match;
  if (fraction.length > maxDecimals) {
    throw new UsdFormatError(`amount ${decimal} has ${fraction.length} decimals; at most ${maxDecimals} are allowed`);
  }
  const micros = BigInt(whole) * MICROS_PER_USD + BigInt(fraction.padEnd(MAX_DECIMALS, '0'));
  return sign === '-' ? -micros : micros;
}

function numberToDecimal(n: number): string {
  if (!Number.isFinite(n)) throw new UsdFormatError(`amount ${String(n)} is not a finite number`);
  const text = String(n);
  const exp = JS_EXPONENT.exec(text);
  if (!exp) return text;
  const [, sign = '', whole = '', fraction = '', exponent = '0'] = exp;
  const digits = whole + fraction;
  // Position of the decimal point within `digits` after applying the exponent.
  const point = whole.length + Number(exponent);
  if (point <= 0) return `${sign}0.${'0'.repeat(-point)}${digits}`;
  if (point >= digits.length) return sign + digits + '0'.repeat(point - digits.length);
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

function assertQuotaPerUsd(quotaPerUsd: number): bigint {
  if (!Number.isSafeInteger(quotaPerUsd) || quotaPerUsd <= 0) {
    throw new RangeError(`quotaPerUsd must be a positive integer, got ${quotaPerUsd}`);
  }
  return BigInt(quotaPerUsd);
}

/**
 * micro-USD → quota units: round(micros × quotaPerUsd / 1e6), half up (CONTRACT §5 top-up).
 * A negative amount is rounded by its magnitude (half away from zero), so a refund of an
 * amount mirrors its charge exactly.
 */
export function usdMicrosToQuota(micros: bigint, quotaPerUsd: number): number {
  const scaled = (micros < 0n ? -micros : micros) * assertQuotaPerUsd(quotaPerUsd);
  const magnitude = (scaled + MICROS_PER_USD / 2n) / MICROS_PER_USD;
  const quota = micros < 0n ? -magnitude : magnitude;
  if (quota > BigInt(MAX_QUOTA) || quota < BigInt(MIN_QUOTA)) {
    throw new RangeError('quota is beyond the quota range');
  }
  return Number(quota);
}

/**
 * quota → USD for display only (`quota_usd`, `used_usd`). A plain division, so the result may carry
 * binary rounding noise in the last digits; it is never fed back into any money computation.
 */
export function quotaToUsd(quota: number, quotaPerUsd: number): number {
  assertQuotaPerUsd(quotaPerUsd);
  return quota / quotaPerUsd;
}

/** micro-USD → shortest decimal string: 1500000n → "1.5", 1n → "0.000001", 2000000n → "2". */
export function formatMicros(micros: bigint): string {
  const sign = micros < 0n ? '-' : '';
  const magnitude = micros < 0n ? -micros : micros;
  const whole = magnitude / MICROS_PER_USD;
  const fraction = (magnitude % MICROS_PER_USD).toString().padStart(MAX_DECIMALS, '0').replace(/0+$/, '');
  return fraction ? `${sign}${whole}.${fraction}` : `${sign}${whole}`;
}
