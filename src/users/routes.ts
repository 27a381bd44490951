import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { authOf } from '../auth/guards.js'
import { UserSchema } from './schemas.js'
import { userView } from './view.js'

const routes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/self',
    { preHandler: app.requireUser, schema: { tags: ['users'], security: [{ session: [] }], response: { 200: UserSchema } } },
    async (request) => userView(authOf(request).user),
  )
}

export default routes
