import type { FastifyBaseLogger } from 'fastify'
import type { Cache } from '../cache/cache.js'
import type { Clock } from '../clock.js'
import { ApiError, errors } from '../errors.js'
import type { ModelPrice } from '../billing/cost.js'
import { formatMicros, parseUsdMicros } from '../billing/usd.js'
import { INVALIDATE } from '../relay/seams.js'
import { emptyCatalogue, type CataloguePrice, type PriceCatalogue } from './catalogue.js'
import type { GroupRatioRow, PriceRow, PricingRepository } from './repository.js'
import { STARTER_PRICES } from './starter-prices.js'

/** The model whose price applies to any model without one of its own. */
export const DEFAULT_PRICE_MODEL = '*'
export const DEFAULT_GROUP = 'default'
export const RATIO_ONE = 1_000_000

export type PriceSource = 'admin' | 'catalogue'

export interface PriceView {
  model: string
  input_per_1m: number
  output_per_1m: number
  per_request: number
  /** null = the input price */
  cache_read_per_1m: number | null
  /** null = the input price */
  cache_write_per_1m: number | null
  source: PriceSource
  /** For a catalogue price: the catalogue's `provider/model` it was taken from. */
  catalogue_model?: string
}

export interface GroupRatioView {
  name: string
  ratio: number
}

/** A USD amount or ratio as the API takes it: a JSON number or a decimal string, ≥ 0, ≤ 6 decimals. */
export type DecimalInput = number | string

export interface PriceChange {
  input_per_1m?: DecimalInput
  output_per_1m?: DecimalInput
  per_request?: DecimalInput
  /** null = back to the input price */
  cache_read_per_1m?: DecimalInput | null
  cache_write_per_1m?: DecimalInput | null
}

// Bounds keep every later product far inside the safe-integer range.
const MAX_PRICE_MICROS = 1_000_000n * 1_000_000n // $1M per 1M tokens / per request
const MAX_RATIO_MICROS = 1000n * 1_000_000n

const display = (micros: number): number => Number(formatMicros(BigInt(micros)))
const displayOrNull = (micros: number | null | undefined): number | null =>
  micros === null || micros === undefined ? null : display(micros)

/** A price as the API shows it, in USD; `source` says whether an admin set it or the catalogue supplied it. */
export function priceView(model: string, price: ModelPrice, source: PriceSource = 'admin'): PriceView {
  const view: PriceView = {
    model,
    input_per_1m: display(price.inputMicrosPer1M),
    output_per_1m: display(price.outputMicrosPer1M),
    per_request: display(price.perRequestMicros),
    cache_read_per_1m: displayOrNull(price.cacheReadMicrosPer1M),
    cache_write_per_1m: displayOrNull(price.cacheWriteMicrosPer1M),
    source,
  }
  if (source === 'catalogue' && 'catalogueId' in price) view.catalogue_model = (price as CataloguePrice).catalogueId
  return view
}

/**
 * 400 `model_price_unset` (CONTRACT §3): the model has no admin price, the catalogue does not know it, and there
 * is no default price. The message tells the client what an admin can do about it.
 */
export function modelPriceUnset(model: string): ApiError {
  return new ApiError(
    400,
    'model_price_unset',
    `model '${model}' has no price: no admin price, not in the price catalogue, and no default price. ` +
      `An admin can set one with PUT /api/pricing/${model} {"input_per_1m": …, "output_per_1m": …} (USD per 1M tokens), ` +
      'or a default for every unpriced model with PUT /api/pricing/default',
    { param: 'model', retry: false },
  )
}

const byModel = (a: { model: string }, b: { model: string }) => (a.model < b.model ? -1 : a.model > b.model ? 1 : 0)

function parseAmount(value: DecimalInput, param: string, max: bigint): number {
  let micros: bigint
  try {
    micros = parseUsdMicros(value)
  } catch (err) {
    throw errors.invalidRequest(`${param}: ${(err as Error).message}`, param)
  }
  if (micros < 0n) throw errors.invalidRequest(`${param} must be ≥ 0`, param)
  if (micros > max) throw errors.invalidRequest(`${param} is too large`, param)
  return Number(micros)
}

/**
 * Prices and group ratios, held in memory so the relay's hot path reads no database for them.
 * Every change is written, applied here at once, and published on `INVALIDATE.pricing` so every
 * other instance reloads too.
 */
