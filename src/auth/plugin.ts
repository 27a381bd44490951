import fp from 'fastify-plugin'
import { createAuthService, type AuthService } from './service.js'
import { createSessions, type Sessions } from './sessions.js'

declare module 'fastify' {
  interface FastifyInstance {
    sessions: Sessions
    auth: AuthService
  }
}

export default fp(
  async (app) => {
    const secret = app.config.jwtSecret
    if (!secret) throw new Error('JWT secret missing: withGeneratedSecrets() must run before the app is built')
    const sessions = createSessions(secret, app.cache, app.clock)
    app.decorate('sessions', sessions)
    app.decorate('auth', createAuthService(app.usersRepo, sessions, app.cache, app.clock))
  },
  { name: 'sessions', dependencies: ['cache', 'users-repo'] },
)
