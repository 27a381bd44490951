import fp from 'fastify-plugin'
import type { RelayKeys } from '../relay/seams.js'
import { CachedRelayKeys } from './relay-keys.js'
import { createTokensRepository } from './repository.js'
import { createTokensService, type TokensService } from './service.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The relay's key check: relay key → token + user, cache first. */
    relayKeys: RelayKeys
    /** Relay token management; `create(userId, input)` is also the partner API's way to mint keys. */
    tokens: TokensService
  }
}

export default fp(
  async (app) => {
    const repo = createTokensRepository(app.db)
    const relayKeys = new CachedRelayKeys({ repo, cache: app.cache, clock: app.clock, log: app.log, personalApis: app.personalApis })
    await relayKeys.subscribe()
    app.decorate('relayKeys', relayKeys)
    app.decorate('tokens', createTokensService({ repo, cache: app.cache, clock: app.clock, log: app.log, personalApis: app.personalApis }))
    app.addHook('onClose', async () => {
      await relayKeys.close()
    })
  },
  { name: 'tokens', dependencies: ['db', 'cache', 'users-repo', 'personal-apis'] },
)
