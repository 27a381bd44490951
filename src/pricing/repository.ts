import { count, eq, sql } from 'drizzle-orm'
import type { Database } from '../db/client.js'
import type { ModelPrice } from '../billing/cost.js'

export interface PriceRow extends ModelPrice {
  model: string
}

export interface GroupRatioRow {
  name: string
  /** ratio × 1e6 */
  ratioMicros: number
}

/** Prices and group ratios: plain rows, money already in integers (micro-USD, millionths). */
export function createPricingRepository(database: Database) {
  const { db, t } = database

  return {
    async listPrices(): Promise<PriceRow[]> {
      const rows = await db.select().from(t.prices).orderBy(t.prices.model)
      return rows.map((row) => ({
        model: row.model,
        inputMicrosPer1M: Number(row.inputMicrosPer1M),
        outputMicrosPer1M: Number(row.outputMicrosPer1M),
        perRequestMicros: Number(row.perRequestMicros),
        cacheReadMicrosPer1M: row.cacheReadMicrosPer1M === null ? null : Number(row.cacheReadMicrosPer1M),
        cacheWriteMicrosPer1M: row.cacheWriteMicrosPer1M === null ? null : Number(row.cacheWriteMicrosPer1M),
      }))
    },

    async upsertPrice(price: PriceRow, now: Date): Promise<void> {
      const values = {
        inputMicrosPer1M: price.inputMicrosPer1M,
        outputMicrosPer1M: price.outputMicrosPer1M,
        perRequestMicros: price.perRequestMicros,
        cacheReadMicrosPer1M: price.cacheReadMicrosPer1M ?? null,
        cacheWriteMicrosPer1M: price.cacheWriteMicrosPer1M ?? null,
        updatedAt: now,
      }
      if (database.dialect === 'sqlite') {
        await database.sqlite
          .insert(t.prices)
          .values({ model: price.model, ...values })
          .onConflictDoUpdate({ target: t.prices.model, set: values })
      } else {
        await database.mysql
          .insert(database.mt.prices)
          .values({ model: price.model, ...values })
          .onDuplicateKeyUpdate({ set: values })
      }
    },

    /**
     * The model names enabled channels list or map (wildcard channels name none): the models the gateway serves,
     * whose catalogue prices `GET /api/pricing` shows beside the admin prices.
     */
    async listServedModels(): Promise<string[]> {
      const rows = await db
        .select({ models: t.channels.models, modelMapping: t.channels.modelMapping })
        .from(t.channels)
        .where(eq(t.channels.status, 'enabled'))
      const names = new Set<string>()
      for (const row of rows) {
        for (const model of Array.isArray(row.models) ? row.models : []) if (typeof model === 'string') names.add(model)
        for (const model of Object.keys(row.modelMapping ?? {})) names.add(model)
      }
      return [...names]
    },

    /** True when a row was removed. */
    async deletePrice(model: string): Promise<boolean> {
      const rows = await db.select({ model: t.prices.model }).from(t.prices).where(eq(t.prices.model, model))
      if (rows.length === 0) return false
      await db.delete(t.prices).where(eq(t.prices.model, model))
      return true
    },

    async listGroupRatios(): Promise<GroupRatioRow[]> {
      const rows = await db.select().from(t.groupRatios).orderBy(t.groupRatios.name)
      return rows.map((row) => ({ name: row.name, ratioMicros: Number(row.ratioMicros) }))
    },

    async upsertGroupRatio(row: GroupRatioRow, now: Date): Promise<void> {
      const set = { ratioMicros: row.ratioMicros, updatedAt: now }
      if (database.dialect === 'sqlite') {
        await database.sqlite
          .insert(t.groupRatios)
          .values({ name: row.name, ...set })
          .onConflictDoUpdate({ target: t.groupRatios.name, set })
      } else {
        await database.mysql
          .insert(database.mt.groupRatios)
          .values({ name: row.name, ...set })
          .onDuplicateKeyUpdate({ set })
      }
    },

    async deleteGroupRatio(name: string): Promise<boolean> {
      const rows = await db.select({ name: t.groupRatios.name }).from(t.groupRatios).where(eq(t.groupRatios.name, name))
      if (rows.length === 0) return false
      await db.delete(t.groupRatios).where(eq(t.groupRatios.name, name))
      return true
    },

    /**
     * A database no user was ever created in (deleted users still count): the one moment the
     * starter price list may be written without overriding an admin's choices.
     */
    async isFresh(): Promise<boolean> {
      const rows = await db.select({ n: count() }).from(t.users)
      return Number(rows[0]?.n ?? 0) === 0
    },

    /** Inserts prices for models that have none; existing rows are left alone (two instances may race here). */
    async insertMissingPrices(prices: readonly PriceRow[], now: Date): Promise<void> {
      if (prices.length === 0) return
      const values = prices.map((p) => ({ ...p, updatedAt: now }))
      if (database.dialect === 'sqlite') {
        await database.sqlite.insert(t.prices).values(values).onConflictDoNothing()
      } else {
        const mt = database.mt
        await database.mysql.insert(mt.prices).values(values).onDuplicateKeyUpdate({ set: { model: sql`${mt.prices.model}` } })
      }
    },
  }
}

export type PricingRepository = ReturnType<typeof createPricingRepository>
