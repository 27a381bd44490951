// What the client sees when an upstream fails after its response head (nginx's rule: retry only before any byte
// was sent, so past the head there is no failover): a stream ends with an SSE error event the client's SDK can
// read, then `[DONE]`; a non-stream answer whose body never started becomes a 504 / 502 of its own; one that was
// half sent is cut (the connection is closed) so it can never pass for a whole answer.
import { ApiError } from '../errors.js'
import type { RelayEndpoint } from './request.js'

/** The usage log's `error` for a body silent past UPSTREAM_IDLE_TIMEOUT_MS. */
export const UPSTREAM_IDLE_ERROR = 'upstream sent no data within UPSTREAM_IDLE_TIMEOUT_MS'

/** Why a body stopped, for the usage log (`pumpBody`). */
export function bodyFailureMessage(err: unknown): string {
  const code = typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : ''
  if (code === 'UND_ERR_BODY_TIMEOUT') return UPSTREAM_IDLE_ERROR
  return `upstream body failed: ${err instanceof Error ? err.message : String(err)}`
}

/** A non-stream body that failed before its first byte: the client gets a plain error instead. */
export function bodyFailureError(error: string): ApiError {
  if (error === UPSTREAM_IDLE_ERROR) {
    return new ApiError(504, 'upstream_timeout', 'the upstream sent no response body in time', { type: 'upstream_error' })
  }
  return new ApiError(502, 'upstream_error', 'the upstream failed before sending its response body', { type: 'upstream_error' })
}

/** The events that end a stream whose upstream was cut or went silent: an error, then `[DONE]`. */
export function upstreamFailedEnding(endpoint: RelayEndpoint, error: string): Buffer {
  const idle = error === UPSTREAM_IDLE_ERROR
  const code = idle ? 'upstream_timeout' : 'upstream_error'
  const message = idle
    ? 'the upstream sent nothing for longer than the idle timeout; the stream was ended'
    : 'the upstream connection failed mid-stream; the stream was ended'
  if (endpoint.kind === 'passthrough') {
    // The Responses API's own error event; that API has no [DONE].
    return Buffer.from(`event: error\ndata: ${JSON.stringify({ type: 'error', code, message, param: null })}\n\n`)
  }
  const body = JSON.stringify({ error: { message, type: 'upstream_error', code, param: null } })
  return Buffer.from(`data: ${body}\n\ndata: [DONE]\n\n`)
}
