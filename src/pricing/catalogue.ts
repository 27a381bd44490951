// The bundled price catalogue (CONTRACT §4): a model without an admin price takes the price that
// `@pydantic/genai-prices` lists for it. The package's data ships inside it, so this works offline; it is
// imported once at start and never asked to update itself (no network at run time).
//
// The package resolves model ids the way its own `calcPrice` does: the first provider whose pattern claims the id
// (`gpt-…` → openai, `claude-…` → anthropic, …), then that provider's model by its match rules, which cover dated
// snapshots and aliases (`gpt-4o-2024-08-06` → gpt-4o, `claude-sonnet-4-20250514` → claude-sonnet-4-0). On top of
// that an id with a provider prefix (`anthropic/claude-sonnet-4`, `openai/gpt-4o`) is looked up under that
// provider, and a bare id no provider claims under OpenAI (`text-embedding-3-small`), when no model matches the
// whole id. We let the package match and read the model's raw prices; the
// arithmetic stays ours (exact integers, src/billing/cost.ts). What is read of a price set:
//   input_mtok, output_mtok, cache_read_mtok, cache_write_mtok  USD per 1M tokens
//   requests_kcount                                              USD per 1,000 requests → the per-request price
// Tiered prices (e.g. Gemini 2.5 Pro above 200k prompt tokens) take their BASE tier. Prices that change on a date
// or by time of day (DeepSeek's off-peak hours) are chosen by the request's time, as the package chooses them.
// Anthropic's 1-hour cache writes (cache_write_1h_mtok) and audio / image / search units are not read: those
// tokens are billed at the text prices. A model whose price set has none of the token or request prices is
// treated as not in the catalogue (an admin must price it), never as free.
import type { ModelPrice } from '../billing/cost.js'
import { parseUsdMicros } from '../billing/usd.js'

export const CATALOGUE_PACKAGE = '@pydantic/genai-prices'

/** One model as the catalogue knows it: its catalogue id and its raw prices (one set, or conditional sets). */
export interface CatalogueModel {
  /** `provider/model` in the catalogue, e.g. `anthropic/claude-sonnet-4-0`. */
  id: string
  /** The package's `ModelInfo.prices`: a price set, or `[{constraint?, prices}]`. */
  prices: unknown
}

/** Finds the catalogue's model for a model id as clients send it; null when the catalogue has none. */
export type CatalogueFinder = (model: string) => CatalogueModel | null

export interface CataloguePrice extends ModelPrice {
  /** The catalogue model the price was taken from. */
  readonly catalogueId: string
}

export interface PriceCatalogue {
  /** False when the package is not installed: every lookup is undefined. */
  readonly available: boolean
  /** The catalogue's price of `model` at `now` (epoch ms); a map lookup after the model's first use. */
  priceOf(model: string, now: number): CataloguePrice | undefined
}

/** The same bound as admin prices: $1M per 1M tokens or per request keeps every product far inside bigint's comfort. */
const MAX_PRICE_MICROS = 1_000_000n * 1_000_000n

/**
 * Distinct model ids remembered (hits and misses alike). Ids come from clients, so the memo is bounded: past
 * the bound the oldest entry goes, and a forgotten id is simply looked up again.
 */
const MEMO_ENTRIES = 10_000

type Json = Record<string, unknown>
const isRecord = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value)

/** A price set chosen by date or time of day (the package's `ConditionalPrice`), already converted. */
interface Variant {
  price: CataloguePrice | null
  /** Applies from this instant (epoch ms); null = no start date. */
  from: number | null
  /** Applies within [start, end) seconds of the UTC day, wrapping past midnight when end < start; null = all day. */
  window: readonly [number, number] | null
}

/** A model's prices, converted once: fixed, or variants chosen per request the way the package chooses them. */
type Entry = { fixed: CataloguePrice | null } | { variants: Variant[] }

export const emptyCatalogue: PriceCatalogue = { available: false, priceOf: () => undefined }

