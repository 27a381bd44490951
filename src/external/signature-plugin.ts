import type { FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { errors } from '../errors.js'
import { parseJsonBody } from '../infra/json-body.js'
import { NONCE_TTL_MS, RequestSignatureCheck } from '../security/request-signature.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The JSON body's bytes as received; set on the partner API only, where they are what is signed. */
    rawBody: Buffer | null
  }
}

/** Nonces are single use for this long (CONTRACT §1, EXTERNAL_MAX_SKEW_S). */
export { NONCE_TTL_MS }
/** Partner nonces' namespace in the cache (the signed client requests have their own). */
export const PARTNER_NONCE_NAMESPACE = 'ext-nonce:'
/** Partner bodies are small JSON documents; a tighter limit than the relay's keeps unsigned junk cheap. */
export const PARTNER_BODY_LIMIT_BYTES = 1_048_576

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
    const policy = { maxSkewS: app.config.externalMaxSkewS, nonceNamespace: PARTNER_NONCE_NAMESPACE, cache: app.cache, clock: app.clock }

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
      const check = new RequestSignatureCheck({ ...policy, secret }, request)
      if (request.rawBody !== null) check.addBody(request.rawBody)
      await check.verify()

      if (request.rawBody !== null) request.body = parseJsonBody(request.rawBody.toString('utf8'))
    })
  },
  { name: 'external-signature', dependencies: ['cache'] },
)
