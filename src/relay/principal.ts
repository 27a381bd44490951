// Key auth for `/v1`: runs in onRequest, before the body is read, so a request without a valid key costs the
// gateway no body parsing and gets 401 even when its body is broken. OpenAI's routes take the key as
// `Authorization: Bearer`; Anthropic's `/v1/messages` also as `x-api-key`, as its SDKs send it.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { ApiError } from '../errors.js'
import type { ChannelPool, RelayKeys, RelayPrincipal } from './seams.js'

declare module 'fastify' {
  interface FastifyInstance {
    relayKeys: RelayKeys
    channelPool: ChannelPool
  }
  interface FastifyRequest {
    relayPrincipal: RelayPrincipal | null
  }
}

/** The request's relay key as an `Authorization` value (what RelayKeys.authenticate reads). */
export type KeyCredential = (request: FastifyRequest) => string | undefined

export const bearerCredential: KeyCredential = (request) => request.headers.authorization

/** `x-api-key: sk-…` (Anthropic's SDKs), else `Authorization: Bearer sk-…` (Claude Code with an auth token). */
export const anthropicCredential: KeyCredential = (request) => {
  const key = request.headers['x-api-key']
  return typeof key === 'string' && key ? `Bearer ${key}` : request.headers.authorization
}

/** Decorates the request once; `installKeyAuth` then adds the hook in each context that reads keys its own way. */
export function decorateRelayPrincipal(app: FastifyInstance): void {
  app.decorateRequest('relayPrincipal', null)
}

export function installKeyAuth(app: FastifyInstance, credential: KeyCredential = bearerCredential): void {
  app.addHook('onRequest', async (request) => {
    request.relayPrincipal = await app.relayKeys.authenticate(credential(request), request.ip)
  })
}

export function principalOf(request: FastifyRequest): RelayPrincipal {
  const principal = request.relayPrincipal
  if (!principal) throw new ApiError(401, 'invalid_api_key', 'missing relay key')
  return principal
}