export function createPricingService(deps: {
  repo: PricingRepository
  cache: Cache
  clock: Clock
  log: FastifyBaseLogger
  /** The bundled price catalogue (catalogue.ts); absent = admin prices only. */
  catalogue?: PriceCatalogue
}) {
  const { repo, cache, clock, log } = deps
  let catalogue = deps.catalogue ?? emptyCatalogue
  let prices = new Map<string, PriceRow>()
  let ratios = new Map<string, number>()
  let loads = 0

  async function reload(): Promise<void> {
    // A slower, older load must not overwrite a newer one's result.
    const seq = ++loads
    const [priceRows, ratioRows] = await Promise.all([repo.listPrices(), repo.listGroupRatios()])
    if (seq !== loads) return
    prices = new Map(priceRows.map((row) => [row.model, row]))
    ratios = new Map(ratioRows.map((row) => [row.name, row.ratioMicros]))
  }

  async function changed(): Promise<void> {
    await reload()
    await cache.publish(INVALIDATE.pricing, '0')
  }

  return {
    reload,

    async start(): Promise<void> {
      await cache.subscribe(INVALIDATE.pricing, () => {
        reload().catch((err: unknown) => log.error({ err }, 'pricing reload failed'))
      })
      await reload()
    },

    /** Writes the starter list on a database no user was ever created in. */
    async seedIfFresh(): Promise<boolean> {
      if (!(await repo.isFresh())) return false
      const rows = STARTER_PRICES.map((p) => ({
        model: p.model,
        inputMicrosPer1M: Number(parseUsdMicros(p.input)),
        outputMicrosPer1M: Number(parseUsdMicros(p.output)),
        perRequestMicros: Number(parseUsdMicros(p.perRequest)),
        cacheReadMicrosPer1M: p.cacheRead === undefined ? null : Number(parseUsdMicros(p.cacheRead)),
        cacheWriteMicrosPer1M: null,
      }))
      await repo.insertMissingPrices(rows, new Date(clock.now()))
      return true
    },

    /**
     * The model's admin price, else the catalogue's, else the default price `*`, else undefined (the meter then
     * answers 400 `model_price_unset`). Memory only: a map lookup, plus the catalogue's own map after the model's
     * first use.
     */
    priceOf(model: string): ModelPrice | undefined {
      return prices.get(model) ?? catalogue.priceOf(model, clock.now()) ?? prices.get(DEFAULT_PRICE_MODEL)
    },

    /** The price that applies to `model`, as the API shows it (the default price shows as model `*`); 400 when none. */
    effectivePrice(model: string): PriceView {
      const own = prices.get(model)
      if (own) return priceView(model, own)
      const listed = model === DEFAULT_PRICE_MODEL ? undefined : catalogue.priceOf(model, clock.now())
      if (listed) return priceView(model, listed, 'catalogue')
      const fallback = prices.get(DEFAULT_PRICE_MODEL)
      if (fallback) return priceView(DEFAULT_PRICE_MODEL, fallback)
      throw modelPriceUnset(model)
    },

    /** True when the model has a price row of its own (the default price `*` does not count). Memory only. */
    hasOwnPrice(model: string): boolean {
      return model !== DEFAULT_PRICE_MODEL && prices.has(model)
    },

    /** The group's ratio in millionths; a group without a ratio counts 1. Memory only. */
    ratioOf(group: string): number {
      return ratios.get(group) ?? RATIO_ONE
    },

    /**
     * Every admin price (`source: "admin"`), and the catalogue's price of every model an enabled channel names
     * that has no admin price (`source: "catalogue"`), by model id.
     */
    async list(): Promise<PriceView[]> {
      const views = [...prices.values()].map((row) => priceView(row.model, row))
      const now = clock.now()
      for (const model of await repo.listServedModels()) {
        if (prices.has(model)) continue
        const listed = catalogue.priceOf(model, now)
        if (listed) views.push(priceView(model, listed, 'catalogue'))
      }
      return views.sort(byModel)
    },

    /**
     * Sets a model's admin price, which overrides the catalogue. Fields left out keep their current value: the
     * admin price's, else the catalogue's for a model it lists, else 0 (cache prices: null, the input price).
     */
    async setPrice(model: string, change: PriceChange): Promise<PriceView> {
      const current: ModelPrice | undefined =
        prices.get(model) ?? (model === DEFAULT_PRICE_MODEL ? undefined : catalogue.priceOf(model, clock.now()))
      const amountOr = (value: DecimalInput | undefined, param: string, kept: number | undefined): number =>
        value === undefined ? (kept ?? 0) : parseAmount(value, param, MAX_PRICE_MICROS)
      const cacheOr = (value: DecimalInput | null | undefined, param: string, kept: number | null | undefined): number | null =>
        value === undefined ? (kept ?? null) : value === null ? null : parseAmount(value, param, MAX_PRICE_MICROS)
      const row: PriceRow = {
        model,
        inputMicrosPer1M: amountOr(change.input_per_1m, 'input_per_1m', current?.inputMicrosPer1M),
        outputMicrosPer1M: amountOr(change.output_per_1m, 'output_per_1m', current?.outputMicrosPer1M),
        perRequestMicros: amountOr(change.per_request, 'per_request', current?.perRequestMicros),
        cacheReadMicrosPer1M: cacheOr(change.cache_read_per_1m, 'cache_read_per_1m', current?.cacheReadMicrosPer1M),
        cacheWriteMicrosPer1M: cacheOr(change.cache_write_per_1m, 'cache_write_per_1m', current?.cacheWriteMicrosPer1M),
      }
      await repo.upsertPrice(row, new Date(clock.now()))
      await changed()
      return priceView(model, row)
    },

    async removePrice(model: string): Promise<void> {
      if (!(await repo.deletePrice(model))) throw errors.notFound('price')
      await changed()
    },

    /** Every stored ratio, and `default` at 1 when none is stored for it. */
    listGroups(): GroupRatioView[] {
      const all = new Map(ratios)
      if (!all.has(DEFAULT_GROUP)) all.set(DEFAULT_GROUP, RATIO_ONE)
      return [...all.entries()]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([name, micros]) => ({ name, ratio: display(micros) }))
    },

    async setGroupRatio(name: string, ratio: DecimalInput): Promise<GroupRatioView> {
      const row: GroupRatioRow = { name, ratioMicros: parseAmount(ratio, 'ratio', MAX_RATIO_MICROS) }
      await repo.upsertGroupRatio(row, new Date(clock.now()))
      await changed()
      return { name, ratio: display(row.ratioMicros) }
    },

    async removeGroupRatio(name: string): Promise<void> {
      if (!(await repo.deleteGroupRatio(name))) throw errors.notFound('group ratio')
      await changed()
    },
  }
}

export type PricingService = ReturnType<typeof createPricingService>
