// The channels' circuit breaker, after Envoy's outlier detection: a small state machine per channel.
//
//   closed ──(CHANNEL_FAILURE_THRESHOLD failures within CHANNEL_FAILURE_WINDOW_S)──▶ open
//   open ──(cool-down over)──▶ half_open ──(one probe request: success)──▶ closed
//                                        └─(probe failure)──▶ open again, for twice the cool-down
//
// A failure is what says the upstream is unwell: a connect error, a timeout, a 5xx, a body cut or gone silent.
// Nothing the client caused (a 4xx it provoked) and nothing the gateway raised itself ever counts (CONTRACT §6),
// and 401/403 take the other road (auto-disable). The cool-down doubles with each opening, up to 10× the base;
// a channel that then stays closed for that longest cool-down starts again from the base.
//
// Shared across instances through the cache: failures are counted in one fixed-window counter per channel, the
// state record is kept under a key (read on start and on every pool reload) and every transition is published,
// so an instance learns of a circuit another one opened within a pub/sub hop. The relay's hot path only reads
// this process's copy; a half-open channel's single probe is claimed with a cache lock (`setIfAbsent`).
import type { FastifyBaseLogger } from 'fastify'
import type { Cache } from '../cache/cache.js'
import type { Clock } from '../clock.js'

export type CircuitState = 'closed' | 'open' | 'half_open'
/** What one upstream attempt said about its channel; `neutral` (a 429, a client who left) says nothing. */
export type CircuitOutcome = 'success' | 'failure' | 'neutral'

export interface CircuitSettings {
  /** Failures within the window that open a circuit. */
  failureThreshold: number
  failureWindowMs: number
  /** The first cool-down; each further opening doubles it, up to `maxCooldownMs`. */
  cooldownMs: number
  maxCooldownMs: number
  /** How long a probe may hold a half-open channel before another request may try (its outcome is known at the head). */
  probeLockMs: number
}

/** The cool-down stops doubling at this multiple of CHANNEL_COOLDOWN_S. */
export const MAX_COOLDOWN_FACTOR = 10

export function circuitSettings(config: {
  channelFailureThreshold: number
  channelFailureWindowS: number
  channelCooldownS: number
  upstreamFirstByteTimeoutMs: number
}): CircuitSettings {
  return {
    failureThreshold: config.channelFailureThreshold,
    failureWindowMs: config.channelFailureWindowS * 1000,
    cooldownMs: config.channelCooldownS * 1000,
    maxCooldownMs: config.channelCooldownS * 1000 * MAX_COOLDOWN_FACTOR,
    // The probe's verdict comes with the response head, which the first-byte timeout bounds.
    probeLockMs: config.upstreamFirstByteTimeoutMs + 5_000,
  }
}

/** One channel's shared record. Absent = closed, never opened. */
export interface CircuitRecord {
  s: 'open' | 'closed'
  /** Epoch ms the cool-down ends (open only). */
  until: number
  /** Openings in a row; sets the cool-down. */
  openings: number
  /** Epoch ms of this transition: of two records, the later one wins. */
  at: number
}

/** The cool-down of the n-th opening in a row: base × 2^(n−1), capped. */
export function cooldownFor(openings: number, settings: Pick<CircuitSettings, 'cooldownMs' | 'maxCooldownMs'>): number {
  const doubled = settings.cooldownMs * 2 ** Math.min(Math.max(openings - 1, 0), 30)
  return Math.min(doubled, settings.maxCooldownMs)
}

/** The state a record stands for at `now`. */
export function stateOf(record: CircuitRecord | undefined, now: number): CircuitState {
  if (!record || record.s === 'closed') return 'closed'
  return now < record.until ? 'open' : 'half_open'
}

/** Gauge values of `nexus_channel_circuit_state`. */
export const CIRCUIT_GAUGE: Record<CircuitState, number> = { closed: 0, open: 1, half_open: 2 }

/** Pub/sub channel carrying every transition, as `{"id":N,"record":{...}}`. */
export const CIRCUIT_TOPIC = 'circuit:changed'
const recordKey = (id: number) => `circuit:state:${id}`
const failuresKey = (id: number) => `circuit:failures:${id}`
const probeKey = (id: number) => `circuit:probe:${id}`

export interface CircuitBreakersDeps {
  cache: Cache
  clock: Clock
  log: FastifyBaseLogger
  settings: CircuitSettings
  /** Names this instance as a probe's holder. */
  instanceId: string
}

