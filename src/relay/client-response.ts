// The client's side of a relayed response. Once an upstream answer is chosen the reply is hijacked and the
// upstream's chunks are written to the client's response as they come, with backpressure passed back to undici.
import type { FastifyReply } from 'fastify'
import type { OutgoingHttpHeader, OutgoingHttpHeaders } from 'node:http'
import { clientResponseHeaders } from './headers.js'
import type { Usage } from './seams.js'
import { bodyFailureMessage } from './upstream-fault.js'
import type { BodySink, UpstreamResponse } from './upstream-call.js'

/** How a relayed response ended, for billing and metrics. */
export interface RelayResult {
  /** The status the client got. */
  status: number
  usage: Usage | null
  usageSource: 'upstream' | 'counted' | 'none'
  /** Any response byte reached the client. */
  delivered: boolean
  /** Why the body stopped early (client left, upstream cut), or null when it completed. */
  error: string | null
}

/**
 * Writes the upstream's status and filtered headers, plus the gateway's own (x-request-id), which win over
 * `extra`, which wins over the upstream's. One object is filled in that order; nothing is copied twice.
 */
export function startClientResponse(reply: FastifyReply, upstream: UpstreamResponse, extra?: OutgoingHttpHeaders): void {
  // No prototype: an upstream header named like an Object.prototype member is still just a header.
  const headers: OutgoingHttpHeaders = Object.create(null)
  addDefined(headers, reply.getHeaders())
  if (extra) addDefined(headers, extra)
  clientResponseHeaders(upstream.headers, headers)
  reply.hijack()
  reply.raw.writeHead(upstream.status, headers)
}

/** Copies the headers of `from` that have a value and that `to` does not have yet. */
function addDefined(to: OutgoingHttpHeaders, from: Readonly<Record<string, OutgoingHttpHeader | undefined>>): void {
  for (const name in from) {
    const value = from[name]
    if (value !== undefined && to[name] === undefined) to[name] = value
  }
}

/**
 * A sink writing to the client that pauses the upstream while the client's socket is full. `write` returns what
 * `res.write` returned; the drain listener resumes undici.
 */
export function clientWriter(reply: FastifyReply, upstream: UpstreamResponse): { write(chunk: Buffer): boolean } {
  const res = reply.raw
  let waiting = false
  const onDrain = (): void => {
    waiting = false
    upstream.resume()
  }
  return {
    write(chunk) {
      if (res.destroyed) return true
      const ok = res.write(chunk)
      if (!ok && !waiting) {
        waiting = true
        res.once('drain', onDrain)
      }
      return ok
    },
  }
}

/** Pipes the upstream body through `sink`; resolves with why it stopped early, or null when it completed. */
export async function pumpBody(
  upstream: UpstreamResponse,
  sink: BodySink,
  signal: AbortSignal,
): Promise<string | null> {
  let error: string | null = null
  try {
    await upstream.pipeTo(sink)
  } catch (err) {
    // The client keeps what it got: a cut upstream ends the response, a gone client has nothing left to end.
    error = signal.aborted ? 'client closed the request' : bodyFailureMessage(err)
  }
  return error
}

/** `failed`: the body is incomplete and cannot say so in-band, so the connection is closed rather than ended. */
export function endClientResponse(reply: FastifyReply, last?: Buffer | null, failed = false): void {
  const res = reply.raw
  if (res.destroyed || res.writableEnded) return
  if (failed) {
    res.destroy()
    return
  }
  if (last && last.length > 0) res.end(last)
  else res.end()
}
