import { rmSync } from 'node:fs'
import type { FastifyBaseLogger } from 'fastify'
import type { Clock } from '../clock.js'
import type { LeaseJournal, OrphanJournal } from './lease-journal.js'
import type { LeaseKind, LeaseRepository } from './lease-repository.js'
import type { SettleUnit } from './repository.js'

/**
 * Credit leases: how a busy user's requests are reserved and settled without a database round trip each.
 *
 * Once a user (or a limited token) is busy on this instance — `hotAfter` reservations within a second — the
 * instance takes a slice of the balance (`sliceRequests` reservations' worth) in one conditional update into
 * its own lease row, and reserves against that slice in memory. What a request costs is paid from the lease
 * and written to the database with the usage-log row in the next settlement batch (the lease row shrinks by
 * it). A lease is only taken while the balance stays at least one more slice above it, so near a zero balance
 * every request falls back to the exact per-request reservation of the security issue: the no-overdraft bound
 * is unchanged. Leases go back to the balance after `idleMs` without use, on a clean stop, and — for an
 * instance that died — at the next start (after its journal is replayed) or after `staleMs` without a
 * heartbeat. While a lease is out, the ledger shows it as held (`quota_leases`):
 *   quota + used_quota + Σ lease amounts = Σ topups + Σ adjustments − open exact reservations.
 */
export interface LeaseOptions {
  /** Reservations within one second that make a subject worth a lease (0 = lease from the first). */
  hotAfter: number
  /** A slice covers this many reservations of the size that asked for it. */
  sliceRequests: number
  /** An unused lease goes back after this long. */
  idleMs: number
  heartbeatMs: number
  /** Another instance's leases without a heartbeat for this long are returned by whoever sees them. */
  staleMs: number
}

export const DEFAULT_LEASE_OPTIONS: LeaseOptions = { hotAfter: 8, sliceRequests: 32, idleMs: 2_000, heartbeatMs: 10_000, staleMs: 60_000 }

interface Account {
  kind: LeaseKind
  id: number
  /** The lease row's amount once every pending settlement is committed. */
  held: number
  /** Held for requests in flight. */
  reserved: number
  /** Paid from the lease, not yet committed. */
  pending: number
  lastUsed: number
  releasing: boolean
}

/** Where one leased reservation came from. */
export interface LeaseSubjects {
  userId: number
  /** A limited token leased alongside the user; null for an unlimited token. */
  tokenId: number | null
}

export interface LeaseBook {
  readonly instanceId: string
  /**
   * Reserves `quota` from this instance's leases, taking a slice when needed: the hold's journal id (0 without a
   * journal), or false → use an exact reservation.
   */
  reserve(subjects: LeaseSubjects, quota: number): Promise<number | false>
  /** What the leases could pay beyond what is reserved (for a cost above its reservation). */
  available(subjects: LeaseSubjects): number
  /**
   * A leased request is over: its `reserved` is released and `paid` leaves the leases; returns the journal
   * sequence of its settlement unit (the unit is appended before it is queued).
   */
  finish(subjects: LeaseSubjects, reserved: number, unit: SettleUnit, holds: readonly number[]): number
  /** The unit's batch committed (or finally failed): its `paid` is no longer pending. */
  committed(subjects: LeaseSubjects, paid: number, seq: number): void
  /** Replays dead instances' journals and returns their leases; at start, before serving. */
  recover(settle: (units: readonly SettleUnit[]) => Promise<void>): Promise<void>
  /** Returns every lease (a clean stop, or a test checking the ledger); waits for nothing in flight. */
  releaseAll(): Promise<void>
  close(): Promise<void>
}

export interface LeaseBookDeps {
  repo: LeaseRepository
  instanceId: string
  journal: LeaseJournal | null
  /** Journals of dead instances on this machine (lease-journal.ts `orphanJournals`). */
  orphans: () => OrphanJournal[]
  clock: Clock
  log: FastifyBaseLogger
  options?: Partial<LeaseOptions>
}

