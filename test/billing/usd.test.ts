import t from 'tap';
import { UsdFormatError, formatMicros, parseUsdMicros, quotaToUsd, usdMicrosToQuota } from '../../src/billing/usd.js';

t.test('decimal strings parse to exact micro-USD', async (t) => {
  t.equal(parseUsdMicros('1'), 1_000_000n);
  t.equal(parseUsdMicros('0.5'), 500_000n);
  t.equal(parseUsdMicros('12.345678'), 12_345_678n);
  t.equal(parseUsdMicros('0.000001'), 1n);
  t.equal(parseUsdMicros('100000'), 100_000_000_000n);
  t.equal(parseUsdMicros('007.10'), 7_100_000n);
});

t.test('JSON numbers parse through their shortest decimal, so 0.1 + 0.2 noise never appears', async (t) => {
  t.equal(parseUsdMicros(0.1), 100_000n);
  t.equal(parseUsdMicros(12.345678), 12_345_678n);
  t.equal(parseUsdMicros(1.005), 1_005_000n);
  t.equal(parseUsdMicros(0.000001), 1n);
  t.equal(parseUsdMicros(-0), 0n);
});

t.test('exponent forms of numbers are expanded exactly', async (t) => {
  t.equal(parseUsdMicros(1e21), 10n ** 27n); // $1e21 in micro-USD
  t.equal(parseUsdMicros(1.5e21), 15n * 10n ** 26n);
  // below 1e-6 JS writes an exponent; expanded, these have too many decimals
  t.throws(() => parseUsdMicros(1e-7), { name: 'UsdFormatError', message: /0\.0000001 has 7 decimals/ });
  t.throws(() => parseUsdMicros(1.5e-7), { name: 'UsdFormatError', message: /0\.00000015 has 8 decimals/ });
  t.throws(() => parseUsdMicros(5e-324), UsdFormatError);
});

t.test('a leading minus is parsed, for the caller to reject as not positive', async (t) => {
  t.equal(parseUsdMicros('-1.5'), -1_500_000n);
  t.equal(parseUsdMicros(-2), -2_000_000n);
});

t.test('more than 6 decimals is a UsdFormatError naming the limit', async (t) => {
  t.throws(() => parseUsdMicros('0.0000001'), { name: 'UsdFormatError', message: /7 decimals; at most 6/ });
  t.throws(() => parseUsdMicros(1.0000001), UsdFormatError);
});

t.test('maxDecimals narrows the accepted precision', async (t) => {
  t.equal(parseUsdMicros('1.25', { maxDecimals: 2 }), 1_250_000n);
  t.throws(() => parseUsdMicros('1.255', { maxDecimals: 2 }), UsdFormatError);
  t.throws(() => parseUsdMicros('1', { maxDecimals: 7 }), RangeError);
});

t.test('strings that are not plain decimals are rejected', async (t) => {
  for (const bad of ['', ' 1', '1 ', '+1', '1e3', '1E3', '.5', '1.', '0x10', '1,5', 'NaN', 'Infinity', '--1', '1.2.3', '١']) {
    t.throws(() => parseUsdMicros(bad), UsdFormatError, JSON.stringify(bad));
  }
});

t.test('non-finite numbers and non-strings are rejected', async (t) => {
  t.throws(() => parseUsdMicros(Number.NaN), UsdFormatError);
  t.throws(() => parseUsdMicros(Number.POSITIVE_INFINITY), UsdFormatError);
  t.throws(() => parseUsdMicros(null as unknown as string), UsdFormatError);
});

t.test('micro-USD to quota rounds half up', async (t) => {
  t.equal(usdMicrosToQuota(12_500_000n, 500_000), 6_250_000);
  t.equal(usdMicrosToQuota(1n, 500_000), 1); // 0.5 → 1
  t.equal(usdMicrosToQuota(1n, 499_999), 0); // 0.499999 → 0
  t.equal(usdMicrosToQuota(3n, 500_000), 2); // 1.5 → 2
  t.equal(usdMicrosToQuota(100_000_000_000n, 500_000), 50_000_000_000);
});

t.test('negative amounts round by magnitude, mirroring the positive', async (t) => {
  t.equal(usdMicrosToQuota(-3n, 500_000), -2);
  t.equal(usdMicrosToQuota(-1n, 499_999), 0);
});

t.test('quotaPerUsd must be a positive integer', async (t) => {
  t.throws(() => usdMicrosToQuota(1n, 0), RangeError);
  t.throws(() => usdMicrosToQuota(1n, 1.5), RangeError);
});

t.test('quota beyond the safe integer range throws rather than losing precision', async (t) => {
  t.throws(() => usdMicrosToQuota(10n ** 30n, 500_000), RangeError);
});

t.test('quota to USD is a display division', async (t) => {
  t.equal(quotaToUsd(6_250_000, 500_000), 12.5);
  t.equal(quotaToUsd(0, 500_000), 0);
});

t.test('formatMicros gives the shortest decimal', async (t) => {
  t.equal(formatMicros(1_500_000n), '1.5');
  t.equal(formatMicros(2_000_000n), '2');
  t.equal(formatMicros(1n), '0.000001');
  t.equal(formatMicros(0n), '0');
  t.equal(formatMicros(-12_345_678n), '-12.345678');
  t.equal(formatMicros(parseUsdMicros('100000.000010')), '100000.00001');
});
