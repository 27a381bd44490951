import { randomBytes } from 'node:crypto'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { canonicalString, sign } from '../../src/external/signature.js'

export const SECRET = 'nexus-partner-test-secret-0001'
export const PARTNER_ENV = { EXTERNAL_API_SECRET: SECRET }

export interface SignedRequest {
  method: 'GET' | 'POST'
  /** path with its query string, as sent */
  url: string
  /** an object is serialised once; a string is sent byte for byte */
  body?: unknown
  /** unix seconds; defaults to the app's clock */
  timestamp?: string
  nonce?: string
  secret?: string
  /** replaces the computed signature */
  signature?: string
  /** the body actually sent, when a test wants it to differ from the signed one */
  sentBody?: string
  headers?: Record<string, string>
}

export function freshNonce(): string {
  return randomBytes(12).toString('hex')
}

/** The headers a partner sends for this request. */
export function signHeaders(app: FastifyInstance, req: SignedRequest & { rawBody: string }): Record<string, string> {
  const timestamp = req.timestamp ?? String(Math.floor(app.clock.now() / 1000))
  const nonce = req.nonce ?? freshNonce()
  const q = req.url.indexOf('?')
  const canonical = canonicalString({
    method: req.method,
    path: q === -1 ? req.url : req.url.slice(0, q),
    query: q === -1 ? undefined : req.url.slice(q + 1),
    timestamp,
    nonce,
    body: req.rawBody,
  })
  return {
    'x-timestamp': timestamp,
    'x-nonce': nonce,
    'x-signature': req.signature ?? sign(req.secret ?? SECRET, canonical),
  }
}

/** Signs and injects one partner API request, as a partner's client would send it. */
export function signed(app: FastifyInstance, req: SignedRequest): Promise<LightMyRequestResponse> {
  const rawBody = req.body === undefined ? '' : typeof req.body === 'string' ? req.body : JSON.stringify(req.body)
  const headers: Record<string, string> = { ...signHeaders(app, { ...req, rawBody }), ...req.headers }
  const payload = req.sentBody ?? rawBody
  if (payload !== '') headers['content-type'] ??= 'application/json'
  return app.inject({ method: req.method, url: req.url, headers, payload: payload === '' ? undefined : payload })
}
