// The bundled price catalogue (CONTRACT §4): how @pydantic/genai-prices entries become integer prices, how model
// ids are resolved (aliases, provider prefixes), which of several price sets applies, and that a model is looked
// up once. Entries are the package's own of the installed @pydantic/genai-prices.
import t from 'tap'
import { compile, createCatalogue, genaiPricesFinder, loadCatalogue, toModelPrice, type CatalogueFinder, type GenaiPricesModule } from '../../src/pricing/catalogue.js'
import * as genaiPrices from '@pydantic/genai-prices'

const catalogue = createCatalogue(genaiPricesFinder(genaiPrices as unknown as GenaiPricesModule))
const NOW = Date.parse('2026-11-30T10:00:00Z')

t.test('a price set becomes micro-USD per 1M tokens, exactly; absent cache prices are null (= the input price)', async (t) => {
  t.same(toModelPrice({ input_mtok: 2.5, cache_read_mtok: 1.25, output_mtok: 10, web_searches_kcount: 10 }, 'openai/gpt-4o'), {
    inputMicrosPer1M: 2_500_000, outputMicrosPer1M: 10_000_000, perRequestMicros: 0, cacheReadMicrosPer1M: 1_250_000, cacheWriteMicrosPer1M: null, catalogueId: 'openai/gpt-4o',
  })
  t.match(toModelPrice({ input_mtok: 0.135, cache_read_mtok: 0.035, output_mtok: 0.55 }, 'x'), { inputMicrosPer1M: 135_000, cacheReadMicrosPer1M: 35_000, outputMicrosPer1M: 550_000 }, 'no float drift')
  t.match(toModelPrice({ input_mtok: 3, cache_write_mtok: 3.75, cache_read_mtok: 0.3, output_mtok: 15, cache_write_1h_mtok: 6 }, 'x'), { cacheWriteMicrosPer1M: 3_750_000, cacheReadMicrosPer1M: 300_000 }, 'the 5-minute cache write price, not the 1-hour one')
  t.match(toModelPrice({ input_mtok: 0.02 }, 'x'), { inputMicrosPer1M: 20_000, outputMicrosPer1M: 0 }, 'an embedding model: input only')
  t.match(toModelPrice({ requests_kcount: 5 }, 'x'), { perRequestMicros: 5_000, inputMicrosPer1M: 0 }, '$5 per 1,000 requests → $0.005 a request')
  t.match(toModelPrice({ input_mtok: 0.0000001, output_mtok: 1 }, 'x'), { inputMicrosPer1M: 0 }, 'finer than a micro-dollar is rounded')
})

t.test('tiered prices take their base tier', async (t) => {
  const gemini = { input_mtok: { base: 1.25, tiers: [{ start: 200000, price: 2.5 }] }, cache_read_mtok: { base: 0.125, tiers: [{ start: 200000, price: 0.25 }] }, output_mtok: { base: 10, tiers: [{ start: 200000, price: 15 }] } }
  t.match(toModelPrice(gemini, 'google/gemini-2.5-pro'), { inputMicrosPer1M: 1_250_000, cacheReadMicrosPer1M: 125_000, outputMicrosPer1M: 10_000_000 })
})

t.test('a price set the gateway cannot bill is no price at all (never free)', async (t) => {
  for (const prices of [{}, { audio_hours: 0.36, input_audio_hours: 0.36 }, { input_mtok: -1, output_mtok: 1 }, { input_mtok: 'cheap', output_mtok: 1 }, { input_mtok: Infinity }, { input_mtok: 1, cache_read_mtok: Number.NaN }, { input_mtok: 2e6 }, null, [1]]) {
    t.equal(toModelPrice(prices, 'x'), null, JSON.stringify(prices))
  }
  t.equal(compile({ id: 'x', prices: [] }), null, 'no price sets')
})

t.test('ids resolve as the package resolves them: exact, dated snapshots, aliases, any case', async (t) => {
  for (const id of ['gpt-4o', 'gpt-4o-2024-08-06', 'GPT-4O']) t.match(catalogue.priceOf(id, NOW), { catalogueId: 'openai/gpt-4o', inputMicrosPer1M: 2_500_000 }, id)
  for (const id of ['claude-sonnet-4-20250514', 'claude-sonnet-4-0', 'claude-sonnet-4']) {
    t.match(catalogue.priceOf(id, NOW), { catalogueId: 'anthropic/claude-sonnet-4-0', inputMicrosPer1M: 3_000_000, cacheReadMicrosPer1M: 300_000, cacheWriteMicrosPer1M: 3_750_000, outputMicrosPer1M: 15_000_000 }, id)
  }
  t.match(catalogue.priceOf('gemini-2.5-pro', NOW), { inputMicrosPer1M: 1_250_000, outputMicrosPer1M: 10_000_000 }, 'base tier')
})

