import t from 'tap'
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { RedisCache } from '../../src/cache/redis.js'
import { TcpFaultProxy } from '../support/tcp-fault-proxy.js'
import { recordingLogger } from './support.js'

const redisUrl = process.env.TEST_REDIS_URL

/** Polls until `check` is true or `ms` pass; returns how long it took, or null. */
async function within(ms: number, check: () => Promise<boolean>): Promise<number | null> {
  const start = Date.now()
  while (Date.now() - start < ms) {
    if (await check()) return Date.now() - start
    await sleep(100)
  }
  return null
}

if (!redisUrl) {
  t.comment('redis outage test skipped: TEST_REDIS_URL is not set')
  t.pass('skipped without Redis')
} else {
  const target = new URL(redisUrl)
  const proxy = new TcpFaultProxy({ host: target.hostname, port: Number(target.port || 6379) })
  const prefix = `nexus-test-${randomBytes(6).toString('hex')}:`
  const logger = recordingLogger()
  let uncaught = 0
  // Observes without swallowing: tap still fails on an uncaught exception, this makes it explicit.
  const countUncaught = (): void => void uncaught++
  process.on('uncaughtExceptionMonitor', countUncaught)

  let cache: RedisCache
  const viaProxy = (): string => {
    const url = new URL(redisUrl)
    url.hostname = '127.0.0.1'
    url.port = String(proxy.port)
    return url.toString()
  }

  t.before(async () => {
    await proxy.up()
    cache = new RedisCache({ url: viaProxy(), prefix, logger })
  })

  t.teardown(async () => {
    process.off('uncaughtExceptionMonitor', countUncaught)
    await cache.close()
    await proxy.down().catch(() => {})
    const admin = new Redis(redisUrl)
    const keys = await admin.keys(`${prefix}*`)
    if (keys.length > 0) await admin.del(...keys)
    await admin.quit()
  })

  let invalidations: string[] = []

  t.test('works through the proxy', async (t) => {
    await cache.subscribe('invalidate', (message) => void invalidations.push(message))
    await cache.set('before', 'up')
    t.equal(await cache.get('before'), 'up')
    t.equal(await cache.ping(), true)
  })

  t.test('while Redis is down ping is false within a second', async (t) => {
    await proxy.down()
    const start = Date.now()
    t.equal(await cache.ping(), false)
    t.ok(Date.now() - start < 1_000, `ping answered in ${Date.now() - start} ms`)
  })

  t.test('while Redis is down get rejects instead of hanging', async (t) => {
    const start = Date.now()
    await t.rejects(cache.get('before'))
    t.ok(Date.now() - start < 1_000, `get failed in ${Date.now() - start} ms`)
    await t.rejects(cache.incr('counter'))
    await t.rejects(cache.publish('invalidate', 'lost'))
  })

  t.test('an outage is logged once per connection, however long it lasts', async (t) => {
    await sleep(1_500) // several reconnect attempts fail meanwhile
    await t.rejects(cache.set('during', 'x'))
    const outages = logger.entries.filter((e) => e.level === 'error' && e.msg?.startsWith('redis unavailable'))
    t.equal(outages.length, 2, 'one for the command connection, one for the subscriber')
    t.notOk(JSON.stringify(logger.entries).includes(String(proxy.port) + '/'), 'the url is not logged')
  })

  t.test('a cache created while Redis is down does not throw and reports not ready', async (t) => {
    const late = new RedisCache({ url: viaProxy(), prefix, logger: recordingLogger() })
    t.teardown(() => late.close())
    t.equal(await late.ping(), false)
    await t.rejects(late.get('before'))
  })

  t.test('after recovery ping becomes true within a few seconds and commands work', async (t) => {
    await proxy.up()
    const took = await within(5_000, () => cache.ping())
    t.not(took, null, `ping recovered after ${took} ms`)
    await cache.set('after', 'back')
    t.equal(await cache.get('after'), 'back')
    t.equal(await cache.get('before'), 'up')
    const recovered = logger.entries.filter((e) => e.level === 'info' && e.msg === 'redis recovered')
    t.ok(recovered.length >= 1, 'recovery was logged')
  })

  t.test('subscriptions survive the outage', async (t) => {
    invalidations = []
    const delivered = await within(4_000, async () => {
      await cache.publish('invalidate', 'token:1')
      await sleep(50)
      return invalidations.includes('token:1')
    })
    t.not(delivered, null, 'a message published after recovery reached the subscriber')
  })

  t.test('nothing escaped as an uncaught exception', async (t) => {
    t.equal(uncaught, 0)
  })
}
