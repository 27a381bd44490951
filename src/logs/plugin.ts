import fp from 'fastify-plugin'
import { startSingletonJob, type SingletonJob } from '../infra/singleton-job.js'
import { purgeOldUsageLogs, RETENTION_INTERVAL_MS } from './retention.js'
import { createLogsRepository, type LogFilter, type Stats, type StatsFilter } from './repository.js'
import { usageLogView, type UsageLogView } from './view.js'

export interface LogPage {
  data: UsageLogView[]
  total: number
  page: number
  page_size: number
}

export interface LogsService {
  /** Usage-log rows, newest first; `page` from 1. */
  list(filter: LogFilter, page: number, pageSize: number): Promise<LogPage>
  /** Totals, by model and by UTC day (used by /api/log/stat and the partner API's stats). */
  stats(filter: StatsFilter): Promise<Stats>
}

declare module 'fastify' {
  interface FastifyInstance {
    logs: LogsService
  }
}

export default fp(
  async (app) => {
    const repo = createLogsRepository(app.db)
    const logs: LogsService = {
      async list(filter, page, pageSize) {
        const { rows, total } = await repo.list(filter, { offset: (page - 1) * pageSize, limit: pageSize })
        return { data: rows.map(usageLogView), total, page, page_size: pageSize }
      },
      stats: (filter) => repo.stats(filter),
    }
    app.decorate('logs', logs)

    // LOG_RETENTION_DAYS: old usage-log rows are deleted off the request path, by one instance at a time.
    const days = app.config.logRetentionDays
    if (days !== undefined) {
      let job: SingletonJob | null = null
      app.addHook('onReady', async () => {
        job = startSingletonJob({
          name: 'usage-log-retention',
          cache: app.cache,
          log: app.log,
          intervalMs: RETENTION_INTERVAL_MS,
          runAtStart: true,
          run: async (signal) => {
            await purgeOldUsageLogs({ repo, clock: app.clock, log: app.log, days }, signal)
          },
        })
      })
      app.addHook('onClose', async () => {
        await job?.stop()
      })
    }
  },
  { name: 'logs', dependencies: ['db', 'cache'] },
)