export function createLeaseBook(deps: LeaseBookDeps): LeaseBook {
  const { repo, instanceId, journal, clock, log } = deps
  const opts = { ...DEFAULT_LEASE_OPTIONS, ...deps.options }
  const accounts = new Map<string, Account>()
  /** Per user: reservations seen in the current one-second window. */
  const heat = new Map<number, { window: number; count: number }>()
  /** Subjects whose last slice was refused: exact reservations until then (no database hammering). */
  const coldUntil = new Map<string, number>()
  const acquiring = new Map<string, Promise<boolean>>()
  let committedSeq = 0
  let closed = false

  const key = (kind: LeaseKind, id: number) => (kind === 'user' ? `u${id}` : `t${id}`)
  const accountOf = (kind: LeaseKind, id: number) => accounts.get(key(kind, id))
  const free = (a: Account | undefined) => (a && !a.releasing ? a.held - a.reserved : 0)

  function isHot(userId: number, now: number): boolean {
    if (opts.hotAfter === 0 || accounts.has(key('user', userId))) return true
    const window = Math.floor(now / 1000)
    const h = heat.get(userId)
    if (!h || h.window !== window) {
      heat.set(userId, { window, count: 1 })
      return false
    }
    h.count += 1
    return h.count >= opts.hotAfter
  }

  function covered(s: LeaseSubjects, quota: number): boolean {
    if (free(accountOf('user', s.userId)) < quota) return false
    return s.tokenId === null || free(accountOf('token', s.tokenId)) >= quota
  }

  function take(s: LeaseSubjects, quota: number, now: number): number {
    for (const a of [accountOf('user', s.userId), s.tokenId === null ? undefined : accountOf('token', s.tokenId)]) {
      if (!a) continue
      a.reserved += quota
      a.lastUsed = now
    }
    return journal ? journal.hold(s.userId, s.tokenId, quota) : 0
  }

  async function acquire(s: LeaseSubjects, quota: number): Promise<boolean> {
    const k = s.tokenId === null ? key('user', s.userId) : `${key('user', s.userId)}:${key('token', s.tokenId)}`
    const running = acquiring.get(k)
    if (running) return running
    const slice = Math.max(quota, quota * opts.sliceRequests)
    const attempt = (async () => {
      const at = new Date(clock.now())
      // A slice is taken only while one more would still fit: a lease never empties a balance.
      const ok = await repo.acquire({ instanceId, userId: s.userId, tokenId: s.tokenId, slice, floor: 2 * slice, at })
      if (!ok) {
        coldUntil.set(k, clock.now() + 1_000)
        return false
      }
      for (const [kind, id] of s.tokenId === null ? ([['user', s.userId]] as const) : ([['user', s.userId], ['token', s.tokenId]] as const)) {
        const existing = accountOf(kind, id)
        if (existing && !existing.releasing) existing.held += slice
        else accounts.set(key(kind, id), { kind, id, held: slice, reserved: 0, pending: 0, lastUsed: clock.now(), releasing: false })
      }
      return true
    })().finally(() => acquiring.delete(k))
    acquiring.set(k, attempt)
    return attempt
  }

  async function release(a: Account): Promise<void> {
    a.releasing = true
    try {
      await repo.release(instanceId, a.kind, a.id)
    } catch (err) {
      // Still held in the database; the stale sweep (or our next idle pass) returns it.
      log.warn({ err, kind: a.kind, subject: a.id }, 'returning a credit lease failed; will retry')
      a.releasing = false
      return
    }
    if (accounts.get(key(a.kind, a.id)) === a) accounts.delete(key(a.kind, a.id))
  }

  async function sweepIdle(): Promise<void> {
    const now = clock.now()
    const idle = [...accounts.values()].filter((a) => !a.releasing && a.reserved === 0 && a.pending === 0 && now - a.lastUsed >= opts.idleMs)
    for (const a of idle) await release(a)
    journal?.compact(committedSeq)
  }

  async function returnStale(): Promise<void> {
    const stale = await repo.staleInstances(new Date(clock.now() - opts.staleMs))
    for (const other of stale) {
      if (other === instanceId) continue
      await returnInstance(other)
      log.warn({ instance: other }, 'returned the credit leases of an instance that stopped sending heartbeats')
    }
  }

  /** Returns another instance's leases, less `keep` per lease (what its requests in flight at a crash held). */
  async function returnInstance(other: string, keep: Map<string, number> = new Map()): Promise<number> {
    let total = 0
    for (const row of await repo.rowsOf(other)) {
      if (row.kind === 'user' || row.kind === 'token') total += await repo.release(other, row.kind, row.subjectId, keep.get(key(row.kind, row.subjectId)) ?? 0)
    }
    await repo.forget(other)
    return total
  }

  // Background work, off the request path; unref'd so it never holds the process open.
  const timers = [
    setInterval(() => void sweepIdle().catch((err) => log.warn({ err }, 'lease sweep failed')), Math.max(100, Math.min(1_000, opts.idleMs))),
    setInterval(() => void repo.heartbeat(instanceId, new Date(clock.now())).catch((err) => log.warn({ err }, 'lease heartbeat failed')), opts.heartbeatMs),
    setInterval(() => void returnStale().catch((err) => log.warn({ err }, 'returning stale leases failed')), opts.staleMs),
  ]
  for (const timer of timers) timer.unref()

  return {
    instanceId,

    async reserve(s, quota) {
      if (closed || quota <= 0) return false
      const now = clock.now()
      if (!isHot(s.userId, now)) return false
      if (covered(s, quota)) return take(s, quota, now)
      const k = s.tokenId === null ? key('user', s.userId) : `${key('user', s.userId)}:${key('token', s.tokenId)}`
      // A burst larger than one slice waits for the next one (acquisitions of a subject run one at a time).
      for (let attempt = 0; attempt < 4; attempt++) {
        if ((coldUntil.get(k) ?? 0) > clock.now()) return false
        // A lease being returned is not topped up meanwhile: its row is about to be deleted.
        if (accountOf('user', s.userId)?.releasing || (s.tokenId !== null && accountOf('token', s.tokenId)?.releasing)) return false
        if (!(await acquire(s, quota))) return false
        if (covered(s, quota)) return take(s, quota, clock.now())
      }
      return false
    },

    available(s) {
      const user = free(accountOf('user', s.userId))
      return Math.max(0, s.tokenId === null ? user : Math.min(user, free(accountOf('token', s.tokenId))))
    },

    finish(s, reserved, unit, holds) {
      const now = clock.now()
      for (const a of [accountOf('user', s.userId), s.tokenId === null ? undefined : accountOf('token', s.tokenId)]) {
        if (!a) continue
        a.reserved -= reserved
        a.held -= unit.prepaid
        a.pending += unit.prepaid
        a.lastUsed = now
      }
      return journal ? journal.append(unit, holds) : 0
    },

    committed(s, paid, seq) {
      for (const a of [accountOf('user', s.userId), s.tokenId === null ? undefined : accountOf('token', s.tokenId)]) {
        if (a) a.pending -= paid
      }
      if (seq > committedSeq) committedSeq = seq
    },

    async recover(settle) {
      for (const orphan of deps.orphans()) {
        const done = await repo.committedSeq(orphan.instanceId)
        const replay = orphan.units.filter((u) => u.journalSeq > done).map((u) => ({ ...u, leaseInstance: orphan.instanceId }))
        for (let i = 0; i < replay.length; i += 200) await settle(replay.slice(i, i + 200))
        const keep = new Map<string, number>()
        for (const hold of orphan.openHolds) {
          keep.set(key('user', hold.userId), (keep.get(key('user', hold.userId)) ?? 0) + hold.quota)
          if (hold.tokenId !== null) keep.set(key('token', hold.tokenId), (keep.get(key('token', hold.tokenId)) ?? 0) + hold.quota)
        }
        const kept = orphan.openHolds.reduce((sum, h) => sum + h.quota, 0)
        const returned = await returnInstance(orphan.instanceId, keep)
        rmSync(orphan.path, { force: true })
        log.warn(
          { instance: orphan.instanceId, replayed: replay.length, returned, kept_for_requests_in_flight: kept },
          'recovered a crashed instance: replayed its lease journal and returned its leases',
        )
      }
      await returnStale()
    },

    async releaseAll() {
      for (const a of [...accounts.values()]) {
        if (!a.releasing && a.reserved === 0 && a.pending === 0) await release(a)
      }
    },

    async close() {
      closed = true
      for (const timer of timers) clearInterval(timer)
      // In-flight requests are over by now (the server waited for them); a lease still reserved or pending
      // stays held for the next start's reconciliation rather than be returned under a settlement.
      for (const a of [...accounts.values()]) {
        if (!a.releasing && a.reserved === 0 && a.pending === 0) await release(a)
      }
      const clean = accounts.size === 0
      if (clean) await repo.forget(instanceId).catch(() => {})
      // A journal with anything uncommitted is kept for the next start's replay.
      journal?.close(clean)
    },
  }
}
