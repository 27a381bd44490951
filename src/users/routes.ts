import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { authOf } from '../auth/guards.js'
import { ChangePasswordBody, UpdateProfileBody, UserSchema } from './schemas.js'
import { userView } from './view.js'

const security = [{ session: [] }]

/** Self-service: the signed-in user's own profile and password. */
const routes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/self',
    { onRequest: app.requireUser, schema: { tags: ['users'], security, response: { 200: UserSchema } } },
    // The ledger shows credit leases as held (README "Credit leases"): quota + held_quota is the balance, so the
    // two are read in one statement.
    async (request) => {
      const user = authOf(request).user
      const balance = app.hasDecorator('billing') ? await app.billing.balanceOf(user.id) : null
      return { ...userView(user), ...(balance ? { quota: balance.quota, held_quota: balance.held } : { held_quota: 0 }) }
    },
  )

  app.patch(
    '/self',
    { onRequest: app.requireUser, schema: { tags: ['users'], security, body: UpdateProfileBody, response: { 200: UserSchema } } },
    async (request) => userView(await app.users.updateProfile(authOf(request).user, request.body)),
  )

  app.put(
    '/self/password',
    {
      onRequest: app.requireUser,
      schema: {
        tags: ['users'],
        security,
        description: 'Every session issued before — this one included — is refused afterwards; log in again.',
        body: ChangePasswordBody,
      },
    },
    async (request, reply) => {
      await app.auth.changePassword(authOf(request).user, request.body.old_password, request.body.new_password)
      return reply.code(204).send()
    },
  )
}

export default routes
