import t from 'tap';
import { computeQuota, type ModelPrice } from '../../src/billing/cost.js';

const QUOTA_PER_USD = 500_000;
const RATIO_1 = 1_000_000;
const gpt: ModelPrice = { inputMicrosPer1M: 2_000_000, outputMicrosPer1M: 8_000_000, perRequestMicros: 0 };

function quota(promptTokens: number, completionTokens: number, price: ModelPrice, groupRatioMicros = RATIO_1): number {
  return computeQuota({ promptTokens, completionTokens, price, quotaPerUsd: QUOTA_PER_USD, groupRatioMicros });
}

t.test('10 prompt + 20 completion at $2/$8 per 1M costs exactly 90', async (t) => {
  // (10×2 + 20×8) / 1e6 USD = $0.00018 × 500000 = 90
  t.equal(quota(10, 20, gpt), 90);
});

t.test('group ratio 1.5 scales the cost', async (t) => {
  t.equal(quota(10, 20, gpt, 1_500_000), 135);
});

t.test('group ratio 0.3 scales the cost and rounds up once', async (t) => {
  t.equal(quota(10, 20, gpt, 300_000), 27);
  // 1 prompt token: 2 × 0.5 × 0.3 = 0.3 quota → 1
  t.equal(quota(1, 0, gpt, 300_000), 1);
});

t.test('a per-request price alone is billed', async (t) => {
  const image: ModelPrice = { inputMicrosPer1M: 0, outputMicrosPer1M: 0, perRequestMicros: 40_000 }; // $0.04
  t.equal(quota(0, 0, image), 20_000);
  t.equal(quota(123, 456, image), 20_000);
});

t.test('per-request and token prices share one rounding', async (t) => {
  // $0.0000011 per request → 0.55 quota; 1 prompt token at $0.1/1M → 0.05 quota; 0.6 → 1 (two ceils would give 2)
  const price: ModelPrice = { inputMicrosPer1M: 100_000, outputMicrosPer1M: 0, perRequestMicros: 1 };
  t.equal(computeQuota({ promptTokens: 1, completionTokens: 0, price, quotaPerUsd: 550_000, groupRatioMicros: RATIO_1 }), 1);
});

t.test('tiny prices still cost at least 1', async (t) => {
  const cheap: ModelPrice = { inputMicrosPer1M: 1, outputMicrosPer1M: 1, perRequestMicros: 0 };
  t.equal(quota(1, 0, cheap), 1);
  t.equal(quota(0, 1, cheap), 1);
});

t.test('zero usage of a token-priced model costs 0', async (t) => {
  t.equal(quota(0, 0, gpt), 0);
});

t.test('group ratio 0 makes a request free', async (t) => {
  t.equal(quota(1000, 1000, gpt, 0), 0);
});

t.test('1e9 tokens are computed exactly', async (t) => {
  // (1e9×2 + 1e9×8) / 1e6 = $10000 × 500000 = 5e9
  t.equal(quota(1_000_000_000, 1_000_000_000, gpt), 5_000_000_000);
  // one more prompt token adds 1 quota (2 × 0.5 = 1 exactly), no float drift
  t.equal(quota(1_000_000_001, 1_000_000_000, gpt), 5_000_000_001);
  // an odd price: 3 micro-USD/1M × (1e9 + 1) tokens = 3000.000003 micro-USD × 0.5 = 1500.0000015 → 1501
  const odd: ModelPrice = { inputMicrosPer1M: 3, outputMicrosPer1M: 0, perRequestMicros: 0 };
  t.equal(quota(1_000_000_001, 0, odd), 1501);
});

t.test('negative or fractional token counts throw', async (t) => {
  t.throws(() => quota(-1, 0, gpt), RangeError);
  t.throws(() => quota(0, 1.5, gpt), RangeError);
  t.throws(() => quota(Number.NaN, 0, gpt), RangeError);
});

t.test('negative or fractional prices and ratios throw', async (t) => {
  t.throws(() => quota(1, 1, { ...gpt, inputMicrosPer1M: -1 }), RangeError);
  t.throws(() => quota(1, 1, { ...gpt, perRequestMicros: 0.5 }), RangeError);
  t.throws(() => quota(1, 1, gpt, -1), RangeError);
});
