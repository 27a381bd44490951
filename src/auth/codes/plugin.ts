import fp from 'fastify-plugin'
import { createCodeHasher } from './code.js'
import { createCodesRepository } from './repository.js'
import { LogCodeSender } from './sender.js'
import { createCodesService, type CodesService } from './service.js'

declare module 'fastify' {
  interface FastifyInstance {
    verificationCodes: CodesService
  }
}

const CLEANUP_EVERY_MS = 10 * 60 * 1000

/** Verification codes, delivered through the log by default, with a periodic sweep of dead codes. */
export default fp(
  async (app) => {
    const secret = app.config.jwtSecret
    if (!secret) throw new Error('JWT secret missing: withGeneratedSecrets() must run before the app is built')
    const service = createCodesService({
      codes: createCodesRepository(app.db),
      users: app.usersRepo,
      hasher: createCodeHasher(secret),
      cache: app.cache,
      clock: app.clock,
      log: app.log,
      sender: new LogCodeSender(app.log),
    })
    app.decorate('verificationCodes', service)

    const sweep = setInterval(() => {
      service.deleteStale().catch((err: unknown) => app.log.warn({ err }, 'verification code cleanup failed'))
    }, CLEANUP_EVERY_MS)
    sweep.unref()
    // Codes still being issued must finish before the database closes (preClose runs before any onClose).
    app.addHook('preClose', async () => {
      clearInterval(sweep)
      await service.idle()
    })
    app.addHook('onClose', async () => clearInterval(sweep))
  },
  { name: 'verification-codes', dependencies: ['db', 'cache', 'users-repo'] },
)
