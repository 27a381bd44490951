import { createHash } from 'node:crypto'
import { closeSync, fstatSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import type { SettleUnit } from './repository.js'

/**
 * The local, append-only record of every reservation taken from a credit lease and every settlement paid from
 * one (one `write` per event-loop turn, no fsync; see `add` below). A `kill -9` loses the settlement queue but not
 * the page cache, so the next start on this machine replays the entries past the instance's committed watermark
 * (`quota_leases` kind `seq`) and only then returns the leases, less what requests in flight at the crash held:
 * the user is never under-charged for an answer they got. A power loss can drop the last few seconds of entries
 * (the OS's writeback), as it would for SQLite with synchronous=NORMAL; the README states both bounds.
 */
export interface LeaseJournal {
  /** A reservation taken from the leases; returns its sequence number. */
  hold(userId: number, tokenId: number | null, quota: number): number
  /**
   * Appends a settlement that closes `holds`; returns its sequence number (> 0), which the unit carries into
   * its batch.
   */
  append(unit: SettleUnit, holds: readonly number[]): number
  /** Empties the file once everything in it is committed and it has grown past a few MB. */
  compact(committedSeq: number): void
  /** Closes the file; `remove` deletes it (a clean stop, every entry committed). */
  close(remove: boolean): void
}

export interface OrphanJournal {
  instanceId: string
  path: string
  units: SettleUnit[]
  /**
   * Reservations with no settlement: requests in flight at the crash. Whether their answer reached the client
   * is unknown, so what they held stays taken (over-held, never under-charged), as an exact reservation would.
   */
  openHolds: { userId: number; tokenId: number | null; quota: number }[]
}

const PREFIX = 'lease-journal-'
const COMPACT_BYTES = 4 * 1024 * 1024

/** A database's journals are told apart from another's in the same folder (tests, several gateways per box). */
export function databaseTag(databaseUrl: string): string {
  return createHash('sha256').update(databaseUrl).digest('hex').slice(0, 12)
}

function fileName(tag: string, instanceId: string): string {
  return `${PREFIX}${tag}-${instanceId}-${process.pid}.ndjson`
}

export function openJournal(dir: string, tag: string, instanceId: string): LeaseJournal {
  mkdirSync(dir, { recursive: true })
  const path = join(dir, fileName(tag, instanceId))
  const fd = openSync(path, 'a', 0o600)
  let seq = 0
  let open = true
  // Lines of one event-loop turn go out in one write at its end (setImmediate): a hold is on file before any
  // answer to its request can leave (that needs another turn: the upstream's reply), and a settlement lost with
  // the turn leaves its hold open, which keeps the reservation held — over-held, never under-charged.
  let pending: string[] = []
  const flush = (): void => {
    if (pending.length === 0 || !open) return
    const text = pending.join('')
    pending = []
    writeSync(fd, text)
  }
  const add = (line: string): void => {
    if (pending.length === 0) setImmediate(flush)
    pending.push(line)
  }
  return {
    hold(userId, tokenId, quota) {
      seq += 1
      add(`{"h":${seq},"u":${userId},"t":${tokenId === null ? 'null' : tokenId},"q":${quota}}\n`)
      return seq
    },
    append(unit, holds) {
      seq += 1
      const entry = { holds, unit: { ...unit, journalSeq: seq, log: { ...unit.log, createdAt: unit.log.createdAt.getTime() } } }
      add(`${JSON.stringify(entry)}\n`)
      return seq
    },
    compact(committedSeq) {
      flush()
      if (!open || committedSeq < seq || fstatSync(fd).size < COMPACT_BYTES) return
      ftruncateSync(fd, 0)
    },
    close(remove) {
      if (!open) return
      flush()
      open = false
      closeSync(fd)
      if (remove) rmSync(path, { force: true })
    },
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Journals of this database left by processes that are gone (a crash): their entries, in order. A journal of a
 * live process — another gateway on this box — is not touched. A torn last line (the crash hit mid-write) is
 * skipped: its settlement never reached the queue either, and its lease is still held, so nothing is lost.
 */
export function orphanJournals(dir: string, tag: string, ownInstanceId: string): OrphanJournal[] {
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch {
    return []
  }
  const found: OrphanJournal[] = []
  const pattern = new RegExp(`^${PREFIX}${tag}-([0-9a-f-]{36})-(\\d+)\\.ndjson$`)
  for (const name of names) {
    const match = pattern.exec(name)
    if (!match) continue
    const [, instanceId, pidText] = match as unknown as [string, string, string]
    const pid = Number(pidText)
    if (instanceId === ownInstanceId || (pid !== process.pid && alive(pid))) continue
    const path = join(dir, name)
    const units: SettleUnit[] = []
    const holds = new Map<number, { userId: number; tokenId: number | null; quota: number }>()
    const closed = new Set<number>()
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      if (!line) continue
      let raw: { h?: number; u?: number; t?: number | null; q?: number; holds?: number[]; unit?: SettleUnit & { log: { createdAt: number } } }
      try {
        raw = JSON.parse(line)
      } catch {
        continue // the torn tail of a crash
      }
      if (typeof raw.h === 'number') holds.set(raw.h, { userId: Number(raw.u), tokenId: raw.t ?? null, quota: Number(raw.q) })
      else if (raw.unit) {
        for (const h of raw.holds ?? []) closed.add(h)
        units.push({ ...raw.unit, log: { ...raw.unit.log, createdAt: new Date(raw.unit.log.createdAt) } })
      }
    }
    const openHolds = [...holds].filter(([h]) => !closed.has(h)).map(([, hold]) => hold)
    found.push({ instanceId, path, units, openHolds })
  }
  return found
}
