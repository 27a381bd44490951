import { eq } from 'drizzle-orm'
import { Redis } from 'ioredis'
import t from 'tap'
import { CacheUnavailableError, type Cache } from '../../src/cache/cache.js'
import { MemoryCache } from '../../src/cache/memory.js'
import { ManualClock } from '../../src/clock.js'
import { ApiError } from '../../src/errors.js'
import { INVALIDATE } from '../../src/relay/seams.js'
import { generateRelayKey, hashRelayKey } from '../../src/security/secrets.js'
import { CachedRelayKeys } from '../../src/tokens/relay-keys.js'
import { createTokensRepository, type TokensRepository } from '../../src/tokens/repository.js'
import { backends } from '../support/backends.js'
import { buildApp, type TestApp } from '../support/build-app.js'
import { eventually, makeToken, makeUser } from './support.js'

const IP = '203.0.113.7'

/** The repository with its one relay read counted: the spy the DB-read assertions rest on. */
function countingRepo(repo: TokensRepository): { repo: TokensRepository; reads: () => number } {
  let reads = 0
  return {
    repo: {
      ...repo,
      async findByKeyHash(keyHash: string) {
        reads += 1
        return repo.findByKeyHash(keyHash)
      },
    },
    reads: () => reads,
  }
}

/** The code `authenticate` refuses with, or 'ok'. */
async function outcome(keys: CachedRelayKeys, key: string): Promise<string> {
  try {
    await keys.authenticate(`Bearer ${key}`, IP)
    return 'ok'
  } catch (err) {
    if (err instanceof ApiError) return err.code ?? String(err.statusCode)
    throw err
  }
}

