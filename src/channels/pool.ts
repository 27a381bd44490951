import type { FastifyBaseLogger } from 'fastify'
import type { Cache } from '../cache/cache.js'
import type { Clock } from '../clock.js'
import { ChannelIndex } from '../relay/channel-picker.js'
import { INVALIDATE, type ChannelPool, type RelayChannel } from '../relay/seams.js'
import type { SecretBox } from '../security/secrets.js'
import { CircuitBreakers, type CircuitOutcome, type CircuitSettings, type CircuitState } from './circuit.js'
import type { ChannelRow, ChannelsRepository } from './repository.js'

/** Bursts of invalidations (an admin script editing twenty channels) become one reload. */
const RELOAD_COALESCE_MS = 20
/** Response times are written in batches, off the hot path. */
const RESPONSE_TIME_FLUSH_MS = 5_000
/** A lost pub/sub message (Redis briefly down) heals by itself within this time. */
const SAFETY_RELOAD_MS = 60_000

export interface ChannelPoolDeps {
  repo: ChannelsRepository
  box: SecretBox
  cache: Cache
  clock: Clock
  log: FastifyBaseLogger
  circuit: CircuitSettings
  /** Names this instance as the holder of a circuit probe. */
  instanceId: string
}

/**
 * The relay's routing table: every enabled channel with its key decrypted, indexed by group and model.
 * Built from one query, swapped whole on rebuild, so a request sees either the old or the new table.
 */
export class MemoryChannelPool implements ChannelPool {
  private index = new ChannelIndex<RelayChannel>([])
  private byIdMap = new Map<number, RelayChannel>()
  private knownModels = new Set<string>()
  private reloading: Promise<void> | null = null
  private reloadAgain = false
  private reloadTimer: NodeJS.Timeout | null = null
  private readonly responseTimes = new Map<number, number>()
  private readonly flushTimer: NodeJS.Timeout
  private readonly safetyTimer: NodeJS.Timeout
  private closed = false
  private readonly circuits: CircuitBreakers

  constructor(private readonly deps: ChannelPoolDeps) {
    this.circuits = new CircuitBreakers({
      cache: deps.cache,
      clock: deps.clock,
      log: deps.log,
      settings: deps.circuit,
      instanceId: deps.instanceId,
    })
    this.flushTimer = setInterval(() => void this.flushResponseTimes(), RESPONSE_TIME_FLUSH_MS)
    this.flushTimer.unref()
    this.safetyTimer = setInterval(() => {
      this.scheduleReload()
      void this.syncCircuits()
    }, SAFETY_RELOAD_MS)
    this.safetyTimer.unref()
  }

  /**
   * Channels whose circuit is open (or half-open with its probe taken) are left out. When that would leave none,
   * the breaker steps aside for the one whose circuit opened longest ago, the nearest to recovery: a group is
   * never without a channel because of the breaker (README "Operating it").
   */
  candidates(group: string, model: string): readonly RelayChannel[] {
    const all = this.index.candidates(group, model)
    if (all.length === 0 || this.circuits.allClosed()) return all
    const usable = all.filter((channel) => this.circuits.usable(channel.id))
    if (usable.length === all.length) return all
    if (usable.length > 0) return usable
    let oldest = all[0] as RelayChannel
    for (const channel of all) {
      if (this.circuits.openedAt(channel.id) < this.circuits.openedAt(oldest.id)) oldest = channel
    }
    return [oldest]
  }

  /** Right before a request goes to the channel: false only for a half-open channel whose one probe is taken. */
  admit(id: number): boolean | Promise<boolean> {
    return id > 0 ? this.circuits.admit(id) : true
  }

  /** What an attempt said about the channel's health (CONTRACT §6: never the client's or the gateway's errors). */
  recordOutcome(id: number, outcome: CircuitOutcome): void {
    if (id > 0) this.circuits.record(id, outcome)
  }

  circuitState(id: number): CircuitState {
    return this.circuits.state(id)
  }

  /** Ids of the routable channels (the circuit gauge's label set). */
  channelIds(): IterableIterator<number> {
    return this.byIdMap.keys()
  }

  /** Loads the table, subscribes to other instances' circuit transitions and reads the circuits they opened. */
  async start(): Promise<void> {
    await this.circuits.start()
    await this.reload()
    await this.syncCircuits()
  }

  /** Circuits are shared by pub/sub; this catches up on any transition missed (Redis briefly down). */
  private async syncCircuits(): Promise<void> {
    try {
      await this.circuits.sync([...this.byIdMap.keys()])
    } catch (err) {
      this.deps.log.warn({ err }, 'cannot read channel circuits')
    }
  }

