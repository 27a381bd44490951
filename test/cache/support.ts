import net from 'node:net'
import type { CacheLogger } from '../../src/cache/redis.js'

export interface LogEntry {
  level: 'warn' | 'error' | 'info'
  obj: object
  msg: string | undefined
}

/** A logger that keeps what it was told, so tests can assert on what an outage logged. */
export function recordingLogger(): CacheLogger & { entries: LogEntry[] } {
  const entries: LogEntry[] = []
  return {
    entries,
    warn: (obj, msg) => void entries.push({ level: 'warn', obj, msg }),
    error: (obj, msg) => void entries.push({ level: 'error', obj, msg }),
    info: (obj, msg) => void entries.push({ level: 'info', obj, msg }),
  }
}

/**
 * A TCP pass-through to the real Redis that can be cut and restored on the same port: the
 * cache under test sees exactly what it would see if Redis itself went down and came back.
 */
export class RedisProxy {
  private readonly server: net.Server
  private readonly sockets = new Set<net.Socket>()
  port = 0

  constructor(private readonly target: { host: string; port: number }) {
    this.server = net.createServer((client) => this.relay(client))
  }

  /** Listens on a fresh port the first time, and on the same port afterwards. */
  async up(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen(this.port, '127.0.0.1', () => {
        this.server.off('error', reject)
        resolve()
      })
    })
    const address = this.server.address()
    if (address === null || typeof address === 'string') throw new Error('proxy has no TCP address')
    this.port = address.port
  }

  /** Refuses new connections and drops the open ones. */
  async down(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()))
    for (const socket of this.sockets) socket.destroy()
    this.sockets.clear()
    await closed
  }

  private relay(client: net.Socket): void {
    const upstream = net.connect(this.target.port, this.target.host)
    for (const socket of [client, upstream]) {
      this.sockets.add(socket)
      socket.on('close', () => this.sockets.delete(socket))
      socket.on('error', () => {
        client.destroy()
        upstream.destroy()
      })
    }
    client.pipe(upstream).pipe(client)
  }
}
