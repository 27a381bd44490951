import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { authOf } from '../auth/guards.js'
import {
  CreatePersonalApiBody,
  ListPersonalApisQuery,
  PersonalApiIdParams,
  PersonalApiList,
  PersonalApiSchema,
  PersonalApiTestResult,
  TestPersonalApiBody,
  UpdatePersonalApiBody,
} from './schemas.js'

/**
 * CONTRACT §7, mounted at /api/user/self/apis. Every route is the caller's own: another user's id answers
 * 404, admins included (the key is the owner's alone).
 */
const routes: FastifyPluginAsyncTypebox = async (app) => {
  const common = { tags: ['personal-apis'], security: [{ session: [] }] }
  app.addHook('onRequest', app.requireUser)

  app.post('/', { schema: { ...common, body: CreatePersonalApiBody, response: { 201: PersonalApiSchema } } }, async (request, reply) => {
    const { name, base_url, key, model, type } = request.body
    const created = await app.personalApis.create(authOf(request).user.id, { name, baseUrl: base_url, key, model, type })
    return reply.code(201).send(created)
  })

  app.get('/', { schema: { ...common, querystring: ListPersonalApisQuery, response: { 200: PersonalApiList } } }, async (request) =>
    app.personalApis.list(authOf(request).user.id, {
      name: request.query.name,
      page: request.query.page,
      pageSize: request.query.page_size,
    }),
  )

  app.get('/:id', { schema: { ...common, params: PersonalApiIdParams, response: { 200: PersonalApiSchema } } }, async (request) =>
    app.personalApis.get(authOf(request).user.id, request.params.id),
  )

  app.patch(
    '/:id',
    { schema: { ...common, params: PersonalApiIdParams, body: UpdatePersonalApiBody, response: { 200: PersonalApiSchema } } },
    async (request) => {
      const { name, base_url, key, model, type } = request.body
      return app.personalApis.update(authOf(request).user.id, request.params.id, { name, baseUrl: base_url, key, model, type })
    },
  )

  app.delete('/:id', { schema: { ...common, params: PersonalApiIdParams } }, async (request, reply) => {
    await app.personalApis.remove(authOf(request).user.id, request.params.id)
    return reply.code(204).send()
  })

  app.post(
    '/:id/test',
    { schema: { ...common, params: PersonalApiIdParams, body: TestPersonalApiBody, response: { 200: PersonalApiTestResult } } },
    async (request) => app.personalApis.test(authOf(request).user.id, request.params.id, request.body?.model),
  )
}

export default routes
