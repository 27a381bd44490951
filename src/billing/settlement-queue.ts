import type { SettleUnit } from './repository.js'

const MAX_BATCH = 200

export interface SettlementQueue {
  /** Resolves once the unit is committed; rejects if it could not be. */
  settle(unit: SettleUnit): Promise<void>
  /** Resolves when everything queued so far is committed (or has failed). */
  drain(): Promise<void>
}

/**
 * Group commit without a delay: a settlement arriving while a batch is being written waits for
 * that write and goes into the next batch with everything else that arrived meanwhile; the first
 * write waits only for the end of the current event-loop turn. At low load each settlement
 * commits alone, at once; under load one transaction carries many.
 * Callers still wait for their own commit, so a graceful stop (which waits for in-flight
 * requests) loses nothing; a crash loses at most the batch being written — whose reservations
 * stay taken, so the user is over-held, never under-charged.
 */
export function createSettlementQueue(write: (units: readonly SettleUnit[]) => Promise<void>): SettlementQueue {
  let pending: { unit: SettleUnit; resolve: () => void; reject: (err: unknown) => void }[] = []
  let writing: Promise<void> | null = null

  async function writeAll(): Promise<void> {
    while (pending.length > 0) {
      const batch = pending.slice(0, MAX_BATCH)
      pending = pending.slice(MAX_BATCH)
      try {
        await write(batch.map((b) => b.unit))
        for (const b of batch) b.resolve()
      } catch {
        // One bad unit must not sink its neighbours: retry each on its own.
        for (const b of batch) {
          try {
            await write([b.unit])
            b.resolve()
          } catch (err) {
            b.reject(err)
          }
        }
      }
    }
    writing = null
  }

  return {
    settle(unit) {
      return new Promise<void>((resolve, reject) => {
        pending.push({ unit, resolve, reject })
        // The write starts on the next turn of the event loop, so every settlement that arrives in
        // this turn shares its transaction — with SQLite's synchronous writes there would otherwise
        // never be anything to group.
        writing ??= new Promise<void>((started) => setImmediate(started)).then(writeAll)
      })
    },
    async drain() {
      while (writing) await writing
    },
  }
}