for (const backend of backends()) {
  t.test(backend.name, async (t) => {
    const clock = new ManualClock(Date.parse('2025-03-01T00:00:00Z'))
    const built = await buildApp(t, backend, { clock, env: { NEW_USER_QUOTA: '1000000' } })
    const { app } = built
    const owner = await makeUser(app, 'tiers')
    // The shared tier of a deployment: the app's Redis (with its test prefix), or one memory cache that
    // several instances in this process are given — either way, what `app.cache` is to each instance.
    const sharedCache: Cache = backend.name === 'mysql+redis' ? app.cache : new MemoryCache()
    t.teardown(() => (sharedCache === app.cache ? undefined : sharedCache.close()))

    /** One more gateway instance's key cache: its own memory, the deployment's shared tier and database. */
    async function instance(t: { teardown(fn: () => unknown): void }, cache: Cache = sharedCache) {
      const counted = countingRepo(createTokensRepository(app.db))
      const keys = new CachedRelayKeys({ repo: counted.repo, cache, clock, log: app.log })
      await keys.subscribe()
      t.teardown(() => keys.close())
      return { keys, reads: counted.reads }
    }

    t.test('a cold second instance serves a key the first one loaded, without a database read', async (t) => {
      const token = await makeToken(app, owner.headers)
      const first = await instance(t)
      const second = await instance(t)
      t.equal(await outcome(first.keys, token.key), 'ok')
      t.equal(first.reads(), 1, 'the first instance read the database once')
      t.equal(await outcome(second.keys, token.key), 'ok')
      t.equal(second.reads(), 0, 'the second read the shared tier, not the database')
      t.equal(second.keys.stats.sharedHits, 1)
      t.equal(await outcome(second.keys, token.key), 'ok')
      t.equal(second.keys.stats.memoryHits, 1, 'then its own memory')
      t.equal(first.reads() + second.reads(), 1)
    })

    t.test('50 concurrent requests with a cold key cause one database read', async (t) => {
      const token = await makeToken(app, owner.headers)
      const one = await instance(t)
      const results = await Promise.all(Array.from({ length: 50 }, () => outcome(one.keys, token.key)))
      t.same(new Set(results), new Set(['ok']))
      t.equal(one.reads(), 1)
    })

    t.test('cold on three instances at once, shared tier cold too: one database read between them', async (t) => {
      const token = await makeToken(app, owner.headers)
      const fleet = [await instance(t), await instance(t), await instance(t)]
      const results = await Promise.all(fleet.flatMap((member) => Array.from({ length: 20 }, () => outcome(member.keys, token.key))))
      t.equal(results.filter((r) => r === 'ok').length, 60)
      t.equal(fleet.reduce((sum, member) => sum + member.reads(), 0), 1, 'one instance read; the others waited for its record')
    })

    t.test('an expired entry is reloaded by one instance; the others take its record', async (t) => {
      const token = await makeToken(app, owner.headers)
      const fleet = [await instance(t), await instance(t), await instance(t)]
      for (const member of fleet) t.equal(await outcome(member.keys, token.key), 'ok')
      t.equal(fleet.reduce((sum, member) => sum + member.reads(), 0), 1)
      clock.advance(61_000) // past every tier's lifetime
      const results = await Promise.all(fleet.flatMap((member) => Array.from({ length: 10 }, () => outcome(member.keys, token.key))))
      t.equal(results.filter((r) => r === 'ok').length, 30)
      t.equal(fleet.reduce((sum, member) => sum + member.reads(), 0), 2, 'one more read for the whole fleet')
    })

    t.test('near expiry a hot key is refreshed in the background, once for the fleet; requests never wait', async (t) => {
      const token = await makeToken(app, owner.headers)
      const [a, b] = [await instance(t), await instance(t)]
      t.equal(await outcome(a.keys, token.key), 'ok')
      t.equal(await outcome(b.keys, token.key), 'ok')
      clock.advance(56_000) // in the last 6 s of the entry's life
      t.equal(await outcome(a.keys, token.key), 'ok', 'answered from memory while the refresh runs')
      t.ok(await eventually(async () => a.keys.sizes().loading === 0))
      t.equal(a.reads(), 2, 'a re-read the database')
      t.equal(await outcome(b.keys, token.key), 'ok')
      t.ok(await eventually(async () => b.keys.sizes().loading === 0))
      t.equal(b.reads(), 0, "b's refresh took a's newer record")
      clock.advance(30_000) // the old entries would have expired; the refreshed ones have not
      const before = a.reads() + b.reads()
      t.equal(await outcome(a.keys, token.key), 'ok')
      t.equal(await outcome(b.keys, token.key), 'ok')
      t.equal(a.reads() + b.reads(), before, 'no read: both hold the refreshed entry')
    })

    t.test('an invalidation drops both tiers on every instance within 1 s', async (t) => {
      const token = await makeToken(app, owner.headers)
      const [a, b] = [await instance(t), await instance(t)]
      t.equal(await outcome(a.keys, token.key), 'ok')
      t.equal(await outcome(b.keys, token.key), 'ok')
      // Changed behind the caches' back, then announced the way every service announces it.
      await app.db.db.update(app.db.t.tokens).set({ status: 'disabled' }).where(eq(app.db.t.tokens.id, token.id))
      const started = Date.now()
      await sharedCache.publish(INVALIDATE.token, String(token.id))
      t.ok(await eventually(async () => (await outcome(a.keys, token.key)) === 'token_disabled' && (await outcome(b.keys, token.key)) === 'token_disabled'),
        `both refused after ${Date.now() - started} ms`)
      const cold = await instance(t)
      t.equal(await outcome(cold.keys, token.key), 'token_disabled', 'a cold instance finds no stale shared record')

      const user = await makeUser(app, 'tiers-user')
      const theirs = await makeToken(app, user.headers)
      t.equal(await outcome(a.keys, theirs.key), 'ok')
      t.equal(await outcome(b.keys, theirs.key), 'ok')
      await app.db.db.update(app.db.t.users).set({ status: 'disabled' }).where(eq(app.db.t.users.id, user.id))
      await sharedCache.publish(INVALIDATE.user, String(user.id))
      t.ok(await eventually(async () => (await outcome(a.keys, theirs.key)) === 'user_disabled' && (await outcome(b.keys, theirs.key)) === 'user_disabled'))
      t.equal(await outcome((await instance(t)).keys, theirs.key), 'user_disabled')
    })

    t.test('unknown keys: refused, never shared, remembered briefly and in bounded number', async (t) => {
      const one = await instance(t)
      const sharedBefore = await sharedRecordCount(built, sharedCache)
      const spray = Array.from({ length: 1_500 }, () => generateRelayKey())
      for (let i = 0; i < spray.length; i += 100) {
        const results = await Promise.all(spray.slice(i, i + 100).map((key) => outcome(one.keys, key)))
        if (results.some((r) => r !== 'invalid_api_key')) t.fail('a random key was let in')
      }
      t.equal(one.reads(), spray.length, 'each distinct key costs one read')
      t.ok(one.keys.sizes().unknown <= 1_000, `unknown keys held: ${one.keys.sizes().unknown}`)
      t.equal(one.keys.sizes().entries, 0)
      t.equal(one.keys.sizes().loading, 0)
      t.ok(await eventually(async () => (await sharedRecordCount(built, sharedCache)) === sharedBefore), 'nothing left in the shared tier')

      const retried = spray.at(-1)!
      const reads = one.reads()
      for (let i = 0; i < 20; i++) t.equal(await outcome(one.keys, retried), 'invalid_api_key')
      t.equal(one.reads(), reads, 'a key retried in a loop is refused from memory')
      t.ok(one.keys.stats.unknownHits >= 20)
    })

    t.test('a key refused a moment ago works as soon as its token exists (creation invalidates)', async (t) => {
      const one = await instance(t)
      const key = generateRelayKey()
      t.equal(await outcome(one.keys, key), 'invalid_api_key')
      const now = new Date(clock.now())
      await app.db.db.insert(app.db.t.tokens).values({
        userId: owner.id, name: 'late', keyHash: hashRelayKey(key), keyMask: 'sk-la...late', status: 'enabled',
        expiresAt: null, unlimitedQuota: true, remainQuota: 0, models: [], allowIps: [], group: null,
        rateLimitRpm: null, createdAt: now, updatedAt: now,
      })
      await sharedCache.publish(INVALIDATE.token, '0')
      t.ok(await eventually(async () => (await outcome(one.keys, key)) === 'ok'))
    })

    t.test('nothing in the shared tier holds a key: only its hash, in record names', async (t) => {
      const token = await makeToken(app, owner.headers)
      const one = await instance(t)
      t.equal(await outcome(one.keys, token.key), 'ok')
      const dump = await sharedDump(built, sharedCache)
      t.ok(dump.some(([name]) => name.includes(hashRelayKey(token.key))), 'the record is there, by hash')
      t.notOk(dump.some(([name, value]) => name.includes(token.key) || value.includes(token.key) || value.includes(token.key.slice(3))))
    })

    t.test('the shared tier down: keys are still served, from the database', async (t) => {
      const token = await makeToken(app, owner.headers)
      const down = brokenCache()
      const one = await instance(t, down)
      t.equal(await outcome(one.keys, token.key), 'ok')
      t.equal(one.reads(), 1)
      t.equal(await outcome(one.keys, token.key), 'ok')
      t.equal(one.reads(), 1, 'and kept in memory')
      t.ok(one.keys.stats.sharedErrors > 0)
    })

    if (backend.name === 'mysql+redis') {
      t.test('two apps on one MySQL + Redis: the cold one serves a key the other loaded, without a database read', async (t) => {
        const second = await buildApp(t, backend, { clock, share: built })
        const token = await makeToken(app, owner.headers)
        const keysA = app.relayKeys as CachedRelayKeys
        const keysB = second.app.relayKeys as CachedRelayKeys
        await keysA.authenticate(`Bearer ${token.key}`, IP)
        // Creating the token announced it (INVALIDATE.token): for 2 s every instance reads its records from the
        // database rather than trust the shared tier. Past that, B is just a cold instance.
        await new Promise((resolve) => setTimeout(resolve, 2_100))
        const readsB = keysB.stats.databaseReads
        const principal = await keysB.authenticate(`Bearer ${token.key}`, IP)
        t.equal(principal.token.id, token.id)
        t.equal(keysB.stats.databaseReads, readsB, 'no database read on B')
        t.equal(keysB.stats.sharedHits, 1)

        const patched = await second.app.inject({ method: 'PATCH', url: `/api/token/${token.id}`, headers: owner.headers, payload: { status: 'disabled' } })
        t.equal(patched.statusCode, 200)
        t.ok(await eventually(async () => (await outcome(keysA, token.key)) === 'token_disabled' && (await outcome(keysB, token.key)) === 'token_disabled'),
          'a change made on B reaches A (both tiers) within 1 s')
      })
    }
  })
}

