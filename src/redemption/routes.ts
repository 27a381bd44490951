import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { authOf } from '../auth/guards.js'
import { CodeIdParams, CreateCodesBody, CreatedCodes, ListCodesQuery, RedeemBody, RedeemResult, RedemptionCodeList } from './schemas.js'

const security = [{ session: [] }]
const tags = ['redemption']

/** CONTRACT §8 "Recharge codes", mounted at /api/redemption: admins only (checked before the body is read). */
const routes: FastifyPluginAsyncTypebox = async (app) => {
  app.addHook('onRequest', app.requireAdmin)

  app.post(
    '/',
    {
      schema: {
        tags,
        security,
        description: 'Mints `count` codes worth `amount_usd` each. The codes are in this answer only; the gateway keeps their hashes.',
        body: CreateCodesBody,
        response: { 201: CreatedCodes },
      },
    },
    async (request, reply) => {
      const body = request.body
      const created = await app.redemption.create(authOf(request).user, {
        name: body.name,
        amountUsd: body.amount_usd,
        count: body.count,
        expiresAt: body.expires_at ? new Date(body.expires_at) : null,
      })
      return reply.code(201).send(created)
    },
  )

  app.get('/', { schema: { tags, security, querystring: ListCodesQuery, response: { 200: RedemptionCodeList } } }, async (request) =>
    app.redemption.list({ status: request.query.status, page: request.query.page, pageSize: request.query.page_size }),
  )

  app.delete('/:id', { schema: { tags, security, params: CodeIdParams } }, async (request, reply) => {
    await app.redemption.remove(request.params.id)
    return reply.code(204).send()
  })
}

/** Mounted at /api/user: a signed-in user redeems a code for their own balance. */
export const redeemRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/self/redeem',
    {
      onRequest: app.requireUser,
      schema: {
        tags,
        security,
        description:
          'Credits the code once, whatever the concurrency. Unknown, used or expired → 400 `invalid_code`; ' +
          'after 5 failures in 10 minutes → 429 until the window ends.',
        body: RedeemBody,
        response: { 200: RedeemResult },
      },
    },
    async (request) => app.redemption.redeem(authOf(request).user, request.body.code),
  )
}

export default routes
