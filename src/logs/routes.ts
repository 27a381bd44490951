import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { authOf, isAdmin } from '../auth/guards.js'
import { errors } from '../errors.js'
import { AdminLogQuery, SelfLogQuery, StatQuery, StatsSchema, UsageLogPage } from './schemas.js'
import { parseBound } from './range.js'

const session = { tags: ['logs'], security: [{ session: [] }] }

const routes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/self',
    { onRequest: app.requireUser, schema: { ...session, querystring: SelfLogQuery, response: { 200: UsageLogPage } } },
    async (request) => {
      const q = request.query
      // The caller's own rows only: a token_id of someone else's token simply matches nothing.
      const filter = { userId: authOf(request).user.id, model: q.model, tokenId: q.token_id, from: parseBound(q.from, 'from'), to: parseBound(q.to, 'to') }
      return app.logs.list(filter, q.page, q.page_size)
    },
  )

  app.get(
    '/',
    { onRequest: app.requireAdmin, schema: { ...session, querystring: AdminLogQuery, response: { 200: UsageLogPage } } },
    async (request) => {
      const q = request.query
      const filter = {
        userId: q.user_id,
        channelId: q.channel_id,
        tokenId: q.token_id,
        model: q.model,
        from: parseBound(q.from, 'from'),
        to: parseBound(q.to, 'to'),
      }
      return app.logs.list(filter, q.page, q.page_size)
    },
  )

  app.get(
    '/stat',
    { onRequest: app.requireUser, schema: { ...session, querystring: StatQuery, response: { 200: StatsSchema } } },
    async (request) => {
      const q = request.query
      const { user } = authOf(request)
      if (!isAdmin(user) && q.user_id !== undefined && q.user_id !== user.id) {
        throw errors.forbidden('admin_required', "only administrators may read another user's statistics")
      }
      // Admins: one user with ?user_id=, else everyone. Users: themselves.
      const userId = isAdmin(user) ? q.user_id : user.id
      return app.logs.stats({ userId, from: parseBound(q.from, 'from'), to: parseBound(q.to, 'to') })
    },
  )
}

export default routes