export class CircuitBreakers {
  private readonly records = new Map<number, CircuitRecord>()
  /** Channels whose record is open (cooling down or half-open): the hot path's one check when all is well. */
  private readonly tripped = new Set<number>()
  /** Half-open channels whose probe this instance runs. */
  private readonly probing = new Set<number>()
  /** Half-open channels whose probe another instance holds, until when. */
  private readonly probedElsewhere = new Map<number, number>()

  constructor(private readonly deps: CircuitBreakersDeps) {}

  async start(): Promise<void> {
    await this.deps.cache.subscribe(CIRCUIT_TOPIC, (message) => this.onMessage(message))
  }

  state(id: number): CircuitState {
    return stateOf(this.records.get(id), this.deps.clock.now())
  }

  /** When the channel's circuit last opened (epoch ms); 0 when it is closed. */
  openedAt(id: number): number {
    const record = this.records.get(id)
    return record?.s === 'open' ? record.at : 0
  }

  /** True when no circuit is open here: candidates need no filtering. */
  allClosed(): boolean {
    return this.tripped.size === 0
  }

  /** May a request be routed to this channel? Closed, or half-open with its probe free. */
  usable(id: number): boolean {
    if (!this.tripped.has(id)) return true
    const now = this.deps.clock.now()
    if (stateOf(this.records.get(id), now) !== 'half_open') return false
    return !this.probing.has(id) && (this.probedElsewhere.get(id) ?? 0) <= now
  }

  /**
   * Called right before a request is sent to the channel. Closed: yes. Half-open: yes for the one request that
   * claims the probe, no for the others. Open (the channel was offered anyway because every candidate is open,
   * or it is pinned): yes, the breaker steps aside rather than leave the group without a channel.
   */
  admit(id: number): boolean | Promise<boolean> {
    if (!this.tripped.has(id)) return true
    if (!this.usable(id)) return true
    if (this.state(id) !== 'half_open') return true
    return this.claimProbe(id)
  }

  /** Records what an attempt said about its channel. Never throws, never waits on the caller's behalf. */
  record(id: number, outcome: CircuitOutcome): void {
    if (outcome === 'success') {
      if (this.tripped.has(id) || this.probing.has(id)) void this.close(id)
      return
    }
    const probe = this.probing.has(id)
    if (outcome === 'neutral') {
      if (probe) void this.releaseProbe(id)
      return
    }
    if (probe) {
      void this.open(id, 'probe failed')
      return
    }
    // Open (or half-open with someone else's probe): the channel is known to be unwell already.
    if (!this.tripped.has(id)) void this.countFailure(id)
  }

  /** Reads the shared records of these channels (on start, and whenever the pool reloads); forgets all others. */
  async sync(ids: readonly number[]): Promise<void> {
    const wanted = new Set(ids)
    for (const id of [...this.records.keys()]) if (!wanted.has(id)) this.forget(id)
    await Promise.all(
      ids.map(async (id) => {
        try {
          const raw = await this.deps.cache.get(recordKey(id))
          const record = raw === null ? null : parseRecord(raw)
          if (record) this.apply(id, record)
        } catch (err) {
          this.deps.log.debug({ err, channel_id: id }, 'cannot read a channel circuit')
        }
      }),
    )
  }

  private forget(id: number): void {
    this.records.delete(id)
    this.tripped.delete(id)
    this.probing.delete(id)
    this.probedElsewhere.delete(id)
  }

  private async countFailure(id: number): Promise<void> {
    const { settings } = this.deps
    let failures: number
    try {
      failures = await this.deps.cache.incr(failuresKey(id), 1, settings.failureWindowMs)
    } catch (err) {
      // The cache is down: the breaker cannot count; requests still fail over as before.
      this.deps.log.debug({ err, channel_id: id }, 'cannot count a channel failure')
      return
    }
    // Exactly at the threshold: of several instances counting at once, one opens the circuit.
    if (failures === settings.failureThreshold && !this.tripped.has(id)) {
      await this.open(id, `${failures} failures within ${settings.failureWindowMs / 1000} s`)
    }
  }

