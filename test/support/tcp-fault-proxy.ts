// A TCP pass-through to a shared server (MySQL, Redis) that a test can cut and restore on the same port: the
// process behind it sees exactly what it would if the server itself were stopped or restarted, while the shared
// server — and everyone else's tests on it — is never touched. Used for Redis outages (test/cache) and for MySQL and
// Redis faults under load (test/reliability), with a count of what went through it.
import net from 'node:net'

export class TcpFaultProxy {
  private readonly server: net.Server
  private readonly sockets = new Set<net.Socket>()
  private readonly clientSockets = new Set<net.Socket>()
  port = 0
  /** Client connections accepted so far (a reconnecting pool shows here). */
  accepted = 0
  /** Connections dropped by `down()`. */
  dropped = 0

  constructor(private readonly target: { host: string; port: number }) {
    this.server = net.createServer((client) => this.relay(client))
  }

  /** Listens on a fresh loopback port the first time, and on the same port afterwards. */
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

  /** As a server stopping: new connections are refused and every open one is dropped. */
  async down(): Promise<void> {
    if (!this.server.listening) return
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()))
    this.dropped += this.clients()
    for (const socket of this.sockets) socket.destroy()
    this.sockets.clear()
    await closed
  }

  /** Client connections open now. */
  clients(): number {
    return this.clientSockets.size
  }

  /** `url` (mysql://, redis://) with its host and port pointing at this proxy. */
  rewrite(url: string): string {
    const u = new URL(url)
    u.hostname = '127.0.0.1'
    u.port = String(this.port)
    return u.toString()
  }

  private relay(client: net.Socket): void {
    this.accepted += 1
    const upstream = net.connect(this.target.port, this.target.host)
    this.clientSockets.add(client)
    client.on('close', () => this.clientSockets.delete(client))
    for (const socket of [client, upstream]) {
      this.sockets.add(socket)
      socket.on('close', () => this.sockets.delete(socket))
      socket.on('error', () => {
        client.destroy()
        upstream.destroy()
      })
    }
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
    client.pipe(upstream).pipe(client)
  }
}