/** Every shared-tier record as [name, value]. */
async function sharedDump(built: TestApp, cache: Cache): Promise<[string, string][]> {
  if (cache instanceof MemoryCache) {
    const entries = (cache as unknown as { entries: Map<string, { value: string }> }).entries
    return [...entries].filter(([name]) => name.startsWith('relay-key:')).map(([name, entry]) => [name, entry.value])
  }
  const redis = new Redis(built.provisioned.redisUrl!)
  try {
    const names = await redis.keys(`${built.provisioned.cachePrefix}relay-key:*`)
    const values = names.length === 0 ? [] : await redis.mget(...names)
    return names.map((name, i) => [name, values[i] ?? ''])
  } finally {
    redis.disconnect()
  }
}

async function sharedRecordCount(built: TestApp, cache: Cache): Promise<number> {
  return (await sharedDump(built, cache)).length
}

/** A cache whose every command fails, as RedisCache's do while Redis is down. */
function brokenCache(): Cache {
  const fail = async (): Promise<never> => {
    throw new CacheUnavailableError(new Error('connection refused'))
  }
  return {
    kind: 'redis',
    get: fail,
    set: fail,
    setIfAbsent: fail,
    del: fail,
    incr: fail,
    ttl: fail,
    publish: fail,
    subscribe: async () => {},
    ping: async () => false,
    close: async () => {},
  }
}
