// What a logged request looks like. Fastify logs each request's URL with its query string, and clients put secrets
// there: a browser's WebSocket carries its session as `?token=`, Google's SDKs send `?key=`, others `?api_key=`.
// The gateway authenticates none of those for the relay, but a client that tries still must not have its secret
// written to the log.

/** Query parameters whose values never reach a log line. */
const SECRET_PARAMS = /([?&](?:key|api[-_]?key|token|access[-_]?token|auth|authorization|password|secret|signature|sig|code)=)[^&#]*/gi

/** `url` with the value of every secret-looking query parameter replaced by `[redacted]`. */
export function redactUrl(url: string): string {
  return url.includes('?') ? url.replace(SECRET_PARAMS, '$1[redacted]') : url
}

interface LoggedRequest {
  method: string
  url: string
  host?: string
  ip?: string
  socket?: { remotePort?: number } | null
}

/** Fastify's default request serializer, with the URL's secrets redacted. */
export function requestForLog(request: LoggedRequest) {
  return {
    method: request.method,
    url: redactUrl(request.url),
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  }
}
