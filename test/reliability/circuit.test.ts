// The circuit breaker's state machine (src/channels/circuit.ts) on a real cache — the in-process one, and Redis
// when TEST_REDIS_URL is set — with a clock the test moves, so nothing sleeps through a cool-down.
import { randomBytes } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import { pino } from 'pino'
import t, { type Test } from 'tap'
import { MemoryCache, RedisCache, type Cache } from '../../src/cache/index.js'
import { CircuitBreakers, cooldownFor, type CircuitSettings } from '../../src/channels/circuit.js'
import { ManualClock } from '../../src/clock.js'

const log = pino({ level: 'silent' }) as unknown as FastifyBaseLogger
const SETTINGS: CircuitSettings = { failureThreshold: 3, failureWindowMs: 60_000, cooldownMs: 30_000, maxCooldownMs: 300_000, probeLockMs: 10_000 }

interface Flavour {
  name: string
  /** A fresh namespace; `second()` is another instance's connection to the same one. */
  make(clock: ManualClock): { cache: Cache; second(): Cache }
}

const flavours: Flavour[] = [
  {
    name: 'memory',
    make(clock) {
      // Two instances cannot share an in-process cache; two breakers on one cache stand in for them.
      const cache = new MemoryCache({ now: () => clock.now() })
      return { cache, second: () => cache }
    },
  },
]
const redisUrl = process.env.TEST_REDIS_URL
if (redisUrl) {
  flavours.push({
    name: 'redis',
    make() {
      const prefix = `t-circuit-${randomBytes(4).toString('hex')}:`
      return {
        cache: new RedisCache({ url: redisUrl, prefix, logger: log }),
        second: () => new RedisCache({ url: redisUrl, prefix, logger: log }),
      }
    },
  })
}

/** Lets fire-and-forget cache writes and pub/sub deliveries land. */
async function settle(check: () => boolean = () => true, ms = 2000): Promise<boolean> {
  const until = Date.now() + ms
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 5))
    if (check() || Date.now() > until) return check()
  }
}

t.test('cool-down doubles with each opening and stops at 10× the base', async (t) => {
  t.same([1, 2, 3, 4, 5, 6].map((n) => cooldownFor(n, SETTINGS) / 1000), [30, 60, 120, 240, 300, 300])
})

