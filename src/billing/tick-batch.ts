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

/**
 * The asynchronous form, for MySQL: items arriving while a batch runs wait for it and form the
 * next batch together, so under load one transaction (one commit) serves many callers.
 */
export function createAsyncBatcher<I, O>(run: (items: readonly I[]) => Promise<O[]>): (item: I) => Promise<O> {
  let queue: { item: I; resolve: (o: O) => void; reject: (err: unknown) => void }[] = []
  let running = false

  const drain = async (): Promise<void> => {
    running = true
    while (queue.length > 0) {
      const batch = queue
      queue = []
      try {
        const results = await run(batch.map((b) => b.item))
        batch.forEach((b, i) => b.resolve(results[i] as O))
      } catch (err) {
        for (const b of batch) b.reject(err)
      }
    }
    running = false
  }

  return (item) =>
    new Promise<O>((resolve, reject) => {
      queue.push({ item, resolve, reject })
      if (!running) {
        running = true
        setImmediate(() => void drain())
      }
    })
}
