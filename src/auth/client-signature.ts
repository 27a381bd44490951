import { Transform, pipeline, type Readable } from 'node:stream'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { RequestSignatureCheck, type SignaturePolicy } from '../security/request-signature.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The signature check of a session-authenticated request while CLIENT_SIGNING_SECRET is set, else null. */
    clientSignature: RequestSignatureCheck | null
  }
}

/** Client nonces' namespace in the cache: apart from the partner API's, so the two secrets never collide. */
export const CLIENT_NONCE_NAMESPACE = 'client-nonce:'

/**
 * Whether fastify will read a body for this request (its own rule): never for GET and HEAD (a body sent
 * with them is ignored, so it is not signed either), else when a length or a chunked encoding says so.
 */
function carriesBody(request: FastifyRequest): boolean {
  if (request.method === 'GET' || request.method === 'HEAD') return false
  const length = request.headers['content-length']
  return request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0')
}

/**
 * Signed client requests (CONTRACT §1 CLIENT_SIGNING_SECRET): the partner API's signature (§5, the same
 * RequestSignatureCheck) on every request that passed `requireUser` / `requireAdmin`, the chat WebSocket's
 * upgrade included. Installed on the root instance by the guards plugin; returns what the guards call
 * once the session is known. With no secret it installs nothing and the returned function does nothing.
 *
 * Order on a request:
 * 1. onRequest, in the guard, right after the session check: the three headers present and well formed,
 *    else 401 `invalid_signature` before a byte of the body is read.
 * 2. preParsing: the raw body bytes are fed to the HMAC as they stream in (BODY = the exact bytes sent,
 *    as for partners); nothing is kept, whatever the body's size.
 * 3. preValidation (after parsing, before the schema runs): signature → skew → nonce first use. A body
 *    that is not JSON is refused by the parser (400) before step 3; nothing has changed either way.
 */
export function installClientSigning(app: FastifyInstance): (request: FastifyRequest) => void {
  app.decorateRequest('clientSignature', null)
  const secret = app.config.clientSigningSecret
  if (!secret) return () => {}
  const policy: SignaturePolicy = {
    secret,
    maxSkewS: app.config.externalMaxSkewS,
    nonceNamespace: CLIENT_NONCE_NAMESPACE,
    cache: app.cache,
    clock: app.clock,
  }

  app.addHook('preParsing', (request, _reply, payload, done) => {
    const check = request.clientSignature
    if (check === null || !carriesBody(request)) {
      done(null, payload)
      return
    }
    const tap = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        check.addBody(chunk)
        callback(null, chunk)
      },
    })
    // A source error (client gone, aborted upload) reaches the body reader through the tap.
    pipeline(payload as Readable, tap, () => {})
    done(null, tap)
  })

  app.addHook('preValidation', (request, _reply, done) => {
    const check = request.clientSignature
    if (check === null) {
      done()
      return
    }
    request.clientSignature = null
    check.verify().then(() => done(), done)
  })

  return (request) => {
    request.clientSignature = new RequestSignatureCheck(policy, request)
  }
}
