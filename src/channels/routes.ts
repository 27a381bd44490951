import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import {
  ChannelIdParams,
  ChannelList,
  ChannelSchema,
  ChannelTestResult,
  CreateChannelBody,
  ListQuery,
  TestChannelBody,
  UpdateChannelBody,
} from './schemas.js'

/** CONTRACT §5 "Channels (admin)", mounted at /api/channel. */
const routes: FastifyPluginAsyncTypebox = async (app) => {
  const common = { tags: ['channels'], security: [{ session: [] }] }
  app.addHook('onRequest', app.requireAdmin)

  app.post('/', { schema: { ...common, body: CreateChannelBody, response: { 201: ChannelSchema } } }, async (request, reply) => {
    return reply.code(201).send(await app.channels.create(request.body))
  })

  app.get('/', { schema: { ...common, querystring: ListQuery, response: { 200: ChannelList } } }, async (request) =>
    app.channels.list(request.query.page, request.query.page_size),
  )

  app.get('/:id', { schema: { ...common, params: ChannelIdParams, response: { 200: ChannelSchema } } }, async (request) =>
    app.channels.get(request.params.id),
  )

  const update = { schema: { ...common, params: ChannelIdParams, body: UpdateChannelBody, response: { 200: ChannelSchema } } }
  app.put('/:id', update, async (request) => app.channels.update(request.params.id, request.body))
  app.patch('/:id', update, async (request) => app.channels.update(request.params.id, request.body))

  app.delete('/:id', { schema: { ...common, params: ChannelIdParams } }, async (request, reply) => {
    await app.channels.remove(request.params.id)
    return reply.code(204).send()
  })

  app.post(
    '/:id/test',
    { schema: { ...common, params: ChannelIdParams, body: TestChannelBody, response: { 200: ChannelTestResult } } },
    async (request) => app.channels.test(request.params.id, request.body?.model),
  )
}

export default routes