export function createCatalogue(find: CatalogueFinder, opts: { memoEntries?: number } = {}): PriceCatalogue {
  const limit = opts.memoEntries ?? MEMO_ENTRIES
  const memo = new Map<string, Entry | null>()

  function entryOf(model: string): Entry | null {
    const known = memo.get(model)
    if (known !== undefined) return known
    let found: CatalogueModel | null = null
    try {
      found = find(model)
    } catch {
      // A lookup that throws is a model the catalogue cannot price; the request falls through to the default.
    }
    const entry = found ? compile(found) : null
    if (memo.size >= limit) memo.delete(memo.keys().next().value as string)
    memo.set(model, entry)
    return entry
  }

  return {
    available: true,
    priceOf(model, now) {
      const entry = entryOf(model)
      if (entry === null) return undefined
      if ('fixed' in entry) return entry.fixed ?? undefined
      return chooseVariant(entry.variants, now) ?? undefined
    },
  }
}

/** The package's rule: the last variant whose constraint holds at `now`, else the first. */
function chooseVariant(variants: readonly Variant[], now: number): CataloguePrice | null {
  for (let i = variants.length - 1; i >= 0; i--) {
    const v = variants[i] as Variant
    if (v.from === null && v.window === null) return v.price
    if (v.from !== null && now >= v.from) return v.price
    if (v.window !== null) {
      const second = (((now / 1000) % 86_400) + 86_400) % 86_400
      const [start, end] = v.window
      if (end < start ? second >= start || second < end : second >= start && second < end) return v.price
    }
  }
  return variants[0]?.price ?? null
}

/** Converts a catalogue model's prices once; null when nothing of them can be billed. */
export function compile(model: CatalogueModel): Entry | null {
  if (!Array.isArray(model.prices)) return { fixed: toModelPrice(model.prices, model.id) }
  const variants: Variant[] = []
  for (const item of model.prices as unknown[]) {
    if (!isRecord(item)) continue
    const constraint = isRecord(item.constraint) ? item.constraint : null
    const variant: Variant = { price: toModelPrice(item.prices, model.id), from: null, window: null }
    if (constraint !== null) {
      if (typeof constraint.start_date === 'string') {
        const from = Date.parse(`${constraint.start_date}T00:00:00Z`)
        if (Number.isNaN(from)) continue
        variant.from = from
      } else {
        const start = secondOfDay(constraint.start_time)
        const end = secondOfDay(constraint.end_time)
        if (start === null || end === null) continue
        variant.window = [start, end]
      }
    }
    variants.push(variant)
  }
  return variants.length > 0 ? { variants } : null
}

