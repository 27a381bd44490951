// Background jobs (usage-log retention, the probe of auto-disabled channels) run on one instance at a time: each
// tick claims a cache lock first; with Redis that holds across instances, in memory within one process.
import { randomBytes } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import { pino } from 'pino'
import t from 'tap'
import { MemoryCache, RedisCache, type Cache } from '../../src/cache/index.js'
import { startSingletonJob } from '../../src/infra/singleton-job.js'

const log = pino({ level: 'silent' }) as unknown as FastifyBaseLogger

const pairs: Array<{ name: string; make(): [Cache, Cache] }> = [
  {
    name: 'memory',
    make() {
      const cache = new MemoryCache()
      return [cache, cache]
    },
  },
]
const redisUrl = process.env.TEST_REDIS_URL
if (redisUrl) {
  pairs.push({
    name: 'redis',
    make() {
      const prefix = `t-job-${randomBytes(4).toString('hex')}:`
      return [new RedisCache({ url: redisUrl, prefix, logger: log }), new RedisCache({ url: redisUrl, prefix, logger: log })]
    },
  })
}

for (const pair of pairs) {
  t.test(pair.name, async (t) => {
    const [a, b] = pair.make()
    t.teardown(async () => {
      await a.close()
      if (b !== a) await b.close()
    })
    let runs = 0
    let release: () => void = () => {}
    const gate = new Promise<void>((resolve) => (release = resolve))
    const job = (cache: Cache) =>
      startSingletonJob({
        name: 'test-job',
        cache,
        log,
        intervalMs: 3_600_000,
        runAtStart: false,
        run: async () => {
          runs += 1
          await gate
        },
      })
    const onA = job(a)
    const onB = job(b)
    t.teardown(async () => {
      release()
      await onA.stop()
      await onB.stop()
    })
    const ticks = [onA.tick(), onB.tick()]
    await new Promise((resolve) => setTimeout(resolve, 50))
    release()
    const claimed = await Promise.all(ticks)
    t.same(claimed.sort(), [false, true], 'one instance ran the tick, the other skipped it')
    t.equal(runs, 1)
    t.equal(await onB.tick(), false, 'the lock is held for about one interval, whoever asks')

    const stopped = startSingletonJob({ name: 'stopped-job', cache: a, log, intervalMs: 3_600_000, runAtStart: false, run: async () => void (runs += 1) })
    await stopped.stop()
    t.equal(await stopped.tick(), false, 'a stopped job never runs again')
    t.equal(runs, 1)
  })
}
