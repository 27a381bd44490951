import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { TokenSchema } from '../tokens/schemas.js'
import { createExternalRepository } from './repository.js'
import {
  ExternalUserParams,
  ExternalUserView,
  PageQuery,
  StatsQuery,
  StatsResult,
  SyncBody,
  TokenBody,
  TopupBody,
  TopupList,
  TopupResult,
} from './schemas.js'
import { createExternalService } from './service.js'
import signature from './signature-plugin.js'

const tags = ['partner']
const description = 'Signed with EXTERNAL_API_SECRET: headers X-Timestamp, X-Nonce, X-Signature (see docs/partner-api.md).'

/** The partner API (CONTRACT §5 "External users"): every route here is signed, none has a session. */
const routes: FastifyPluginAsyncTypebox = async (app) => {
  await app.register(signature)
  const service = createExternalService({
    repo: createExternalRepository(app.db),
    config: app.config,
    clock: app.clock,
    cache: app.cache,
    tokens: app.tokens,
    logs: app.logs,
  })

  app.post(
    '/sync',
    { schema: { tags, description, body: SyncBody, response: { 200: ExternalUserView, 201: ExternalUserView } } },
    async (request, reply) => {
      const { created, user } = await service.sync(request.body)
      return reply.code(created ? 201 : 200).send(user)
    },
  )

  app.post(
    '/topup',
    { schema: { tags, description, body: TopupBody, response: { 200: TopupResult } } },
    async (request) => service.topup(request.body),
  )

  app.post(
    '/token',
    { schema: { tags, description, body: TokenBody, response: { 201: TokenSchema } } },
    async (request, reply) => {
      const { token } = await service.issueToken(request.body)
      return reply.code(201).send(token)
    },
  )

  app.get(
    '/:external_user_id',
    { schema: { tags, description, params: ExternalUserParams, response: { 200: ExternalUserView } } },
    async (request) => service.get(request.params.external_user_id),
  )

  app.get(
    '/:external_user_id/stats',
    { schema: { tags, description, params: ExternalUserParams, querystring: StatsQuery, response: { 200: StatsResult } } },
    async (request) => service.stats(request.params.external_user_id, request.query),
  )

  app.get(
    '/:external_user_id/topups',
    { schema: { tags, description, params: ExternalUserParams, querystring: PageQuery, response: { 200: TopupList } } },
    async (request) => service.topups(request.params.external_user_id, request.query.page, request.query.page_size),
  )
}

export default routes
