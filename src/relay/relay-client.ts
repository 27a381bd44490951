// Who a relayed request is for. The relay's journey (relay.ts) needs only this of its client: the request's id,
// path and headers, a way to learn that the client left, and where the answer's head and bytes go. `/v1` routes
// use the reply-backed client below (an HTTP response, written as today); the chat (src/chat) brings its own,
// which reads the answer instead of forwarding it. One journey, two kinds of client: never a second copy of it.
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http'
import { clientWriter, endClientResponse, startClientResponse } from './client-response.js'
import type { UpstreamResponse } from './upstream-call.js'

export interface RelayClient {
  /** Sent upstream as `x-request-id` and written to the usage log. */
  readonly requestId: string
  /** The path (and query) the upstream is asked for, e.g. `/v1/chat/completions`. */
  readonly url: string
  /** The client's request headers; upstreamRequestHeaders decides which of them travel on. */
  readonly headers: IncomingHttpHeaders
  /**
   * Calls `listener` once if the client goes away before its answer is complete (the relay then aborts the
   * upstream); returns the unsubscribe. Called at once when the client is already gone.
   */
  onGone(listener: () => void): () => void
  /** The answer's head: the upstream's status and headers; `extra` headers win over the upstream's. */
  start(upstream: UpstreamResponse, extra?: OutgoingHttpHeaders): void
  /** One piece of the body. False asks the upstream to pause; the client then calls `upstream.resume()`. */
  write(chunk: Buffer): boolean
  /**
   * The body is over (`last` is its final piece, if any), however it ended. `failed`: it is incomplete with no
   * way to say so in-band (a non-stream body cut by its upstream): an HTTP client's connection is closed.
   */
  end(last?: Buffer | null, failed?: boolean): void
  /** The client left before any answer started: nothing will be sent to it. */
  abandon(): void
}

/** An HTTP reply as a relay client: the upstream's bytes written straight to the client's socket. */
export function replyClient(request: FastifyRequest, reply: FastifyReply): RelayClient {
  const res = reply.raw
  let writer: { write(chunk: Buffer): boolean } | null = null
  return {
    requestId: request.id,
    url: request.url,
    headers: request.headers,
    onGone(listener) {
      const onClose = (): void => {
        if (!res.writableFinished) listener()
      }
      res.once('close', onClose)
      return () => res.off('close', onClose)
    },
    start(upstream, extra) {
      startClientResponse(reply, upstream, extra)
      writer = clientWriter(reply, upstream)
    },
    write(chunk) {
      return writer ? writer.write(chunk) : true
    },
    end(last, failed) {
      endClientResponse(reply, last, failed)
    },
    abandon() {
      reply.hijack()
    },
  }
}