t.test('a provider prefix is looked up under that provider; a bare unclaimed id under OpenAI', async (t) => {
  t.match(catalogue.priceOf('anthropic/claude-sonnet-4', NOW), { catalogueId: 'anthropic/claude-sonnet-4-0' })
  t.match(catalogue.priceOf('openai/gpt-4o', NOW), { catalogueId: 'openai/gpt-4o' })
  t.match(catalogue.priceOf('text-embedding-3-small', NOW), { catalogueId: 'openai/text-embedding-3-small', inputMicrosPer1M: 20_000 })
  for (const id of ['no-such-model', 'nosuchprovider/gpt-4o-x', 'deepseek-ai/DeepSeek-V3', '/gpt-4o', 'openai/', 'whisper-1', 'llama3.1:8b']) {
    t.equal(catalogue.priceOf(id, NOW), undefined, id)
  }
})

t.test('price sets by date and by time of day are chosen at the request time', async (t) => {
  // o3: $10/$40 until 2025-06-10, $2/$8 from then on.
  t.match(catalogue.priceOf('o3', Date.parse('2025-06-09T23:59:59Z')), { inputMicrosPer1M: 10_000_000, outputMicrosPer1M: 40_000_000 })
  t.match(catalogue.priceOf('o3', Date.parse('2025-06-10T00:00:00Z')), { inputMicrosPer1M: 2_000_000, outputMicrosPer1M: 8_000_000 })
  // DeepSeek: standard 00:30–16:30 UTC, off-peak otherwise.
  t.match(catalogue.priceOf('deepseek-chat', Date.parse('2026-11-30T10:00:00Z')), { inputMicrosPer1M: 270_000, cacheReadMicrosPer1M: 70_000 })
  t.match(catalogue.priceOf('deepseek-chat', Date.parse('2026-11-30T16:30:00Z')), { inputMicrosPer1M: 135_000, cacheReadMicrosPer1M: 35_000 })
  t.match(catalogue.priceOf('deepseek-chat', Date.parse('2026-11-30T00:15:00Z')), { inputMicrosPer1M: 135_000 })
  t.match(catalogue.priceOf('deepseek-chat', Date.parse('2026-11-30T00:30:00Z')), { inputMicrosPer1M: 270_000 })
})

t.test('each model id is looked up once, misses included; the memo is bounded', async (t) => {
  const asked: string[] = []
  const find: CatalogueFinder = (model) => {
    asked.push(model)
    return model.startsWith('known') ? { id: `p/${model}`, prices: { input_mtok: 1, output_mtok: 2 } } : null
  }
  const small = createCatalogue(find, { memoEntries: 3 })
  const first = small.priceOf('known-a', NOW)
  t.equal(small.priceOf('known-a', NOW), first, 'the same frozen price object')
  t.ok(Object.isFrozen(first))
  small.priceOf('unknown', NOW)
  small.priceOf('unknown', NOW)
  t.same(asked, ['known-a', 'unknown'])
  small.priceOf('known-b', NOW)
  small.priceOf('known-c', NOW) // a fourth id: the oldest (known-a) is forgotten
  small.priceOf('known-a', NOW)
  t.same(asked, ['known-a', 'unknown', 'known-b', 'known-c', 'known-a'])
})

t.test('a finder that throws prices nothing and is not asked again', async (t) => {
  let calls = 0
  const broken = createCatalogue(() => {
    calls += 1
    throw new Error('boom')
  })
  t.equal(broken.priceOf('gpt-4o', NOW), undefined)
  t.equal(broken.priceOf('gpt-4o', NOW), undefined)
  t.equal(calls, 1)
})

t.test('loadCatalogue: the installed package', async (t) => {
  const { catalogue: loaded, problem } = await loadCatalogue()
  t.equal(problem, null)
  t.equal(loaded.available, true)
  t.match(loaded.priceOf('gpt-4o', NOW), { catalogueId: 'openai/gpt-4o', inputMicrosPer1M: 2_500_000, cacheReadMicrosPer1M: 1_250_000, outputMicrosPer1M: 10_000_000 })
  t.match(loaded.priceOf('anthropic/claude-sonnet-4', NOW), { cacheWriteMicrosPer1M: 3_750_000 })
  t.equal(loaded.priceOf('no-such-model', NOW), undefined)
})
