import fp from 'fastify-plugin'
import codesPlugin from './codes/plugin.js'
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
    await app.register(codesPlugin)
    app.decorate(
      'auth',
      createAuthService({ repo: app.usersRepo, sessions, cache: app.cache, clock: app.clock, codes: app.verificationCodes, passwordHashCost: app.config.passwordHashCost }),
    )
  },
  { name: 'sessions', dependencies: ['cache', 'users-repo'] },
)
