// An undici interceptor for upstreams chosen by users (personal APIs, CONTRACT §7): an error response (status
// ≥ 400) is held back, cut to a safe length and stripped of anything key-like before the relay or the test call
// sees it — whichever way it then goes (relayed as is, or read for its message). Success bodies pass untouched,
// chunk by chunk: the stream path is not slowed by this.
import type { IncomingHttpHeaders } from 'node:http'
import { DecoratorHandler, type Dispatcher } from 'undici'
import { cutText, redactKeys } from '../security/redact-keys.js'

/** What of an error body is kept (bytes); longer bodies are cut. */
export const ERROR_BODY_LIMIT = 4 * 1024
/** An error body still flowing past this is not waited for: the upstream request is stopped. */
const ERROR_BODY_DISCARD_LIMIT = 256 * 1024
/** The message of an error body that is not JSON is cut to this many characters. */
const TEXT_MESSAGE_LIMIT = 1_000

class ErrorBodyCut extends Error {
  readonly code = 'NEXUS_ERROR_BODY_CUT'
}

/** The upstream key this request carries, so it can be cut out of the answer whatever form the upstream quotes. */
function keyOf(headers: Dispatcher.DispatchOptions['headers']): string | null {
  if (!headers || Array.isArray(headers) || typeof (headers as Iterable<unknown>)[Symbol.iterator] === 'function') return null
  const h = headers as Record<string, string | string[] | undefined>
  for (const name of ['authorization', 'x-api-key', 'x-goog-api-key']) {
    const value = h[name]
    if (typeof value === 'string' && value) return value.replace(/^Bearer\s+/i, '')
  }
  return null
}

/** Every string of a parsed JSON value, redacted. */
function redactJson(value: unknown, key: string | null): unknown {
  if (typeof value === 'string') return redactKeys(value, key)
  if (Array.isArray(value)) return value.map((v) => redactJson(v, key))
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactJson(v, key)]))
  }
  return value
}

/**
 * The body the client gets instead: the upstream's JSON with every string redacted when it was whole, valid
 * and small enough; otherwise OpenAI's error object around the redacted, cut text.
 */
export function cleanErrorBody(raw: Buffer, complete: boolean, encoded: boolean, status: number, key: string | null): Buffer {
  if (!encoded && complete) {
    try {
      const cleaned = Buffer.from(JSON.stringify(redactJson(JSON.parse(raw.toString('utf8')), key)), 'utf8')
      if (cleaned.length <= ERROR_BODY_LIMIT) return cleaned
    } catch {
      // not JSON: wrapped below
    }
  }
  const text = encoded ? '' : cutText(redactKeys(raw.toString('utf8').trim(), key), TEXT_MESSAGE_LIMIT)
  const message = text || `upstream answered ${status}`
  return Buffer.from(JSON.stringify({ error: { message, type: 'upstream_error', code: null, param: null } }), 'utf8')
}

interface ResponseCallbacks {
  onResponseStart(controller: Dispatcher.DispatchController, status: number, headers: IncomingHttpHeaders, statusMessage?: string): void
  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void
  onResponseEnd(controller: Dispatcher.DispatchController, trailers: IncomingHttpHeaders): void
  onResponseError(controller: Dispatcher.DispatchController, err: Error): void
}
/**
 * undici's DecoratorHandler passes every callback on in the controller API and adapts handlers written against
 * the older one (undici's own `request()`), so any caller may use this dispatcher; its typings omit the methods.
 */
const PassOn = DecoratorHandler as unknown as new (handler: Dispatcher.DispatchHandler) => ResponseCallbacks

class ErrorBodyGuard extends PassOn {
  private held: { status: number; headers: IncomingHttpHeaders; statusMessage?: string } | null = null
  private readonly parts: Buffer[] = []
  private kept = 0
  private seen = 0

  constructor(
    private readonly key: string | null,
    handler: Dispatcher.DispatchHandler,
  ) {
    super(handler)
  }

  override onResponseStart(controller: Dispatcher.DispatchController, status: number, headers: IncomingHttpHeaders, statusMessage?: string): void {
    if (status < 400) return super.onResponseStart(controller, status, headers, statusMessage)
    this.held = { status, headers, statusMessage }
  }

  override onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.held) return super.onResponseData(controller, chunk)
    this.seen += chunk.length
    if (this.kept < ERROR_BODY_LIMIT) {
      const part = chunk.subarray(0, ERROR_BODY_LIMIT - this.kept)
      this.parts.push(part)
      this.kept += part.length
    }
    if (this.seen > ERROR_BODY_DISCARD_LIMIT) controller.abort(new ErrorBodyCut('error body too long'))
  }

  override onResponseEnd(controller: Dispatcher.DispatchController, trailers: IncomingHttpHeaders): void {
    if (!this.held) return super.onResponseEnd(controller, trailers)
    this.release(controller, this.seen === this.kept)
    super.onResponseEnd(controller, {})
  }

  override onResponseError(controller: Dispatcher.DispatchController, err: Error): void {
    // Our own cut of a long error body: the client still gets the error, shortened.
    if (this.held && err instanceof ErrorBodyCut) {
      this.release(controller, false)
      return super.onResponseEnd(controller, {})
    }
    super.onResponseError(controller, err)
  }

  /** Hands the held head and the cleaned body to the handler it guards. */
  private release(controller: Dispatcher.DispatchController, complete: boolean): void {
    const { status, headers, statusMessage } = this.held!
    const encoding = String(headers['content-encoding'] ?? 'identity').toLowerCase()
    const body = cleanErrorBody(Buffer.concat(this.parts), complete, encoding !== 'identity', status, this.key)
    const out: IncomingHttpHeaders = { ...headers }
    delete out['content-encoding']
    delete out['transfer-encoding']
    out['content-type'] = 'application/json'
    out['content-length'] = String(body.length)
    super.onResponseStart(controller, status, out, statusMessage)
    super.onResponseData(controller, body)
  }
}

/** The interceptor (`agent.compose(guardErrorBodies)`). */
export const guardErrorBodies: Dispatcher.DispatcherComposeInterceptor = (dispatch) => (opts, handler) =>
  dispatch(opts, new ErrorBodyGuard(keyOf(opts.headers), handler))
