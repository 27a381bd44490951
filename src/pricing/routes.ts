import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { DEFAULT_PRICE_MODEL } from './service.js'
import {
  GroupParams,
  GroupRatioBody,
  GroupRatioListSchema,
  GroupRatioSchema,
  ModelParams,
  PriceBody,
  PriceListSchema,
  PriceSchema,
} from './schemas.js'

/** `default` and `*` both name the default price (a bare `*` is awkward in many HTTP clients). */
function modelOf(params: { '*': string }): string {
  const model = params['*']
  return model === 'default' ? DEFAULT_PRICE_MODEL : model
}

const admin = { tags: ['pricing'], security: [{ session: [] }] }

const routes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/', { schema: { tags: ['pricing'], response: { 200: PriceListSchema } } }, async () => ({ data: await app.pricing.list() }))

  // Group ratios come first: the static `groups` segment wins over the model wildcard below.
  app.get('/groups', { onRequest: app.requireAdmin, schema: { ...admin, response: { 200: GroupRatioListSchema } } }, async () => ({
    data: app.pricing.listGroups(),
  }))

  app.put(
    '/groups/:name',
    { onRequest: app.requireAdmin, schema: { ...admin, params: GroupParams, body: GroupRatioBody, response: { 200: GroupRatioSchema } } },
    async (request) => app.pricing.setGroupRatio(request.params.name, request.body.ratio),
  )

  app.delete('/groups/:name', { onRequest: app.requireAdmin, schema: { ...admin, params: GroupParams } }, async (request, reply) => {
    await app.pricing.removeGroupRatio(request.params.name)
    return reply.code(204).send()
  })

  // The price a request for this model would be billed at: its admin price, the catalogue's, or the default (`*`).
  app.get('/*', { schema: { tags: ['pricing'], params: ModelParams, response: { 200: PriceSchema } } }, async (request) =>
    app.pricing.effectivePrice(modelOf(request.params)),
  )

  app.put(
    '/*',
    { onRequest: app.requireAdmin, schema: { ...admin, params: ModelParams, body: PriceBody, response: { 200: PriceSchema } } },
    async (request) => app.pricing.setPrice(modelOf(request.params), request.body),
  )

  app.delete('/*', { onRequest: app.requireAdmin, schema: { ...admin, params: ModelParams } }, async (request, reply) => {
    await app.pricing.removePrice(modelOf(request.params))
    return reply.code(204).send()
  })
}

export default routes
