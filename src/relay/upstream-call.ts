// One request to an upstream through undici's `dispatch`, not `request`: the relay gets the response head as soon
// as it arrives and then the body's own Buffers, which it writes straight to the client's socket. No Node stream
// sits in between (STYLE.md measured piping a body stream as the costly part of a relay).
import type { IncomingHttpHeaders } from 'node:http'
import type { Readable } from 'node:stream'
import type { Dispatcher } from 'undici'

export interface UpstreamRequest {
  url: URL
  method: 'GET' | 'POST'
  headers: Record<string, string>
  body: Buffer | Readable | null
  /** No response head by then → `UND_ERR_HEADERS_TIMEOUT`. */
  headersTimeoutMs: number
}

/** Receives the body: return false to ask for a pause; call `resume()` once the client drained. */
export interface BodySink {
  data(chunk: Buffer): boolean
}

export interface UpstreamResponse {
  status: number
  headers: IncomingHttpHeaders
  /** Delivers the body to `sink`; resolves at its end, rejects when the upstream fails or the request is aborted. */
  pipeTo(sink: BodySink): Promise<void>
  /** Continues a paused body. */
  resume(): void
  /** Reads the whole body, for small answers (errors, JSON). Over `limit` bytes the upstream is dropped. */
  read(limit: number): Promise<Buffer>
  /** Discards a body the relay will not forward, so the connection goes back to the pool (or is closed). */
  dump(): void
  /** Stops the upstream request (the body's pipe rejects with `reason`). */
  abort(reason: Error): void
}

export interface CallOptions {
  /** No body bytes for this long → the body fails with `UND_ERR_BODY_TIMEOUT` (UPSTREAM_IDLE_TIMEOUT_MS). */
  bodyTimeoutMs?: number
  /** The body failed after its head arrived (cut, reset, idle, or aborted by the gateway: `err` says which). */
  onBodyError?(err: Error): void
}

/** Bodies discarded beyond this size are not worth draining: the connection is closed instead. */
const DUMP_LIMIT = 128 * 1024

class BodyTooLongError extends Error {
  readonly code = 'NEXUS_UPSTREAM_BODY_TOO_LONG'
}

/**
 * Dispatches `req` and resolves with the response head. Aborting `signal` aborts the upstream request at any
 * point, before or after the head; wire it to the client's socket before calling this.
 */
export function callUpstream(
  dispatcher: Dispatcher,
  req: UpstreamRequest,
  signal: AbortSignal,
  opts: CallOptions = {},
): Promise<UpstreamResponse> {
  return new Promise<UpstreamResponse>((resolveHead, rejectHead) => {
    let controller: Dispatcher.DispatchController | null = null
    let headSeen = false
    let sink: BodySink | null = null
    const early: Buffer[] = []
    let ended = false
    let failure: Error | null = null
    let settleBody: { resolve: () => void; reject: (err: Error) => void } | null = null

    const onAbort = (): void => {
      const reason = signal.reason instanceof Error ? signal.reason : new Error('client closed the request')
      controller?.abort(reason)
    }
    if (signal.aborted) {
      rejectHead(signal.reason instanceof Error ? signal.reason : new Error('aborted'))
      return
    }
    signal.addEventListener('abort', onAbort, { once: true })
    const done = (): void => signal.removeEventListener('abort', onAbort)

    const finishBody = (): void => {
      if (!settleBody) return
      const { resolve, reject } = settleBody
      settleBody = null
      if (failure) reject(failure)
      else resolve()
    }

    const response = (status: number, headers: IncomingHttpHeaders): UpstreamResponse => ({
      status,
      headers,
      pipeTo(target) {
        sink = target
        return new Promise<void>((resolve, reject) => {
          settleBody = { resolve, reject }
          let sinkFull = false
          for (const chunk of early.splice(0)) {
            if (!target.data(chunk)) sinkFull = true
          }
          if (ended || failure) finishBody()
          // A full sink resumes the body itself once the client drained.
          else if (!sinkFull) controller?.resume()
        })
      },
      resume() {
        controller?.resume()
      },
      read(limit) {
        const parts: Buffer[] = []
        let size = 0
        return this.pipeTo({
          data(chunk) {
            size += chunk.length
            if (size > limit) controller?.abort(new BodyTooLongError(`upstream body over ${limit} bytes`))
            else parts.push(chunk)
            return true
          },
        }).then(() => Buffer.concat(parts))
      },
      dump() {
        let size = 0
        this.pipeTo({
          data(chunk) {
            size += chunk.length
            if (size > DUMP_LIMIT) controller?.abort(new BodyTooLongError('discarded body too long'))
            return true
          },
        }).catch(() => {
          // A discarded body that fails changes nothing for the client.
        })
      },
      abort(reason) {
        controller?.abort(reason)
      },
    })

    const handler: Dispatcher.DispatchHandler = {
      onRequestStart(ctrl) {
        controller = ctrl
        if (signal.aborted) onAbort()
      },
      onResponseStart(ctrl, status, headers) {
        if (status < 200) return
        headSeen = true
        // Held until the relay decides what to do with this response, so no chunk arrives before it has a sink.
        ctrl.pause()
        resolveHead(response(status, headers))
      },
      onResponseData(ctrl, chunk) {
        if (sink) {
          if (!sink.data(chunk)) ctrl.pause()
        } else {
          early.push(chunk)
          ctrl.pause()
        }
      },
      onResponseEnd() {
        ended = true
        done()
        finishBody()
      },
      onResponseError(_ctrl, err) {
        failure = err
        done()
        if (!headSeen) rejectHead(err)
        else {
          opts.onBodyError?.(err)
          finishBody()
        }
      },
    }

    try {
      dispatcher.dispatch(
        {
          origin: req.url.origin,
          path: req.url.pathname + req.url.search,
          method: req.method,
          headers: req.headers,
          body: req.body,
          headersTimeout: req.headersTimeoutMs,
          // undici's body timeout is the silence between two chunks; it does not run while the relay has paused
          // the body for a slow client.
          bodyTimeout: opts.bodyTimeoutMs,
        },
        handler,
      )
    } catch (err) {
      done()
      rejectHead(err instanceof Error ? err : new Error(String(err)))
    }
  })
}
