// Pricing a usage with cached, cache-write and reasoning tokens (CONTRACT §4), and normalising each provider's
// usage into one meaning first: prompt_tokens the whole input, completion_tokens the whole output.
import fc from 'fast-check'
import t from 'tap'
import { computeQuota, computeUsageQuota, type BilledUsage, type ModelPrice } from '../../src/billing/cost.js'
import { cleanUsage, fromAnthropic, fromGemini, fromOpenAI, MAX_USAGE_TOKENS } from '../../src/billing/usage.js'

const QUOTA_PER_USD = 500_000
const RATIO_1 = 1_000_000

const claude: ModelPrice = { inputMicrosPer1M: 3_000_000, outputMicrosPer1M: 15_000_000, perRequestMicros: 0, cacheReadMicrosPer1M: 300_000, cacheWriteMicrosPer1M: 3_750_000 }
const quota = (usage: BilledUsage, price: ModelPrice = claude, groupRatioMicros = RATIO_1) =>
  computeUsageQuota({ usage, price, quotaPerUsd: QUOTA_PER_USD, groupRatioMicros })

t.test('the contract formula, exactly, rounded up once', async (t) => {
  // (100 × 3 + 800 × 0.3 + 100 × 3.75) + 50 × 15 = 1665 micro-USD per 1M … = $0.001665 → 832.5 quota → 833
  t.equal(quota({ prompt_tokens: 1000, cached_tokens: 800, cache_write_tokens: 100, completion_tokens: 50 }), 833)
  // group ratio 0.5: 416.25 → 417 (one rounding, not ceil(833 × 0.5))
  t.equal(quota({ prompt_tokens: 1000, cached_tokens: 800, cache_write_tokens: 100, completion_tokens: 50 }, claude, 500_000), 417)
  // reasoning tokens are inside completion_tokens: not billed twice
  t.equal(quota({ prompt_tokens: 1000, cached_tokens: 800, cache_write_tokens: 100, completion_tokens: 50, reasoning_tokens: 30 }), 833)
  // a per-request price shares the rounding
  t.equal(quota({ prompt_tokens: 0, completion_tokens: 0 }, { ...claude, perRequestMicros: 1 }), 1)
})

t.test('absent or null cache prices are the input price', async (t) => {
  const plain: ModelPrice = { inputMicrosPer1M: 3_000_000, outputMicrosPer1M: 15_000_000, perRequestMicros: 0 }
  const usage = { prompt_tokens: 1000, cached_tokens: 800, cache_write_tokens: 100, completion_tokens: 50 }
  const flat = computeQuota({ promptTokens: 1000, completionTokens: 50, price: plain, quotaPerUsd: QUOTA_PER_USD, groupRatioMicros: RATIO_1 })
  t.equal(quota(usage, plain), flat)
  t.equal(quota(usage, { ...plain, cacheReadMicrosPer1M: null, cacheWriteMicrosPer1M: null }), flat)
  t.equal(flat, 1875)
})

t.test('an inconsistent usage is never cheaper than it says', async (t) => {
  // more cached than prompt: at most the prompt is cached
  t.equal(quota({ prompt_tokens: 10, cached_tokens: 50, completion_tokens: 0 }), quota({ prompt_tokens: 10, cached_tokens: 10, completion_tokens: 0 }))
  // cache reads + writes past the prompt: the writes take what is left
  t.equal(quota({ prompt_tokens: 10, cached_tokens: 6, cache_write_tokens: 9, completion_tokens: 0 }), quota({ prompt_tokens: 10, cached_tokens: 6, cache_write_tokens: 4, completion_tokens: 0 }))
  // more reasoning than output: the output is at least the reasoning
  t.equal(quota({ prompt_tokens: 0, completion_tokens: 5, reasoning_tokens: 100 }), quota({ prompt_tokens: 0, completion_tokens: 100 }))
})

t.test('bad counts or prices throw RangeError, as computeQuota does', async (t) => {
  t.throws(() => quota({ prompt_tokens: -1, completion_tokens: 0 }), RangeError)
  t.throws(() => quota({ prompt_tokens: 1, completion_tokens: 0, cached_tokens: 0.5 }), RangeError)
  t.throws(() => quota({ prompt_tokens: 1, completion_tokens: 0, reasoning_tokens: Number.NaN }), RangeError)
  t.throws(() => quota({ prompt_tokens: 1, completion_tokens: 0 }, { ...claude, cacheReadMicrosPer1M: -1 }), RangeError)
  t.throws(() => quota({ prompt_tokens: 1e15, completion_tokens: 1e15 }, { ...claude, inputMicrosPer1M: 1e12, outputMicrosPer1M: 1e12 }, 1e9), RangeError, 'beyond the safe range')
})

// ── properties ─────────────────────────────────────────────────────────────────────────────────────────────────

