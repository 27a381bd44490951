import { randomFillSync } from 'node:crypto'

/**
 * Time-ordered request ids: UUIDv7 (RFC 9562 §5.7), so the usage log's `request_id` index is appended
 * to at its right edge instead of being written at random pages as it grows.
 *
 * Layout (method 1 of §6.2, a fixed-length dedicated counter):
 *   48 bits  unix_ts_ms
 *    4 bits  version (7)
 *   42 bits  counter: 12 in rand_a + 30 at the top of rand_b (below the 2 variant bits), seeded at random on
 *            each new millisecond with its top bit clear, then +1 per id — so ids of one process sort strictly
 *   32 bits  random
 * A clock that steps back, or a counter that runs out, keeps the last timestamp (or moves it one ms on):
 * ids never go backwards within a process.
 */

const POOL_BYTES = 4096
const pool = Buffer.allocUnsafe(POOL_BYTES)
let poolOffset = POOL_BYTES

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))
const COUNTER_SEED_SPAN = 2 ** 41
const COUNTER_MAX = 2 ** 42 - 1

let lastMs = -1
let counter = 0

/** `count` bytes of CSPRNG output from a pooled buffer: one syscall per ~800 ids, not one per id. */
function randomOffset(count: number): number {
  if (poolOffset + count > POOL_BYTES) {
    randomFillSync(pool)
    poolOffset = 0
  }
  const at = poolOffset
  poolOffset += count
  return at
}

function seedCounter(): number {
  const at = randomOffset(6)
  // 41 random bits: the top counter bit starts clear, leaving 2^41 increments of room in one millisecond.
  return pool.readUIntBE(at, 6) % COUNTER_SEED_SPAN
}

/** "tttttttt-tttt-": the timestamp's part of the id, rebuilt only when the millisecond changes. */
function timestampPrefix(ms: number): string {
  return (
    HEX[Math.floor(ms / 2 ** 40) & 0xff]! + HEX[Math.floor(ms / 2 ** 32) & 0xff]! +
    HEX[(ms >>> 24) & 0xff]! + HEX[(ms >>> 16) & 0xff]! + '-' +
    HEX[(ms >>> 8) & 0xff]! + HEX[ms & 0xff]! + '-'
  )
}

let prefix = ''

/** A new UUIDv7, greater than every id this process made before it. */
export function uuidv7(now: number = Date.now()): string {
  if (now > lastMs) {
    lastMs = now
    counter = seedCounter()
    prefix = timestampPrefix(lastMs)
  } else if (counter < COUNTER_MAX) {
    counter += 1
  } else {
    lastMs += 1
    counter = seedCounter()
    prefix = timestampPrefix(lastMs)
  }
  const high = Math.floor(counter / 2 ** 30) // 12 bits → rand_a
  const low = counter % 2 ** 30 // 30 bits → top of rand_b
  const r = randomOffset(4)
  return (
    prefix +
    HEX[0x70 | (high >>> 8)]! + HEX[high & 0xff]! + '-' +
    HEX[0x80 | (low >>> 24)]! + HEX[(low >>> 16) & 0xff]! + '-' +
    HEX[(low >>> 8) & 0xff]! + HEX[low & 0xff]! +
    HEX[pool[r]!]! + HEX[pool[r + 1]!]! + HEX[pool[r + 2]!]! + HEX[pool[r + 3]!]!
  )
}
