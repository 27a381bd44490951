import type { FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { errors } from '../errors.js'
import { parseJsonBody } from '../infra/json-body.js'
import { canonicalString, verifySignature } from './signature.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The JSON body's bytes as received; set on the partner API only, where they are what is signed. */
    rawBody: Buffer | null
  }
}

/** Nonces are single use for this long (CONTRACT §1, EXTERNAL_MAX_SKEW_S). */
export const NONCE_TTL_MS = 600_000
/** Partner bodies are small JSON documents; a tighter limit than the relay's keeps unsigned junk cheap. */
export const PARTNER_BODY_LIMIT_BYTES = 1_048_576

const TIMESTAMP = /^\d{1,12}$/
// No '&' (nor space): a nonce that could hold '&' could absorb the QUERY part of a signed request,
// giving the same string to sign under a "new" nonce, i.e. a replay.
const NONCE = /^[A-Za-z0-9._~+/=:-]{8,64}$/

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name]
  return typeof value === 'string' ? value : undefined
}

const badSignature = (message: string) => errors.unauthorized('invalid_signature', message)

/**
 * The partner API's guard, registered inside the external routes' own (encapsulated) context so
 * it touches nothing else. Order, and why:
 * 1. onRequest: no secret configured → 503 `external_api_disabled`, before any body is read.
 * 2. parsing: the JSON parser keeps the raw bytes and does NOT parse them; any other content type → 415.
 * 3. preValidation: headers well formed → signature over the raw bytes (401 `invalid_signature`) →
 *    timestamp within the skew (401 `stale_timestamp`) → nonce first use (401 `nonce_reused`; only
 *    now, so unsigned requests cannot burn a partner's nonces) → the app's JSON parsing (400 when
 *    broken, nested deeper than 64 levels or poisoned; a broken body with a bad signature is 401
 *    first) → schema validation runs on the parsed body.
 */
export default fp(
  async (app) => {
    app.decorateRequest('rawBody', null)

    app.addHook('onRequest', async () => {
      if (!app.config.externalApiSecret) {
        throw errors.unavailable('external_api_disabled', 'the partner API is disabled: EXTERNAL_API_SECRET is not set')
      }
    })

    app.removeAllContentTypeParsers()
    app.addContentTypeParser(
      'application/json',
      { parseAs: 'buffer', bodyLimit: PARTNER_BODY_LIMIT_BYTES },
      (request: FastifyRequest, body: Buffer | string, done: (err: Error | null, body?: unknown) => void) => {
        request.rawBody = typeof body === 'string' ? Buffer.from(body, 'utf8') : body
        done(null, undefined)
      },
    )

    app.addHook('preValidation', async (request) => {
      const secret = app.config.externalApiSecret
      if (!secret) throw errors.unavailable('external_api_disabled', 'the partner API is disabled')
      const timestamp = header(request, 'x-timestamp')
      const nonce = header(request, 'x-nonce')
      const signature = header(request, 'x-signature')
      if (timestamp === undefined || nonce === undefined || signature === undefined) {
        throw badSignature('X-Timestamp, X-Nonce and X-Signature are required')
      }
      if (!TIMESTAMP.test(timestamp)) throw badSignature('X-Timestamp must be unix seconds')
      if (!NONCE.test(nonce)) throw badSignature('X-Nonce must be 8-64 characters of [A-Za-z0-9._~+/=:-]')

      const queryStart = request.url.indexOf('?')
      const canonical = canonicalString({
        method: request.method,
        path: queryStart === -1 ? request.url : request.url.slice(0, queryStart),
        timestamp,
        nonce,
        query: queryStart === -1 ? undefined : request.url.slice(queryStart + 1),
        body: request.rawBody ?? undefined,
      })
      if (!verifySignature(secret, canonical, signature)) throw badSignature('the request signature does not match')

      const skewS = Math.abs(Math.floor(app.clock.now() / 1000) - Number(timestamp))
      if (skewS > app.config.externalMaxSkewS) {
        throw errors.unauthorized('stale_timestamp', `X-Timestamp is more than ${app.config.externalMaxSkewS} s from the server's clock`)
      }
      if (!(await app.cache.setIfAbsent(`ext-nonce:${nonce}`, '1', NONCE_TTL_MS))) {
        throw errors.unauthorized('nonce_reused', 'this X-Nonce was already used; sign the request again with a new nonce')
      }

      if (request.rawBody !== null) request.body = parseJsonBody(request.rawBody.toString('utf8'))
    })
  },
  { name: 'external-signature', dependencies: ['cache'] },
)
