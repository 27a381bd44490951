// `GET /v1/models`: what this key can actually use — the models an enabled channel of its group serves,
// narrowed to the token's allowed models when it has a list.
import type { FastifyInstance } from 'fastify'
import { ApiError } from '../errors.js'
import type { RelayPrincipal } from './seams.js'

export interface ModelObject {
  id: string
  object: 'model'
  created: number
  owned_by: string
}

/**
 * OpenAI's model objects carry a creation time the gateway does not know; a fixed one keeps the list
 * stable across instances and restarts (2024-01-01T00:00:00Z).
 */
const CREATED = 1704067200
const OWNER = 'nexus-api'

export function modelsFor(app: FastifyInstance, principal: RelayPrincipal): ModelObject[] {
  const served = app.channelPool.modelsForGroup(principal.group)
  const allowed = principal.token.models
  const ids = allowed.length > 0 ? served.filter((id) => allowed.includes(id)) : served
  return ids.map((id) => ({ id, object: 'model', created: CREATED, owned_by: OWNER }))
}

export function modelFor(app: FastifyInstance, principal: RelayPrincipal, id: string): ModelObject {
  const model = modelsFor(app, principal).find((m) => m.id === id)
  if (!model) {
    throw new ApiError(404, 'model_not_found', `The model '${id}' does not exist or you do not have access to it.`, {
      param: 'model',
    })
  }
  return model
}
