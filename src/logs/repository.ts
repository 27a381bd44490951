import { and, asc, count, desc, eq, gte, inArray, lt, lte, sql, sum, type SQL } from 'drizzle-orm'
import { affectedRows, type Database } from '../db/client.js'

export type UsageLogRow = Database['t']['usageLogs']['$inferSelect']

export interface LogFilter {
  userId?: number
  tokenId?: number
  channelId?: number
  model?: string
  /** Inclusive bounds on created_at. */
  from?: Date
  to?: Date
}

export interface StatsFilter {
  userId?: number
  from?: Date
  to?: Date
}

export interface ModelStats {
  model: string
  requests: number
  prompt_tokens: number
  completion_tokens: number
  quota: number
}

export interface DayStats {
  /** YYYY-MM-DD, UTC */
  date: string
  requests: number
  prompt_tokens: number
  completion_tokens: number
  quota: number
}

export interface Stats {
  requests: number
  prompt_tokens: number
  completion_tokens: number
  quota: number
  by_model: ModelStats[]
  by_day: DayStats[]
}

/** Reads of the usage ledger. Its rows are written by the billing settlement only. */
export function createLogsRepository(database: Database) {
  const { db, t } = database
  const logs = t.usageLogs

  // Aggregates come back as strings from MySQL (DECIMAL sums) and numbers from SQLite.
  const num = (value: unknown): number => Number(value ?? 0)

  // The UTC day of a row: SQLite keeps epoch ms, MySQL a UTC DATETIME.
  const day: SQL<string> =
    database.dialect === 'sqlite'
      ? sql<string>`strftime('%Y-%m-%d', ${logs.createdAt} / 1000, 'unixepoch')`
      : sql<string>`DATE_FORMAT(${logs.createdAt}, '%Y-%m-%d')`

  function where(filter: LogFilter): SQL | undefined {
    const parts: SQL[] = []
    if (filter.userId !== undefined) parts.push(eq(logs.userId, filter.userId))
    if (filter.tokenId !== undefined) parts.push(eq(logs.tokenId, filter.tokenId))
    if (filter.channelId !== undefined) parts.push(eq(logs.channelId, filter.channelId))
    if (filter.model !== undefined) parts.push(eq(logs.model, filter.model))
    if (filter.from) parts.push(gte(logs.createdAt, filter.from))
    if (filter.to) parts.push(lte(logs.createdAt, filter.to))
    return parts.length > 0 ? and(...parts) : undefined
  }

  return {
    /** Newest first (by id, which follows insertion order). */
    async list(filter: LogFilter, page: { offset: number; limit: number }): Promise<{ rows: UsageLogRow[]; total: number }> {
      const condition = where(filter)
      const [rows, totals] = await Promise.all([
        db.select().from(logs).where(condition).orderBy(desc(logs.createdAt), desc(logs.id)).limit(page.limit).offset(page.offset),
        db.select({ n: count() }).from(logs).where(condition),
      ])
      return { rows, total: num(totals[0]?.n) }
    },

    async stats(filter: StatsFilter): Promise<Stats> {
      const condition = where(filter)
      const requests = count()
      const promptTokens = sum(logs.promptTokens)
      const completionTokens = sum(logs.completionTokens)
      const quota = sum(logs.quota)
      const [totals, byModel, byDay] = await Promise.all([
        db.select({ requests, promptTokens, completionTokens, quota }).from(logs).where(condition),
        db
          .select({ model: logs.model, requests, promptTokens, completionTokens, quota })
          .from(logs)
          .where(condition)
          .groupBy(logs.model)
          .orderBy(logs.model),
        db.select({ date: day, requests, promptTokens, completionTokens, quota }).from(logs).where(condition).groupBy(day).orderBy(day),
      ])
      const total = totals[0]
      return {
        requests: num(total?.requests),
        prompt_tokens: num(total?.promptTokens),
        completion_tokens: num(total?.completionTokens),
        quota: num(total?.quota),
        by_model: byModel.map((row) => ({
          model: row.model,
          requests: num(row.requests),
          prompt_tokens: num(row.promptTokens),
          completion_tokens: num(row.completionTokens),
          quota: num(row.quota),
        })),
        by_day: byDay.map((row) => ({
          date: String(row.date),
          requests: num(row.requests),
          prompt_tokens: num(row.promptTokens),
          completion_tokens: num(row.completionTokens),
          quota: num(row.quota),
        })),
      }
    },

    /**
     * Deletes at most `limit` rows created before `cutoff`, oldest first; returns how many went. One short
     * statement per call (LOG_RETENTION_DAYS), so the ledger is never locked for long.
     */
    async deleteOlderThan(cutoff: Date, limit: number): Promise<number> {
      if (database.dialect === 'mysql') {
        const mt = database.mt.usageLogs
        return affectedRows(await database.mysql.delete(mt).where(lt(mt.createdAt, cutoff)).orderBy(asc(mt.id)).limit(limit))
      }
      // SQLite's DELETE takes no LIMIT unless built with it: the batch is chosen by a subquery on the index.
      const oldest = db.select({ id: logs.id }).from(logs).where(lt(logs.createdAt, cutoff)).orderBy(asc(logs.id)).limit(limit)
      return affectedRows(await database.sqlite.delete(logs).where(inArray(logs.id, oldest)))
    },
  }
}

export type LogsRepository = ReturnType<typeof createLogsRepository>
