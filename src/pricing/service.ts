import type { FastifyBaseLogger } from 'fastify'
import type { Cache } from '../cache/cache.js'
import type { Clock } from '../clock.js'
import { errors } from '../errors.js'
import type { ModelPrice } from '../billing/cost.js'
import { formatMicros, parseUsdMicros } from '../billing/usd.js'
import { INVALIDATE } from '../relay/seams.js'
import type { GroupRatioRow, PriceRow, PricingRepository } from './repository.js'
import { STARTER_PRICES } from './starter-prices.js'

/** The model whose price applies to any model without one of its own. */
export const DEFAULT_PRICE_MODEL = '*'
export const DEFAULT_GROUP = 'default'
export const RATIO_ONE = 1_000_000

export interface PriceView {
  model: string
  input_per_1m: number
  output_per_1m: number
  per_request: number
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
}

// Bounds keep every later product far inside the safe-integer range.
const MAX_PRICE_MICROS = 1_000_000n * 1_000_000n // $1M per 1M tokens / per request
const MAX_RATIO_MICROS = 1000n * 1_000_000n

const display = (micros: number): number => Number(formatMicros(BigInt(micros)))

export function priceView(row: PriceRow): PriceView {
  return {
    model: row.model,
    input_per_1m: display(row.inputMicrosPer1M),
    output_per_1m: display(row.outputMicrosPer1M),
    per_request: display(row.perRequestMicros),
  }
}

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
export function createPricingService(deps: { repo: PricingRepository; cache: Cache; clock: Clock; log: FastifyBaseLogger }) {
  const { repo, cache, clock, log } = deps
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
      }))
      await repo.insertMissingPrices(rows, new Date(clock.now()))
      return true
    },

    /** The model's price, else the default price `*`, else undefined. Memory only. */
    priceOf(model: string): ModelPrice | undefined {
      return prices.get(model) ?? prices.get(DEFAULT_PRICE_MODEL)
    },

    /** True when the model has a price row of its own (the default price `*` does not count). Memory only. */
    hasOwnPrice(model: string): boolean {
      return model !== DEFAULT_PRICE_MODEL && prices.has(model)
    },

    /** The group's ratio in millionths; a group without a ratio counts 1. Memory only. */
    ratioOf(group: string): number {
      return ratios.get(group) ?? RATIO_ONE
    },

    list(): PriceView[] {
      return [...prices.values()].sort((a, b) => (a.model < b.model ? -1 : a.model > b.model ? 1 : 0)).map(priceView)
    },

    /** Sets a model's prices; fields left out keep their current value (0 for a new model). */
    async setPrice(model: string, change: PriceChange): Promise<PriceView> {
      const current = prices.get(model)
      const row: PriceRow = {
        model,
        inputMicrosPer1M:
          change.input_per_1m === undefined ? (current?.inputMicrosPer1M ?? 0) : parseAmount(change.input_per_1m, 'input_per_1m', MAX_PRICE_MICROS),
        outputMicrosPer1M:
          change.output_per_1m === undefined ? (current?.outputMicrosPer1M ?? 0) : parseAmount(change.output_per_1m, 'output_per_1m', MAX_PRICE_MICROS),
        perRequestMicros:
          change.per_request === undefined ? (current?.perRequestMicros ?? 0) : parseAmount(change.per_request, 'per_request', MAX_PRICE_MICROS),
      }
      await repo.upsertPrice(row, new Date(clock.now()))
      await changed()
      return priceView(row)
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