  private async open(id: number, why: string): Promise<void> {
    const now = this.deps.clock.now()
    const previous = this.records.get(id)
    // A channel that stayed closed for the longest cool-down starts over from the base.
    const fresh = !previous || (previous.s === 'closed' && now - previous.at >= this.deps.settings.maxCooldownMs)
    const openings = (fresh ? 0 : previous.openings) + 1
    const cooldown = cooldownFor(openings, this.deps.settings)
    const record: CircuitRecord = { s: 'open', until: now + cooldown, openings, at: now }
    this.probing.delete(id)
    this.apply(id, record)
    this.deps.log.warn({ channel_id: id, cooldown_s: cooldown / 1000, openings, reason: why }, 'channel circuit opened')
    // Issued before the record is shared, not after: commands on one cache connection run in order, so a probe this
    // instance claims once the cool-down ends can never be deleted by this opening's late clean-up.
    const dropped = this.dropKeys(probeKey(id))
    await this.share(id, record, cooldown + this.deps.settings.maxCooldownMs)
    await dropped
  }

  private async close(id: number): Promise<void> {
    const previous = this.records.get(id)
    const record: CircuitRecord = { s: 'closed', until: 0, openings: previous?.openings ?? 0, at: this.deps.clock.now() }
    const wasOpen = this.tripped.has(id)
    this.probing.delete(id)
    this.apply(id, record)
    if (wasOpen) this.deps.log.info({ channel_id: id }, 'channel circuit closed')
    // The failure count is reset first, in the same turn as the state: failures recorded right after the close are
    // counted on a fresh counter instead of being added to the old one and then wiped by a late delete.
    const dropped = this.dropKeys(failuresKey(id), probeKey(id))
    // Kept for the longest cool-down: a channel failing again soon reopens for longer.
    await this.share(id, record, this.deps.settings.maxCooldownMs)
    await dropped
  }

  private async claimProbe(id: number): Promise<boolean> {
    // Taken here before the lock is asked for: a second request of this instance skips the channel at once.
    this.probing.add(id)
    try {
      const won = await this.deps.cache.setIfAbsent(probeKey(id), this.deps.instanceId, this.deps.settings.probeLockMs)
      if (won) return true
    } catch (err) {
      // The cache is down: this instance probes on its own.
      this.deps.log.debug({ err, channel_id: id }, 'cannot claim a circuit probe')
      return true
    }
    this.probing.delete(id)
    this.probedElsewhere.set(id, this.deps.clock.now() + this.deps.settings.probeLockMs)
    return false
  }

  private async releaseProbe(id: number): Promise<void> {
    this.probing.delete(id)
    await this.dropKeys(probeKey(id))
  }

  /** This process's copy; a record older than the one held is ignored. */
  private apply(id: number, record: CircuitRecord): void {
    const held = this.records.get(id)
    if (held && held.at > record.at) return
    this.records.set(id, record)
    this.probedElsewhere.delete(id)
    if (record.s === 'open') this.tripped.add(id)
    else this.tripped.delete(id)
  }

  private async share(id: number, record: CircuitRecord, ttlMs: number): Promise<void> {
    try {
      await this.deps.cache.set(recordKey(id), JSON.stringify(record), Math.max(1, Math.ceil(ttlMs)))
      await this.deps.cache.publish(CIRCUIT_TOPIC, JSON.stringify({ id, record }))
    } catch (err) {
      // Other instances learn it on their next pool reload, or count their own failures meanwhile.
      this.deps.log.warn({ err, channel_id: id }, 'cannot share a channel circuit')
    }
  }

  private async dropKeys(...keys: string[]): Promise<void> {
    try {
      await this.deps.cache.del(...keys)
    } catch (err) {
      // A probe lock expires by itself; a failure counter by its window.
      this.deps.log.debug({ err }, 'cannot clear circuit keys')
    }
  }

  private onMessage(message: string): void {
    let parsed: unknown
    try {
      parsed = JSON.parse(message)
    } catch {
      return
    }
    if (typeof parsed !== 'object' || parsed === null || !('id' in parsed) || !('record' in parsed)) return
    const id = Number(parsed.id)
    const record = parseRecord(JSON.stringify(parsed.record))
    if (Number.isInteger(id) && id > 0 && record) this.apply(id, record)
  }
}

function parseRecord(raw: string): CircuitRecord | null {
  let value: unknown
  try {
    value = JSON.parse(raw)
  } catch {
    return null
  }
  if (typeof value !== 'object' || value === null) return null
  const v = value as Record<string, unknown>
  if ((v.s !== 'open' && v.s !== 'closed') || typeof v.until !== 'number' || typeof v.openings !== 'number' || typeof v.at !== 'number') {
    return null
  }
  return { s: v.s, until: v.until, openings: v.openings, at: v.at }
}