const count = fc.oneof(fc.nat({ max: 100_000 }), fc.nat({ max: 2_000_000_000 }))
const micros = fc.oneof(fc.nat({ max: 100_000_000 }), fc.nat({ max: 1_000_000_000_000 }))
const price = fc.record({
  inputMicrosPer1M: micros,
  outputMicrosPer1M: micros,
  perRequestMicros: micros,
  cacheReadMicrosPer1M: fc.option(micros, { nil: undefined }),
  cacheWriteMicrosPer1M: fc.option(fc.oneof(micros, fc.constant(null)), { nil: undefined }),
}) as fc.Arbitrary<ModelPrice>
/** Any usage, consistent or not (cached beyond the prompt, reasoning beyond the output). */
const usage = fc.record({ prompt_tokens: count, completion_tokens: count, cached_tokens: count, cache_write_tokens: count, reasoning_tokens: count })
const ratio = fc.nat({ max: 10_000_000 })
const quotaPerUsd = fc.integer({ min: 1, max: 1_000_000 })
/** Saturating at the safe range, as the meter does (a cost beyond it is refused with RangeError). */
function saturating(compute: () => number): number {
  try {
    return compute()
  } catch (err) {
    if (err instanceof RangeError) return Number.MAX_SAFE_INTEGER
    throw err
  }
}
const cost = (u: BilledUsage, p: ModelPrice, r: number, q: number) =>
  saturating(() => computeUsageQuota({ usage: u, price: p, quotaPerUsd: q, groupRatioMicros: r }))

t.test('property: the cost is never negative', async (t) => {
  fc.assert(fc.property(usage, price, ratio, quotaPerUsd, (u, p, r, q) => cost(u, p, r, q) >= 0), { numRuns: 2000 })
  t.pass()
})

t.test('property: one more token of any kind never lowers the cost', async (t) => {
  // A token of each kind: an uncached prompt token, a cached one and a cache-write one (each also one more of the
  // prompt total, since the parts are inside it), an output token, and a reasoning token.
  const more: Record<string, (u: Required<BilledUsage>, k: number) => BilledUsage> = {
    uncached: (u, k) => ({ ...u, prompt_tokens: u.prompt_tokens + k }),
    cached: (u, k) => ({ ...u, prompt_tokens: u.prompt_tokens + k, cached_tokens: u.cached_tokens + k }),
    cacheWrite: (u, k) => ({ ...u, prompt_tokens: u.prompt_tokens + k, cache_write_tokens: u.cache_write_tokens + k }),
    output: (u, k) => ({ ...u, completion_tokens: u.completion_tokens + k }),
    reasoning: (u, k) => ({ ...u, reasoning_tokens: u.reasoning_tokens + k }),
    reasoningInsideOutput: (u, k) => ({ ...u, completion_tokens: u.completion_tokens + k, reasoning_tokens: u.reasoning_tokens + k }),
  }
  for (const [kind, add] of Object.entries(more)) {
    fc.assert(
      fc.property(usage, price, ratio, quotaPerUsd, fc.integer({ min: 1, max: 1_000_000 }), (u, p, r, q, k) => cost(add(u, k), p, r, q) >= cost(u, p, r, q)),
      { numRuns: 1000 },
    )
    t.pass(kind)
  }
})

t.test('property: with no cached or cache-write tokens it is exactly computeQuota', async (t) => {
  fc.assert(
    fc.property(count, count, price, ratio, quotaPerUsd, fc.boolean(), (prompt, completion, p, r, q, withReasoning) => {
      const u: BilledUsage = { prompt_tokens: prompt, completion_tokens: completion, ...(withReasoning ? { reasoning_tokens: Math.floor(completion / 2), cached_tokens: 0 } : {}) }
      return cost(u, p, r, q) === saturating(() => computeQuota({ promptTokens: prompt, completionTokens: completion, price: p, quotaPerUsd: q, groupRatioMicros: r }))
    }),
    { numRuns: 2000 },
  )
  t.pass()
})

t.test('property: caching at a lower price never costs more than not caching', async (t) => {
  fc.assert(
    fc.property(usage, price, ratio, quotaPerUsd, (u, p, r, q) => {
      const cheaper = { ...p, cacheReadMicrosPer1M: Math.min(p.cacheReadMicrosPer1M ?? p.inputMicrosPer1M, p.inputMicrosPer1M) }
      return cost({ ...u, cache_write_tokens: 0 }, cheaper, r, q) <= cost({ ...u, cached_tokens: 0, cache_write_tokens: 0 }, cheaper, r, q)
    }),
    { numRuns: 1000 },
  )
  t.pass()
})

// ── normalisation ──────────────────────────────────────────────────────────────────────────────────────────────

