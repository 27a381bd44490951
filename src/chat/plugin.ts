import fp from 'fastify-plugin'
import { authOf } from '../auth/guards.js'
import { createChatRateLimit, type ChatRateLimit } from './rate-limit.js'
import { createChatRepository } from './repository.js'
import { createChatService, type ChatService } from './service.js'
import { createTurnRunner, type TurnRunner } from './turn.js'

export interface Chat {
  /** Conversations and messages, CRUD. */
  conversations: ChatService
  /** Chat turns, relayed through the relay's own journey. */
  turns: TurnRunner
  /** One more turn of the authenticated user: 429 `rate_limited` past CHAT_RATE_LIMIT_PER_MIN. */
  rateLimit: ChatRateLimit
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Chat for end users (CONTRACT §8). */
    chat: Chat
  }
}

export default fp(
  async (app) => {
    const repo = createChatRepository(app.db)
    const personalApis = app.personalApis
    app.decorate('chat', {
      conversations: createChatService({ repo, clock: app.clock, channelPool: app.channelPool, pricing: app.pricing, personalApis }),
      turns: createTurnRunner(app, repo, personalApis),
      rateLimit: await createChatRateLimit(app, (request) => authOf(request).user.id),
    })
  },
  { name: 'chat', dependencies: ['db', 'cache', 'billing', 'channels', 'personal-apis', 'auth-guards'] },
)
