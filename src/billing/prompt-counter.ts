// The exact prompt count, needed only when an answer carries no usage. A large prompt takes milliseconds to
// tokenize (a 100k-token agent prompt ~40 ms), time every other stream in flight would wait for if it ran on the
// event loop, so prompts past a small size are counted on a worker thread (piscina, one thread, started on
// first need and stopped when idle).
import { Piscina } from 'piscina'
import { estimatePromptTokens } from './tokens-count.js'

/** JSON bodies up to this many characters are counted inline: well under a millisecond. */
export const INLINE_COUNT_LIMIT = 8 * 1024

// Under the test runner this module is TypeScript source, so its worker is too.
const WORKER = new URL(`./prompt-count-worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url)

export interface PromptCounter {
  /** The prompt tokens of a parsed request body whose JSON text had `size` characters. */
  count(body: unknown, size: number): Promise<number>
  close(): Promise<void>
}

export function createPromptCounter(): PromptCounter {
  let pool: Piscina | null = null
  return {
    async count(body, size) {
      if (size <= INLINE_COUNT_LIMIT) return estimatePromptTokens(body)
      pool ??= new Piscina({ filename: WORKER.href, minThreads: 0, maxThreads: 1, idleTimeout: 30_000 })
      return (await pool.run(body)) as number
    },
    async close() {
      await pool?.destroy()
      pool = null
    },
  }
}
