import type { FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import { errors } from '../errors.js'
import type { UserRow } from '../users/repository.js'
import { installClientSigning } from './client-signature.js'
import type { SessionClaims } from './sessions.js'

export interface AuthContext {
  user: UserRow
  session: SessionClaims
}

declare module 'fastify' {
  interface FastifyInstance {
    /** onRequest guard (before the body is read or validated): any signed-in, enabled user. */
    requireUser: onRequestAsyncHookHandler
    /** onRequest guard (before the body is read or validated): an admin. */
    requireAdmin: onRequestAsyncHookHandler
  }
  interface FastifyRequest {
    auth: AuthContext | null
  }
}

export function isAdmin(user: UserRow): boolean {
  return user.role === 'admin'
}

/**
 * Route guards for the management API. The user is read fresh on each management request (not
 * the relay's hot path), so a role change, a disabled account or a password change applies to
 * the very next call.
 */
export default fp(
  async (app) => {
    app.decorateRequest('auth', null)
    // CLIENT_SIGNING_SECRET: session requests are signed too; checked right after the session (a no-op when unset).
    const startClientSignature = installClientSigning(app)

    async function authenticate(request: FastifyRequest): Promise<AuthContext> {
      const header = request.headers.authorization ?? ''
      const match = /^Bearer\s+(\S+)$/i.exec(header)
      if (!match) throw errors.unauthorized('unauthorized', 'missing session: send Authorization: Bearer <token from /api/auth/login>')
      const session = await app.sessions.verify(match[1]!)
      if (!session) throw errors.unauthorized('invalid_session', 'session is invalid, expired or revoked')
      const user = await app.usersRepo.findById(session.userId)
      if (!user) throw errors.unauthorized('invalid_session', 'session is invalid, expired or revoked')
      if (user.passwordChangedAt && session.issuedAtMs <= user.passwordChangedAt.getTime()) {
        throw errors.unauthorized('invalid_session', 'session was issued before the last password change')
      }
      if (user.status !== 'enabled') throw errors.forbidden('user_disabled', 'this account is disabled')
      return { user, session }
    }

    app.decorate('requireUser', async (request: FastifyRequest, _reply: FastifyReply) => {
      const auth = await authenticate(request)
      startClientSignature(request)
      request.auth = auth
    })
    app.decorate('requireAdmin', async (request: FastifyRequest, _reply: FastifyReply) => {
      const auth = await authenticate(request)
      startClientSignature(request)
      if (!isAdmin(auth.user)) throw errors.forbidden('admin_required', 'this route is for administrators')
      request.auth = auth
    })
  },
  { name: 'auth-guards', dependencies: ['sessions', 'users-repo', 'cache'] },
)

/** The authenticated context; only call behind requireUser / requireAdmin. */
export function authOf(request: FastifyRequest): AuthContext {
  if (!request.auth) throw errors.internal()
  return request.auth
}