t.test('OpenAI: prompt_tokens already include cached_tokens, completion_tokens already include reasoning_tokens', async (t) => {
  const chat = {
    prompt_tokens: 2006, completion_tokens: 300, total_tokens: 2306,
    prompt_tokens_details: { cached_tokens: 1920, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 192, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  }
  t.same(fromOpenAI(chat), { prompt_tokens: 2006, completion_tokens: 300, cached_tokens: 1920, reasoning_tokens: 192 })
  const responses = { input_tokens: 36, input_tokens_details: { cached_tokens: 12 }, output_tokens: 87, output_tokens_details: { reasoning_tokens: 40 }, total_tokens: 123 }
  t.same(fromOpenAI(responses), { prompt_tokens: 36, completion_tokens: 87, cached_tokens: 12, reasoning_tokens: 40 }, 'the Responses API')
  t.same(fromOpenAI({ prompt_tokens: 10, completion_tokens: 20, prompt_tokens_details: { cached_tokens: 0 } }), { prompt_tokens: 10, completion_tokens: 20 }, 'zero parts are left out')
  t.same(fromOpenAI({ prompt_tokens: 50, completion_tokens: 5, prompt_cache_hit_tokens: 32, prompt_cache_miss_tokens: 18 }), { prompt_tokens: 50, completion_tokens: 5, cached_tokens: 32 }, "DeepSeek's cache hits")
  t.same(fromOpenAI({ prompt_tokens: 8 }), { prompt_tokens: 8, completion_tokens: 0 }, 'embeddings')
  t.same(fromOpenAI({ prompt_tokens: 'x', completion_tokens: -3, prompt_tokens_details: { cached_tokens: Infinity } }), { prompt_tokens: 0, completion_tokens: 0 })
  for (const bad of [null, undefined, 3, 'usage', [1, 2]]) t.equal(fromOpenAI(bad), null, JSON.stringify(bad))
})

t.test("Anthropic: input_tokens excludes the cache reads and writes, so the total is their sum", async (t) => {
  const usage = { input_tokens: 21, cache_creation_input_tokens: 188086, cache_read_input_tokens: 0, output_tokens: 393, service_tier: 'standard' }
  t.same(fromAnthropic(usage), { prompt_tokens: 188107, completion_tokens: 393, cache_write_tokens: 188086 })
  t.same(fromAnthropic({ input_tokens: 4, cache_read_input_tokens: 1000, output_tokens: 10 }), { prompt_tokens: 1004, completion_tokens: 10, cached_tokens: 1000 })
  t.same(fromAnthropic({ output_tokens: 15 }), { prompt_tokens: 0, completion_tokens: 15 }, 'a message_delta event carries output only')
  t.equal(fromAnthropic(null), null)
})

t.test('Gemini: promptTokenCount includes the cached content; candidates exclude the thoughts', async (t) => {
  const meta = { promptTokenCount: 2048, cachedContentTokenCount: 1024, candidatesTokenCount: 120, thoughtsTokenCount: 480, totalTokenCount: 2648 }
  t.same(fromGemini(meta), { prompt_tokens: 2048, completion_tokens: 600, cached_tokens: 1024, reasoning_tokens: 480 })
  t.same(fromGemini({ promptTokenCount: 10, candidatesTokenCount: 5, toolUsePromptTokenCount: 7 }), { prompt_tokens: 17, completion_tokens: 5 }, 'tool-use prompt tokens are input')
  t.equal(fromGemini('x'), null)
})

t.test('the same cached prompt costs the same whichever provider reported it', async (t) => {
  // 1000 input tokens of which 800 cache reads, 100 output tokens of which 40 reasoning, in each provider's words
  const openai = fromOpenAI({ prompt_tokens: 1000, completion_tokens: 100, prompt_tokens_details: { cached_tokens: 800 }, completion_tokens_details: { reasoning_tokens: 40 } })
  const anthropic = fromAnthropic({ input_tokens: 200, cache_read_input_tokens: 800, output_tokens: 100 })
  const gemini = fromGemini({ promptTokenCount: 1000, cachedContentTokenCount: 800, candidatesTokenCount: 60, thoughtsTokenCount: 40 })
  const costs = [openai, anthropic, gemini].map((u) => quota(u as BilledUsage))
  // (200 × 3 + 800 × 0.3 + 100 × 15) / 1M × 500,000 = 1170
  t.same(costs, [1170, 1170, 1170])
})

t.test('cleanUsage makes any reported usage priceable: whole numbers, clamped', async (t) => {
  t.same(cleanUsage({ prompt_tokens: 10.7, completion_tokens: -1, cached_tokens: 2.2, reasoning_tokens: Number.NaN }), { prompt_tokens: 10, completion_tokens: 0, cached_tokens: 2 })
  t.same(cleanUsage({ prompt_tokens: 1e20, completion_tokens: Infinity, cache_write_tokens: 5 }), { prompt_tokens: MAX_USAGE_TOKENS, completion_tokens: 0, cache_write_tokens: 5 })
  fc.assert(
    fc.property(fc.record({ prompt_tokens: fc.double(), completion_tokens: fc.double(), cached_tokens: fc.double(), cache_write_tokens: fc.double(), reasoning_tokens: fc.double() }), (u) => {
      const q = quota(cleanUsage(u), claude)
      return Number.isSafeInteger(q) && q >= 0
    }),
    { numRuns: 1000 },
  )
})
