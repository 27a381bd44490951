// WebSocket upgrades have two owners in one server: the realtime relay (@fastify/http-proxy, which listens for
// upgrades itself and takes only those under its prefix) and @fastify/websocket (`/ws/chat`, and the 404 of any
// other path). @fastify/websocket routes EVERY upgrade it hears, so if both heard `/v1/realtime` the request would
// be routed twice on one socket (key checks, rate limit and handshake twice). It therefore listens on this
// emitter instead of the server, which passes on every upgrade except the realtime relay's.
import { EventEmitter } from 'node:events'
import type { Server } from 'node:http'
import type { Duplex } from 'node:stream'

/** The realtime relay's path: the proxy owns it and anything below it, exactly as the proxy itself decides. */
export const REALTIME_PATH = '/v1/realtime'

export function ownedByRealtime(url: string | undefined): boolean {
  const path = (url ?? '').split('?', 1)[0] ?? ''
  return path === REALTIME_PATH || path.startsWith(`${REALTIME_PATH}/`)
}

/**
 * An emitter of the server's upgrades that the realtime relay does not own; `detach` stops the forwarding
 * (call it when the server closes).
 */
export function upgradesBesideRealtime(server: Server): { emitter: EventEmitter; detach(): void } {
  const emitter = new EventEmitter()
  const forward = (...args: unknown[]) => {
    const request = args[0] as { url?: string }
    if (ownedByRealtime(request.url)) return
    // The server keeps sockets half-open (allowHalfOpen): an upgrade answered with an HTTP error outside
    // @fastify/websocket's own routes (a 404) was never ended, and held server.close() for ever. A client that has
    // ended its side gets ours ended too, as ws does for the sockets it owns.
    const socket = args[1] as Duplex
    socket.once('end', () => socket.end())
    emitter.emit('upgrade', ...args)
  }
  server.on('upgrade', forward)
  return { emitter, detach: () => server.off('upgrade', forward) }
}
