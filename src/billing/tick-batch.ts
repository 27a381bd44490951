/**
 * Runs every item submitted during one event-loop turn in a single call of `run` on the next
 * turn, and answers each caller with its own result. For SQLite, whose writes are synchronous,
 * this turns N commits into one without adding a delay beyond the current turn.
 */
export function createTickBatcher<I, O>(run: (items: readonly I[]) => O[]): (item: I) => Promise<O> {
  let queue: { item: I; resolve: (o: O) => void; reject: (err: unknown) => void }[] = []

  const flush = (): void => {
    const batch = queue
    queue = []
    try {
      const results = run(batch.map((b) => b.item))
      batch.forEach((b, i) => b.resolve(results[i] as O))
    } catch (err) {
      for (const b of batch) b.reject(err)
    }
  }

  return (item) =>
    new Promise<O>((resolve, reject) => {
      if (queue.length === 0) setImmediate(flush)
      queue.push({ item, resolve, reject })
    })
}
