import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import type { Cache } from '../../src/cache/cache.js'
import { MemoryCache } from '../../src/cache/memory.js'
import { RedisCache } from '../../src/cache/redis.js'
import { createCache } from '../../src/cache/index.js'
import { recordingLogger } from './support.js'

interface Backend {
  name: 'memory' | 'redis'
  make(): Cache
  /** A second instance sharing the same namespace, as another gateway process would. */
  peer?: () => Cache
}

/** The first message on a channel, or a rejection after `ms` so a lost message fails instead of hanging. */
function nextMessage(cache: Cache, channel: string, ms = 2_000): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no message on ${channel} within ${ms} ms`)), ms)
    cache
      .subscribe(channel, (message) => {
        clearTimeout(timer)
        resolve(message)
      })
      .catch(reject)
  })
}

/** Every backend must give the same answers to the same calls. */
function cacheSuite(t: Test, backend: Backend): void {
  const cache = backend.make()
  t.teardown(() => cache.close())

  t.test('kind names the backend', async (t) => {
    t.equal(cache.kind, backend.name)
  })

  t.test('get of an absent key is null', async (t) => {
    t.equal(await cache.get('absent'), null)
  })

  t.test('set then get returns the value, and set overwrites', async (t) => {
    await cache.set('greeting', 'hello')
    t.equal(await cache.get('greeting'), 'hello')
    await cache.set('greeting', 'bonjour')
    t.equal(await cache.get('greeting'), 'bonjour')
  })

  t.test('a value set with a TTL is gone after it', async (t) => {
    await cache.set('short', 'v', 60)
    t.equal(await cache.get('short'), 'v')
    await sleep(120)
    t.equal(await cache.get('short'), null)
  })

  t.test('set without a TTL clears an earlier expiry', async (t) => {
    await cache.set('sticky', 'a', 60)
    await cache.set('sticky', 'b')
    await sleep(120)
    t.equal(await cache.get('sticky'), 'b')
    t.equal(await cache.ttl('sticky'), -1)
  })

  t.test('a TTL that Redis would refuse is rejected', async (t) => {
    await t.rejects(cache.set('bad-ttl', 'v', 0), RangeError)
    await t.rejects(cache.setIfAbsent('bad-ttl', 'v', -5), RangeError)
  })

  t.test('setIfAbsent stores once, refuses while present, stores again after expiry', async (t) => {
    t.equal(await cache.setIfAbsent('nonce', 'first', 80), true)
    t.equal(await cache.setIfAbsent('nonce', 'second', 80), false)
    t.equal(await cache.get('nonce'), 'first')
    await sleep(150)
    t.equal(await cache.setIfAbsent('nonce', 'third', 80), true)
    t.equal(await cache.get('nonce'), 'third')
  })

  t.test('del removes several keys at once and ignores absent ones', async (t) => {
    await Promise.all([cache.set('d1', '1'), cache.set('d2', '2'), cache.set('d3', '3')])
    await cache.del('d1', 'd2', 'never-set')
    t.equal(await cache.get('d1'), null)
    t.equal(await cache.get('d2'), null)
    t.equal(await cache.get('d3'), '3')
    await cache.del()
    t.equal(await cache.get('d3'), '3')
  })

  t.test('incr creates the counter at the step and adds to it', async (t) => {
    t.equal(await cache.incr('count'), 1)
    t.equal(await cache.incr('count'), 2)
    t.equal(await cache.incr('count', 5), 7)
    t.equal(await cache.incr('count-by', 10), 10)
    t.equal(await cache.get('count'), '7')
  })

  t.test('incr sets the TTL on creation only (fixed window)', async (t) => {
    t.equal(await cache.incr('window', 1, 300), 1)
    const first = await cache.ttl('window')
    t.ok(first > 200 && first <= 300, `ttl right after creation is ${first}`)
    await sleep(120)
    t.equal(await cache.incr('window', 1, 300), 2)
    const later = await cache.ttl('window')
    t.ok(later > 0 && later <= 300 - 100, `a later incr did not extend the window (ttl ${later})`)
    await sleep(later + 60)
    t.equal(await cache.incr('window', 1, 300), 1, 'a new window starts after expiry')
  })

  t.test('incr of a non-integer value rejects', async (t) => {
    await cache.set('text', 'abc')
    await t.rejects(cache.incr('text'))
    t.equal(await cache.get('text'), 'abc')
  })

  t.test('100 concurrent incr calls count to exactly 100', async (t) => {
    const results = await Promise.all(Array.from({ length: 100 }, () => cache.incr('parallel')))
    t.same([...results].sort((a, b) => a - b), Array.from({ length: 100 }, (_, i) => i + 1))
    t.equal(await cache.get('parallel'), '100')
  })

  t.test('ttl is -2 when absent, -1 without expiry, remaining ms otherwise', async (t) => {
    t.equal(await cache.ttl('ttl-absent'), -2)
    await cache.set('ttl-forever', 'v')
    t.equal(await cache.ttl('ttl-forever'), -1)
    await cache.set('ttl-timed', 'v', 5_000)
    const left = await cache.ttl('ttl-timed')
    t.ok(left > 4_000 && left <= 5_000, `remaining ${left}`)
    await cache.set('ttl-gone', 'v', 50)
    await sleep(100)
    t.equal(await cache.ttl('ttl-gone'), -2)
  })

  t.test('publish reaches a subscriber on the same instance', async (t) => {
    const received = nextMessage(cache, 'invalidate-self')
    await sleep(20)
    await cache.publish('invalidate-self', 'token:42')
    t.equal(await received, 'token:42')
  })

  t.test('publish never runs subscribers inside the publish call', async (t) => {
    let called = false
    await cache.subscribe('invalidate-async', () => {
      called = true
    })
    const published = cache.publish('invalidate-async', 'x')
    t.equal(called, false)
    await published
  })

  t.test('a throwing subscriber does not stop the others', async (t) => {
    await cache.subscribe('invalidate-many', () => {
      throw new Error('subscriber bug')
    })
    const received = nextMessage(cache, 'invalidate-many')
    await cache.publish('invalidate-many', 'still delivered')
    t.equal(await received, 'still delivered')
  })

  const makePeer = backend.peer
  if (makePeer) {
    t.test('publish reaches a subscriber on another instance with the same prefix', async (t) => {
      const peer = makePeer()
      t.teardown(() => peer.close())
      const received = nextMessage(peer, 'invalidate-peer')
      await sleep(50)
      await cache.publish('invalidate-peer', 'user:7')
      t.equal(await received, 'user:7')
    })
  }

  t.test('ping is true', async (t) => {
    t.equal(await cache.ping(), true)
  })
}

t.test('memory: the sweep frees expired keys nobody reads again', async (t) => {
  const cache = new MemoryCache({ sweepIntervalMs: 20 })
  t.teardown(() => cache.close())
  await cache.set('forgotten-1', 'v', 30)
  await cache.set('forgotten-2', 'v', 30)
  await cache.set('kept', 'v')
  t.equal(cache.size, 3)
  await sleep(100)
  t.equal(cache.size, 1)
})

const redisUrl = process.env.TEST_REDIS_URL
t.comment(redisUrl ? 'cache suite: memory + redis' : 'cache suite: memory only')

t.test('memory', async (t) => {
  cacheSuite(t, { name: 'memory', make: () => new MemoryCache() })
})

if (redisUrl) {
  t.test('redis', async (t) => {
    const prefix = `nexus-test-${randomBytes(6).toString('hex')}:`
    const logger = recordingLogger()
    t.teardown(async () => {
      // Leave the shared Redis as we found it.
      const admin = new Redis(redisUrl)
      const keys = await admin.keys(`${prefix}*`)
      if (keys.length > 0) await admin.del(...keys)
      await admin.quit()
    })
    cacheSuite(t, {
      name: 'redis',
      make: () => new RedisCache({ url: redisUrl, prefix, logger }),
      peer: () => new RedisCache({ url: redisUrl, prefix, logger }),
    })
  })
}

t.test('createCache picks memory without a url and redis with one', async (t) => {
  const logger = recordingLogger()
  const memory = createCache({ logger })
  t.equal(memory.kind, 'memory')
  await memory.close()
  // Port 1 refuses at once: choosing the backend must not depend on reaching it.
  const redis = createCache({ url: 'redis://127.0.0.1:1/0', logger })
  t.equal(redis.kind, 'redis')
  await redis.close()
})