for (const flavour of flavours) {
  t.test(flavour.name, async (t) => {
    const setup = async (t: Test) => {
      const clock = new ManualClock(1_700_000_000_000)
      const { cache, second } = flavour.make(clock)
      const opened = new Set<Cache>([cache])
      t.teardown(async () => {
        for (const c of opened) await c.close()
      })
      /** Another instance's connection to the same cache. */
      const another = (): Cache => {
        const c = second()
        opened.add(c)
        return c
      }
      const a = new CircuitBreakers({ cache, clock, log, settings: SETTINGS, instanceId: 'A' })
      const b = new CircuitBreakers({ cache: another(), clock, log, settings: SETTINGS, instanceId: 'B' })
      await a.start()
      await b.start()
      return { clock, a, b, another }
    }

    t.test('closed → open after the threshold within the window; 4xx-like neutral outcomes never count', async (t) => {
      const { a } = await setup(t)
      for (let i = 0; i < 5; i++) a.record(7, 'neutral')
      a.record(7, 'failure')
      a.record(7, 'failure')
      await settle()
      t.equal(a.state(7), 'closed', 'two failures: still closed')
      t.ok(a.usable(7))
      a.record(7, 'failure')
      t.ok(await settle(() => a.state(7) === 'open'), 'the third failure opens it')
      t.notOk(a.usable(7), 'an open channel is not offered')
      t.equal(a.admit(7), true, 'but a request sent anyway (every channel open, or pinned) is let through')
      t.equal(a.state(8), 'closed', 'other channels are untouched')
    })

    t.test('the circuit opened on one instance is honoured by the other', async (t) => {
      const { a, b } = await setup(t)
      for (let i = 0; i < 3; i++) a.record(11, 'failure')
      t.ok(await settle(() => b.state(11) === 'open'), 'B learns it from the published transition')
      t.notOk(b.usable(11))
    })

    t.test('an instance that starts later reads the open circuit from the cache', async (t) => {
      const { a, clock, another } = await setup(t)
      for (let i = 0; i < 3; i++) a.record(12, 'failure')
      await settle(() => a.state(12) === 'open')
      const late = new CircuitBreakers({ cache: another(), clock, log, settings: SETTINGS, instanceId: 'C' })
      t.equal(late.state(12), 'closed', 'knows nothing before it syncs')
      await late.sync([12, 13])
      t.equal(late.state(12), 'open')
      t.equal(late.state(13), 'closed')
    })

    t.test('after the cool-down: half-open, exactly one probe across instances; success closes', async (t) => {
      const { a, b, clock } = await setup(t)
      for (let i = 0; i < 3; i++) a.record(21, 'failure')
      await settle(() => a.state(21) === 'open' && b.state(21) === 'open')
      clock.advance(29_999)
      t.equal(a.state(21), 'open')
      clock.advance(1)
      t.equal(a.state(21), 'half_open')
      t.equal(b.state(21), 'half_open')
      t.ok(a.usable(21) && b.usable(21), 'both may try to probe')
      const [first, second] = await Promise.all([a.admit(21), b.admit(21)])
      t.same([first, second].sort(), [false, true], 'one instance gets the probe, the other is refused')
      const prober = first ? a : b
      const waiter = first ? b : a
      t.notOk(prober.usable(21), 'the prober offers it to no second request while its probe runs')
      t.notOk(waiter.usable(21), 'nor does the other instance')
      prober.record(21, 'success')
      t.ok(await settle(() => a.state(21) === 'closed' && b.state(21) === 'closed'), 'closed everywhere')
      t.ok(waiter.usable(21))
    })

    t.test('a failed probe re-opens for twice the cool-down; a neutral one frees the probe', async (t) => {
      const { a, b, clock } = await setup(t)
      for (let i = 0; i < 3; i++) a.record(31, 'failure')
      await settle(() => a.state(31) === 'open')
      clock.advance(30_000)
      t.equal(await a.admit(31), true)
      a.record(31, 'neutral')
      await settle()
      t.ok(a.usable(31), 'a probe that said nothing (a 429, a client who left) frees the channel for the next')
      t.equal(await b.admit(31), true, 'and another instance can take the probe')
      b.record(31, 'failure')
      t.ok(await settle(() => a.state(31) === 'open' && b.state(31) === 'open'), 're-opened everywhere')
      clock.advance(59_999)
      t.equal(a.state(31), 'open', 'the second cool-down is 60 s')
      clock.advance(1)
      t.equal(a.state(31), 'half_open')
      t.equal(await a.admit(31), true)
      a.record(31, 'success')
      await settle(() => a.state(31) === 'closed')
      t.equal(a.state(31), 'closed')
    })

    t.test('a flapping channel keeps its longer cool-down; one healthy for the longest cool-down starts over', async (t) => {
      const { a, clock } = await setup(t)
      const openAndProbeOk = async (): Promise<number> => {
        for (let i = 0; i < 3; i++) a.record(41, 'failure')
        await settle(() => a.state(41) === 'open')
        let waited = 0
        while (a.state(41) === 'open') {
          clock.advance(10_000)
          waited += 10_000
        }
        t.ok(await a.admit(41))
        a.record(41, 'success')
        await settle(() => a.state(41) === 'closed')
        return waited
      }
      t.equal(await openAndProbeOk(), 30_000)
      t.equal(await openAndProbeOk(), 60_000, 'opened again soon after: twice as long')
      clock.advance(SETTINGS.maxCooldownMs)
      t.equal(await openAndProbeOk(), 30_000, 'after the longest cool-down in health: back to the base')
    })

    t.test('failures while open do not extend it; a success from a request sent anyway closes it', async (t) => {
      const { a, clock } = await setup(t)
      for (let i = 0; i < 3; i++) a.record(51, 'failure')
      await settle(() => a.state(51) === 'open')
      for (let i = 0; i < 10; i++) a.record(51, 'failure')
      await settle()
      clock.advance(30_000)
      t.equal(a.state(51), 'half_open', 'the cool-down did not grow')
      a.record(51, 'success')
      t.ok(await settle(() => a.state(51) === 'closed'))
    })
  })
}
