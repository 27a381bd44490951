import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { authOf } from '../auth/guards.js'
import { AdminUpdateBody, AdminUserSchema, UserIdParams, UserListQuery, UserListResponse } from './schemas.js'
import { adminUserView } from './view.js'

const security = [{ session: [] }]

/** Admin user management (CONTRACT §5 "Users (admin)"); the quota route lives in billing. */
const routes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/',
    { onRequest: app.requireAdmin, schema: { tags: ['users'], security, querystring: UserListQuery, response: { 200: UserListResponse } } },
    async (request) => {
      const { keyword, page, page_size } = request.query
      const result = await app.users.list({ keyword: keyword?.trim() || undefined, page, pageSize: page_size })
      return { data: result.rows.map(adminUserView), total: result.total, page: result.page, page_size: result.pageSize }
    },
  )

  app.get(
    '/:id',
    { onRequest: app.requireAdmin, schema: { tags: ['users'], security, params: UserIdParams, response: { 200: AdminUserSchema } } },
    async (request) => adminUserView(await app.users.get(request.params.id)),
  )

  app.patch(
    '/:id',
    {
      onRequest: app.requireAdmin,
      schema: { tags: ['users'], security, params: UserIdParams, body: AdminUpdateBody, response: { 200: AdminUserSchema } },
    },
    async (request) => adminUserView(await app.users.adminUpdate(authOf(request).user, request.params.id, request.body)),
  )

  app.delete(
    '/:id',
    {
      onRequest: app.requireAdmin,
      schema: {
        tags: ['users'],
        security,
        description: 'Soft delete: the user is disabled and hidden, their tokens disabled, their usage log kept.',
        params: UserIdParams,
      },
    },
    async (request, reply) => {
      await app.users.adminDelete(authOf(request).user, request.params.id)
      return reply.code(204).send()
    },
  )
}

export default routes