  byId(id: number): RelayChannel | undefined {
    return this.byIdMap.get(id)
  }

  modelsForGroup(group: string): string[] {
    return this.index.modelsForGroup(group)
  }

  /** True when an enabled channel lists the model or maps it (`model_mapping` key); wildcard channels name none. */
  knowsModel(model: string): boolean {
    return this.knownModels.has(model)
  }

  async autoDisable(id: number, reason: string): Promise<void> {
    const channel = await this.deps.repo.findById(id)
    if (!channel || channel.status !== 'enabled') return
    await this.deps.repo.update(id, {
      status: 'auto_disabled',
      statusReason: reason.slice(0, 512),
      updatedAt: new Date(this.deps.clock.now()),
    })
    this.deps.log.warn({ channel_id: id, reason }, 'channel auto-disabled')
    await this.changed(id)
  }

  recordResponseTime(id: number, ms: number): void {
    this.responseTimes.set(id, Math.max(0, Math.round(ms)))
  }

  /** After a write: rebuild here at once (the admin's next call sees it), and tell every other instance. */
  async changed(id: number): Promise<void> {
    await this.reload()
    try {
      await this.deps.cache.publish(INVALIDATE.channels, String(id))
    } catch (err) {
      // Other instances catch up on their safety reload.
      this.deps.log.error({ err }, 'cannot publish channel invalidation')
    }
  }

  /** Debounced: an invalidation message lands here. */
  scheduleReload(): void {
    if (this.closed || this.reloadTimer) return
    this.reloadTimer = setTimeout(() => {
      this.reloadTimer = null
      this.reload().catch((err: unknown) => this.deps.log.error({ err }, 'channel pool reload failed'))
    }, RELOAD_COALESCE_MS)
    this.reloadTimer.unref()
  }

  /** One query; a reload asked for while one runs runs once more after it, never in parallel. */
  async reload(): Promise<void> {
    if (this.reloading) {
      this.reloadAgain = true
      return this.reloading
    }
    this.reloading = (async () => {
      try {
        do {
          this.reloadAgain = false
          this.rebuild(await this.deps.repo.listEnabled())
        } while (this.reloadAgain)
      } finally {
        this.reloading = null
      }
    })()
    return this.reloading
  }

  async close(): Promise<void> {
    this.closed = true
    clearInterval(this.flushTimer)
    clearInterval(this.safetyTimer)
    if (this.reloadTimer) clearTimeout(this.reloadTimer)
    await this.reloading?.catch(() => {})
    await this.flushResponseTimes()
  }

  private rebuild(rows: ChannelRow[]): void {
    const channels: RelayChannel[] = []
    for (const row of rows) {
      const channel = this.toRelayChannel(row)
      if (channel) channels.push(channel)
    }
    this.index = new ChannelIndex(channels)
    this.byIdMap = new Map(channels.map((c) => [c.id, c]))
    this.knownModels = namedModels(channels)
  }

  private toRelayChannel(row: ChannelRow): RelayChannel | undefined {
    let key: string
    try {
      key = this.deps.box.decrypt(row.keyEncrypted)
    } catch (err) {
      // Wrong ENCRYPTION_KEY or a tampered row: the channel cannot be used, the rest can.
      this.deps.log.error({ channel_id: row.id, err: { message: (err as Error).message } }, 'cannot decrypt channel key; channel skipped')
      return undefined
    }
    return {
      id: row.id,
      type: row.type,
      name: row.name,
      baseUrl: row.baseUrl,
      key,
      models: row.models,
      modelMapping: row.modelMapping,
      groups: row.groups,
      priority: row.priority,
      weight: row.weight,
      status: row.status,
    }
  }

  private async flushResponseTimes(): Promise<void> {
    if (this.responseTimes.size === 0) return
    const batch = [...this.responseTimes]
    this.responseTimes.clear()
    for (const [id, ms] of batch) {
      try {
        await this.deps.repo.update(id, { responseTimeMs: ms })
      } catch (err) {
        this.deps.log.warn({ err, channel_id: id }, 'cannot record channel response time')
      }
    }
  }
}

/** Every model name the channels spell out: their `models` lists and their `model_mapping` keys (own keys only). */
function namedModels(channels: readonly RelayChannel[]): Set<string> {
  const names = new Set<string>()
  for (const channel of channels) {
    for (const model of channel.models) names.add(model)
    for (const model of Object.keys(channel.modelMapping)) names.add(model)
  }
  return names
}