const TIME_OF_DAY = /^(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(Z|([+-])(\d{2}):(\d{2}))$/

/** `16:30:00Z` / `08:30:00+08:00` → seconds of the UTC day; null when malformed. */
function secondOfDay(value: unknown): number | null {
  if (typeof value !== 'string') return null
  const m = TIME_OF_DAY.exec(value)
  if (!m) return null
  const [hours, minutes, seconds] = [Number(m[1]), Number(m[2]), Number(m[3])]
  if (hours > 23 || minutes > 59 || seconds > 59) return null
  const offset = m[4] === 'Z' ? 0 : (m[5] === '-' ? -1 : 1) * (Number(m[6]) * 3600 + Number(m[7]) * 60)
  return (((hours * 3600 + minutes * 60 + seconds - offset) % 86_400) + 86_400) % 86_400
}

/**
 * A catalogue price set as the gateway's integer price; null when it holds no token or request price, or an
 * amount that is not a finite non-negative number within the admin bound.
 */
export function toModelPrice(prices: unknown, catalogueId: string): CataloguePrice | null {
  if (!isRecord(prices)) return null
  const input = amount(prices.input_mtok)
  const output = amount(prices.output_mtok)
  const cacheRead = amount(prices.cache_read_mtok)
  const cacheWrite = amount(prices.cache_write_mtok)
  const perThousandRequests = amount(prices.requests_kcount)
  const all = [input, output, cacheRead, cacheWrite, perThousandRequests]
  if (all.some((a) => a === null)) return null
  if (input === undefined && output === undefined && perThousandRequests === undefined) return null
  return Object.freeze({
    inputMicrosPer1M: Number(input ?? 0n),
    outputMicrosPer1M: Number(output ?? 0n),
    // Per 1,000 requests → per request, rounded half up to the micro-dollar.
    perRequestMicros: Number(((perThousandRequests ?? 0n) + 500n) / 1000n),
    cacheReadMicrosPer1M: cacheRead === undefined ? null : Number(cacheRead),
    cacheWriteMicrosPer1M: cacheWrite === undefined ? null : Number(cacheWrite),
    catalogueId,
  })
}

/**
 * One catalogue amount in USD → micro-USD: a number, or tiered prices `{base, tiers}` (the base tier).
 * undefined when absent, null when unusable. Exact for amounts with up to 6 decimals (all of the catalogue's
 * token prices); finer ones are rounded to the nearest micro-dollar.
 */
function amount(value: unknown): bigint | null | undefined {
  if (value === undefined) return undefined
  const usd = isRecord(value) ? value.base : value
  if (typeof usd !== 'number' || !Number.isFinite(usd) || usd < 0) return null
  let micros: bigint
  try {
    micros = parseUsdMicros(usd)
  } catch {
    micros = BigInt(Math.round(usd * 1e6))
  }
  return micros <= MAX_PRICE_MICROS ? micros : null
}

/** What the package exports that the gateway uses (its index.d.ts, version pinned in package.json). */
export interface GenaiPricesModule {
  calcPrice(
    usage: Record<string, number | undefined>,
    modelId: string,
    options?: { providerId?: string },
  ): { provider: { id: string }; model: { id: string; prices: unknown } } | null
  findProvider(options: { providerId?: string }): { id: string } | undefined
}

/** No usage: `calcPrice` is asked only which model an id is; the cost is computed by the gateway. */
const NO_USAGE: Record<string, number> = Object.freeze({}) as Record<string, number>

/**
 * The finder over the package: its own matching first; then an id with a `provider/` prefix as that provider's
 * model; then, this being an OpenAI-compatible gateway, a bare id as one of OpenAI's models (the package claims
 * for OpenAI only ids like `gpt-…` and `o1…`, which leaves out `text-embedding-3-small` and the like).
 */
export function genaiPricesFinder(mod: GenaiPricesModule): CatalogueFinder {
  const match = (model: string, providerId?: string): CatalogueModel | null => {
    const found = mod.calcPrice(NO_USAGE, model, providerId === undefined ? undefined : { providerId })
    return found ? { id: `${found.provider.id}/${found.model.id}`, prices: found.model.prices } : null
  }
  return (model) => {
    const whole = match(model)
    if (whole) return whole
    const slash = model.indexOf('/')
    if (slash < 0) return match(model, 'openai')
    if (slash === 0 || slash === model.length - 1) return null
    const provider = mod.findProvider({ providerId: model.slice(0, slash) })
    return provider ? match(model.slice(slash + 1), provider.id) : null
  }
}

/**
 * Imports the package once. Resolves to the catalogue, or to the empty one with the reason when the package is
 * missing or unusable (prices then come from admins only; start-up goes on).
 */
export async function loadCatalogue(): Promise<{ catalogue: PriceCatalogue; problem: string | null }> {
  // A variable specifier: the package is optional to the type checker too.
  const specifier: string = CATALOGUE_PACKAGE
  try {
    const mod = (await import(specifier)) as Partial<GenaiPricesModule>
    if (typeof mod.calcPrice !== 'function' || typeof mod.findProvider !== 'function') {
      return { catalogue: emptyCatalogue, problem: `${CATALOGUE_PACKAGE} does not export calcPrice and findProvider` }
    }
    return { catalogue: createCatalogue(genaiPricesFinder(mod as GenaiPricesModule)), problem: null }
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err)
    // Node says ERR_MODULE_NOT_FOUND; some loaders (tests') keep only the message.
    const missing = (err as { code?: unknown }).code === 'ERR_MODULE_NOT_FOUND' || message.includes(`Cannot find package '${CATALOGUE_PACKAGE}'`)
    const problem = missing ? `${CATALOGUE_PACKAGE} is not installed` : `${CATALOGUE_PACKAGE} failed to load: ${message}`
    return { catalogue: emptyCatalogue, problem }
  }
}
