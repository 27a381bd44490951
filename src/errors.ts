import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { CacheUnavailableError } from './cache/cache.js'

/**
 * Every error the gateway answers with, and the one handler that renders OpenAI's error object
 * (CONTRACT §2). One class with a catalogue of constructors rather than a class per error: the
 * OpenAI shape needs a per-instance `param`, and the `type` follows from the status.
 */
export type ErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'insufficient_quota'
  | 'rate_limit_error'
  | 'api_error'
  | 'upstream_error'

export interface OpenAIErrorBody {
  error: { message: string; type: ErrorType; code: string | null; param: string | null }
}

export function typeForStatus(status: number): ErrorType {
  if (status === 401) return 'authentication_error'
  if (status === 403) return 'permission_error'
  if (status === 429) return 'rate_limit_error'
  if (status === 502 || status === 504) return 'upstream_error'
  if (status >= 500) return 'api_error'
  return 'invalid_request_error'
}

interface ApiErrorOptions {
  param?: string | null
  type?: ErrorType
  /** false → `x-should-retry: false`; defaults to false for 401, 403, 404. */
  retry?: boolean
  headers?: Record<string, string>
  cause?: unknown
}

export class ApiError extends Error {
  readonly statusCode: number
  readonly code: string | null
  readonly type: ErrorType
  readonly param: string | null
  readonly retry: boolean
  readonly headers: Record<string, string>

  constructor(statusCode: number, code: string | null, message: string, opts: ApiErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause })
    this.name = 'ApiError'
    this.statusCode = statusCode
    this.code = code
    this.type = opts.type ?? typeForStatus(statusCode)
    this.param = opts.param ?? null
    this.retry = opts.retry ?? ![401, 403, 404].includes(statusCode)
    this.headers = opts.headers ?? {}
  }

  toJSON(): OpenAIErrorBody {
    return { error: { message: this.message, type: this.type, code: this.code, param: this.param } }
  }
}

/** The catalogue: constructors for the errors named in the contract. */
export const errors = {
  invalidRequest: (message: string, param?: string) => new ApiError(400, 'invalid_request', message, { param }),
  notFound: (what = 'resource') => new ApiError(404, 'not_found', `${what} not found`),
  conflict: (code: string, message: string, param?: string) => new ApiError(409, code, message, { param }),
  bodyTooLarge: (limit: number) =>
    new ApiError(413, 'body_too_large', `request body exceeds the limit of ${limit} bytes`),
  unauthorized: (code: string, message: string) => new ApiError(401, code, message),
  forbidden: (code: string, message: string) => new ApiError(403, code, message),
  insufficientQuota: (message: string) =>
    new ApiError(429, 'insufficient_quota', message, { type: 'insufficient_quota', retry: false }),
  rateLimited: (code: string, message: string, retryAfterS: number) =>
    new ApiError(429, code, message, { headers: { 'retry-after': String(Math.max(1, Math.ceil(retryAfterS))) } }),
  unavailable: (code: string, message: string) => new ApiError(503, code, message),
  internal: () => new ApiError(500, 'internal_error', 'internal server error'),
}

function fromFastifyError(err: FastifyError): ApiError {
  if (err.validation) {
    const first = err.validation[0]
    const missing = first?.params && 'missingProperty' in first.params ? String(first.params.missingProperty) : ''
    const additional =
      first?.params && 'additionalProperty' in first.params ? String(first.params.additionalProperty) : ''
    const path = (first?.instancePath ?? '').replace(/^\//, '').replace(/\//g, '.')
    const param = [path, missing || additional].filter(Boolean).join('.') || undefined
    const message = additional
      ? `unknown field '${param}'`
      : `${param ? `'${param}' ` : ''}${first?.message ?? 'is invalid'}`.trim()
    return errors.invalidRequest(`invalid ${err.validationContext ?? 'body'}: ${message}`, param)
  }
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ApiError(413, 'body_too_large', 'request body is too large')
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_TYPE':
      return errors.invalidRequest('request body is not valid JSON')
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ApiError(415, 'unsupported_media_type', 'unsupported content type')
  }
  const status = err.statusCode ?? 500
  if (status >= 500) return errors.internal()
  return new ApiError(status, err.code?.toLowerCase() ?? null, err.message)
}

export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err
  if (err instanceof CacheUnavailableError) return errors.unavailable('cache_unavailable', 'a backing service is unavailable; try again shortly')
  if (err instanceof Error && ('statusCode' in err || 'validation' in err || 'code' in err)) {
    return fromFastifyError(err as FastifyError)
  }
  return errors.internal()
}

/** `body` is the error in the client's format: OpenAI's error object unless a route speaks another (Anthropic's). */
export function sendError(reply: FastifyReply, error: ApiError, body: unknown = error.toJSON()): FastifyReply {
  if (!error.retry) reply.header('x-should-retry', 'false')
  for (const [name, value] of Object.entries(error.headers)) reply.header(name, value)
  return reply.code(error.statusCode).type('application/json; charset=utf-8').send(body)
}

/** Logs what an error handler answers with: a 5xx's detail goes to the log only (its body never carries internals). */
export function logRequestError(request: FastifyRequest, err: unknown, apiError: ApiError): void {
  if (apiError.statusCode >= 500 && !(err instanceof ApiError && err.type === 'upstream_error')) {
    request.log.error({ err }, 'request failed')
  } else if (apiError.statusCode >= 500) {
    request.log.warn({ err: { message: apiError.message, code: apiError.code } }, 'upstream failed')
  }
}

/** Installs the error and not-found handlers on the root instance. */
export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const apiError = toApiError(err)
    logRequestError(request, err, apiError)
    return sendError(reply, apiError)
  })
  app.setNotFoundHandler((request, reply) =>
    sendError(reply, new ApiError(404, 'not_found', `no route for ${request.method} ${request.url.split('?')[0]}`)),
  )
}

/**
 * Errors Node raises before a request reaches fastify (a client too slow to send its request, headers too large,
 * malformed HTTP), answered in the same OpenAI error shape as everything else, then the socket is closed.
 */
export function clientErrorHandler(err: NodeJS.ErrnoException, socket: import('node:stream').Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return
  const [status, code, message] =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'request_timeout', 'the request was not received in time']
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'headers_too_large', 'request headers are too large']
        : [400, 'bad_request', 'malformed HTTP request']
  const body = JSON.stringify(new ApiError(status, code, message).toJSON())
  const reason = status === 408 ? 'Request Timeout' : status === 431 ? 'Request Header Fields Too Large' : 'Bad Request'
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${reason}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n${body}`,
    )
  }
  socket.destroy(err)
}

/**
 * Fastify's `frameworkErrors` option: errors its router raises before any hook runs — a path that does not
 * decode (`/v1/models/%ED%A0%80`, invalid UTF-8) or a parameter past `maxParamLength` — answered in the OpenAI
 * error shape with the request id, instead of fastify's own `{error: "Bad Request", statusCode}` body
 * (found by test/security/hostile-input.test.ts).
 */
export function frameworkErrorHandler(err: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  reply.header('x-request-id', request.id)
  const apiError =
    err.code === 'FST_ERR_BAD_URL'
      ? errors.invalidRequest('the request path is not a valid URL component')
      : err.code === 'FST_ERR_MAX_PARAM_LENGTH'
        ? new ApiError(414, 'uri_too_long', 'a path parameter is too long')
        : toApiError(err)
  logRequestError(request, err, apiError)
  return sendError(reply, apiError)
}
