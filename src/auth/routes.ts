import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { errors } from '../errors.js'
import { UserSchema } from '../users/schemas.js'
import { userView } from '../users/view.js'
import { authOf } from './guards.js'
import {
  AcceptedResponse,
  LoginBody,
  LoginResponse,
  RegisterBody,
  ResetPasswordBody,
  SendCodeBody,
  VerifyCodeBody,
  VerifyCodeResponse,
} from './schemas.js'

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
    { onRequest: app.requireUser, schema: { tags: ['auth'], security: [{ session: [] }] } },
    async (request, reply) => {
      await app.auth.logout(authOf(request).session)
      return reply.code(204).send()
    },
  )

  app.post(
    '/send-code',
    {
      schema: {
        tags: ['auth'],
        description: '202 whether or not the account exists; the code goes to the server log (no mail transport yet).',
        body: SendCodeBody,
        response: { 202: AcceptedResponse },
      },
    },
    async (request, reply) => {
      const login = request.body.username ?? request.body.email
      if (!login) throw errors.invalidRequest("send 'username' (a username or an email) or 'email'", 'username')
      await app.verificationCodes.request(login, request.body.purpose, request.ip)
      return reply.code(202).send({ accepted: true as const })
    },
  )

  app.post(
    '/verify-code',
    {
      schema: {
        tags: ['auth'],
        description:
          'Checks a code. A `verify_email` code is used up by this call; a `password_reset` code is not (reset-password uses it).',
        body: VerifyCodeBody,
        response: { 200: VerifyCodeResponse },
      },
    },
    async (request) => {
      const { username, code, purpose } = request.body
      const verified = await app.verificationCodes.check(username, purpose, code, request.ip)
      if (purpose === 'verify_email') await app.verificationCodes.useUp(verified)
      return { valid: true as const }
    },
  )

  app.post(
    '/reset-password',
    {
      schema: {
        tags: ['auth'],
        description: 'Uses up the code and sets the password; every session issued before is refused.',
        body: ResetPasswordBody,
      },
    },
    async (request, reply) => {
      const { username, code, new_password } = request.body
      await app.auth.resetPassword(username, code, new_password, request.ip)
      return reply.code(204).send()
    },
  )
}

export default routes
