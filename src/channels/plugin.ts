import fp from 'fastify-plugin'
import { randomUUID } from 'node:crypto'
import { Gauge } from 'prom-client'
import { startSingletonJob, type SingletonJob } from '../infra/singleton-job.js'
import { INVALIDATE, type ChannelPool } from '../relay/seams.js'
import { createSecretBox } from '../security/secrets.js'
import { CIRCUIT_GAUGE, circuitSettings } from './circuit.js'
import { MemoryChannelPool } from './pool.js'
import { probeDisabledChannels } from './probe-disabled.js'
import { createChannelsRepository } from './repository.js'
import { createChannelsService, type ChannelsService } from './service.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The relay's in-memory routing table (enabled channels, keys decrypted). */
    channelPool: ChannelPool
    /** Channel management (admin routes). */
    channels: ChannelsService
  }
}

export default fp(
  async (app) => {
    const secret = app.config.encryptionKey
    if (!secret) throw new Error('ENCRYPTION_KEY missing: withGeneratedSecrets() must run before the app is built')
    const box = createSecretBox(secret)
    const repo = createChannelsRepository(app.db)
    const pool = new MemoryChannelPool({
      repo,
      box,
      cache: app.cache,
      clock: app.clock,
      log: app.log,
      circuit: circuitSettings(app.config),
      instanceId: randomUUID(),
    })

    await pool.start()
    // Every instance, this one included, rebuilds when any instance changes a channel.
    await app.cache.subscribe(INVALIDATE.channels, () => pool.scheduleReload())

    app.decorate('channelPool', pool)
    // Models a channel names are known: their names may be metric labels.
    app.metrics.addModelSource((model) => pool.knowsModel(model))
    const service = createChannelsService({ repo, pool, box, clock: app.clock, upstream: app.upstream })
    app.decorate('channels', service)

    // One series per routable channel, read at scrape time: the label set is the channel ids, nothing a client sends.
    new Gauge({
      name: 'nexus_channel_circuit_state',
      help: 'Circuit breaker state per channel: 0 closed, 1 open, 2 half_open',
      labelNames: ['channel'],
      registers: [app.metrics.registry],
      collect() {
        this.reset()
        for (const id of pool.channelIds()) this.set({ channel: String(id) }, CIRCUIT_GAUGE[pool.circuitState(id)])
      },
    })

    // CHANNEL_PROBE_INTERVAL_S: auto-disabled channels are re-tested (and re-enabled when they pass); 0 = never.
    let probe: SingletonJob | null = null
    const intervalS = app.config.channelProbeIntervalS
    if (intervalS > 0) {
      app.addHook('onReady', async () => {
        probe = startSingletonJob({
          name: 'probe-disabled-channels',
          cache: app.cache,
          log: app.log,
          intervalMs: intervalS * 1000,
          runAtStart: false,
          run: async (signal) => {
            await probeDisabledChannels({ repo, service, log: app.log }, signal)
          },
        })
      })
    }
    app.addHook('onClose', async () => {
      await probe?.stop()
      await pool.close()
    })
  },
  { name: 'channels', dependencies: ['db', 'cache', 'upstream', 'metrics'] },
)
