// Key auth for `/v1`: runs in onRequest, before the body is read, so a request without a valid key costs the
// gateway no body parsing and gets 401 even when its body is broken.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { ApiError } from '../errors.js'
import type { ChannelPool, Meter, RelayKeys, RelayPrincipal } from './seams.js'

declare module 'fastify' {
  interface FastifyInstance {
    relayKeys: RelayKeys
    channelPool: ChannelPool
    meter: Meter
  }
  interface FastifyRequest {
    relayPrincipal: RelayPrincipal | null
  }
}

export function installKeyAuth(app: FastifyInstance): void {
  app.decorateRequest('relayPrincipal', null)
  app.addHook('onRequest', async (request) => {
    request.relayPrincipal = await app.relayKeys.authenticate(request.headers.authorization, request.ip)
  })
}

export function principalOf(request: FastifyRequest): RelayPrincipal {
  const principal = request.relayPrincipal
  if (!principal) throw new ApiError(401, 'invalid_api_key', 'missing relay key')
  return principal
}
