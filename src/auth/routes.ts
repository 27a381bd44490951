import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { UserSchema } from '../users/schemas.js'
import { userView } from '../users/view.js'
import { authOf } from './guards.js'
import { LoginBody, LoginResponse, RegisterBody } from './schemas.js'

const routes: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/register',
    { schema: { tags: ['auth'], body: RegisterBody, response: { 201: UserSchema } } },
    async (request, reply) => {
      const user = await app.users.register(request.body)
      return reply.code(201).send(userView(user))
    },
  )

  app.post(
    '/login',
    { schema: { tags: ['auth'], body: LoginBody, response: { 200: LoginResponse } } },
    async (request) => {
      const { token, expiresIn, user } = await app.auth.login(request.body.username, request.body.password, request.ip)
      return { access_token: token, token_type: 'Bearer' as const, expires_in: expiresIn, user: userView(user) }
    },
  )

  app.post(
    '/logout',
    { preHandler: app.requireUser, schema: { tags: ['auth'], security: [{ session: [] }] } },
    async (request, reply) => {
      await app.auth.logout(authOf(request).session)
      return reply.code(204).send()
    },
  )
}

export default routes
