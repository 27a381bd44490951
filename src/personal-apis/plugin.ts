import fp from 'fastify-plugin'
import safeUpstream from '../infra/safe-upstream.js'
import { createSecretBox } from '../security/secrets.js'
import { createPersonalApisRepository } from './repository.js'
import { createPersonalApisService, type PersonalApisService } from './service.js'

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * Users' own upstreams (CONTRACT §7): the REST routes' logic, and `resolveTarget` / `targetFor` for the relay
     * keys bound to one and for the chat's `api_id` (decrypted, owner-checked).
     */
    personalApis: PersonalApisService
  }
}

export default fp(
  async (app) => {
    const secret = app.config.encryptionKey
    if (!secret) throw new Error('ENCRYPTION_KEY missing: withGeneratedSecrets() must run before the app is built')
    // Its own resource, registered here so the app's root plugin names the domain once.
    await app.register(safeUpstream)
    app.decorate(
      'personalApis',
      createPersonalApisService({
        repo: createPersonalApisRepository(app.db),
        // The same key and cipher as channel keys.
        box: createSecretBox(secret),
        cache: app.cache,
        clock: app.clock,
        log: app.log,
        dispatcher: app.personalApiDispatcher,
        allowPrivate: app.config.personalApiAllowPrivate,
      }),
    )
  },
  { name: 'personal-apis', dependencies: ['db', 'cache'] },
)
