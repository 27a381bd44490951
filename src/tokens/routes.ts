import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { authOf } from '../auth/guards.js'
import { CreateTokenBody, ListTokensQuery, TokenIdParams, TokenList, TokenSchema, UpdateTokenBody } from './schemas.js'
import type { TokenInput } from './service.js'

/** The REST body's fields in domain terms; create and update share all but `status`. */
function tokenInput(body: CreateTokenBody | UpdateTokenBody): TokenInput {
  return {
    name: body.name,
    expiresAt: body.expires_at === undefined ? undefined : body.expires_at === null ? null : new Date(body.expires_at),
    unlimitedQuota: body.unlimited_quota,
    remainQuota: body.remain_quota,
    models: body.models,
    allowIps: body.allow_ips,
    group: body.group,
    rateLimitRpm: body.rate_limit_rpm,
    personalApiId: body.personal_api_id,
  }
}

/** CONTRACT §5 "Relay tokens", mounted at /api/token. Users see their own tokens; admins everyone's. */
const routes: FastifyPluginAsyncTypebox = async (app) => {
  const common = { tags: ['tokens'], security: [{ session: [] }] }
  app.addHook('onRequest', app.requireUser)

  app.post('/', { schema: { ...common, body: CreateTokenBody, response: { 201: TokenSchema } } }, async (request, reply) => {
    const actor = authOf(request).user
    const body = request.body
    app.tokens.assertGroupAllowed(actor, body.group)
    const created = await app.tokens.create(actor.id, tokenInput(body))
    return reply.code(201).send(created.token)
  })

  app.get('/', { schema: { ...common, querystring: ListTokensQuery, response: { 200: TokenList } } }, async (request) =>
    app.tokens.list(authOf(request).user, {
      userId: request.query.user_id,
      page: request.query.page,
      pageSize: request.query.page_size,
    }),
  )

  app.get('/:id', { schema: { ...common, params: TokenIdParams, response: { 200: TokenSchema } } }, async (request) =>
    app.tokens.get(authOf(request).user, request.params.id),
  )

  app.patch(
    '/:id',
    { schema: { ...common, params: TokenIdParams, body: UpdateTokenBody, response: { 200: TokenSchema } } },
    async (request) => {
      const changes = { ...tokenInput(request.body), status: request.body.status }
      return app.tokens.update(authOf(request).user, request.params.id, changes)
    },
  )

  app.delete('/:id', { schema: { ...common, params: TokenIdParams } }, async (request, reply) => {
    await app.tokens.remove(authOf(request).user, request.params.id)
    return reply.code(204).send()
  })
}

export default routes
