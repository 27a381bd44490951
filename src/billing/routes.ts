import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { authOf } from '../auth/guards.js'
import { UserSchema } from '../users/schemas.js'
import { userView } from '../users/view.js'
import { QuotaAdjustmentBody, UserIdParams } from './schemas.js'

/** Mounted at /api/user: the admin's quota adjustment (CONTRACT §5 "Users (admin)"). */
const routes: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/:id/quota',
    {
      onRequest: app.requireAdmin,
      schema: {
        tags: ['users'],
        security: [{ session: [] }],
        params: UserIdParams,
        body: QuotaAdjustmentBody,
        response: { 200: UserSchema },
      },
    },
    async (request) => {
      const user = await app.billing.adjustQuota({
        userId: request.params.id,
        delta: request.body.delta,
        remark: request.body.remark,
        adminId: authOf(request).user.id,
      })
      return userView(user)
    },
  )
}

export default routes
