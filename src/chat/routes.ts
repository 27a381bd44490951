import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { OutgoingHttpHeaders } from 'node:http'
import { authOf } from '../auth/guards.js'
import { toApiError } from '../errors.js'
import {
  ChatModels,
  ConversationIdParams,
  ConversationList,
  ConversationSchema,
  CreateConversationBody,
  ListConversationsQuery,
  ListMessagesQuery,
  MessagePage,
  PostMessageBody,
  TurnResult,
  UpdateConversationBody,
} from './schemas.js'
import type { ConversationInput } from './service.js'
import type { PreparedTurn } from './turn.js'

function conversationInput(body: CreateConversationBody | UpdateConversationBody): ConversationInput {
  return { title: body.title, model: body.model, apiId: body.api_id, systemPrompt: body.system_prompt }
}

/** An abort signal for the turn: fires if the client leaves before its answer is complete. */
function whileClientStays(reply: FastifyReply): { signal: AbortSignal; release(): void } {
  const abort = new AbortController()
  const res = reply.raw
  const onClose = (): void => {
    if (!res.writableFinished) abort.abort()
  }
  res.once('close', onClose)
  return { signal: abort.signal, release: () => res.off('close', onClose) }
}

/**
 * A turn answered as SSE: `{"type":"chunk","content"}` per piece of text, then `{"type":"done",…}` or
 * `{"type":"error","code","message"}`. The stream starts once the turn is accepted (conversation, model and rate
 * limit checked), so those refusals are ordinary JSON errors.
 */
async function streamTurn(request: FastifyRequest, reply: FastifyReply, turn: PreparedTurn): Promise<void> {
  const app = request.server
  const client = whileClientStays(reply)
  const res = reply.raw
  reply.hijack()
  // Headers set so far (x-request-id) go out with the stream's head.
  const headers: OutgoingHttpHeaders = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' }
  for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined && headers[name] === undefined) headers[name] = value
  res.writeHead(200, headers)
  const send = (event: Record<string, unknown>): void => {
    if (!res.destroyed && !res.writableEnded) res.write(`data: ${JSON.stringify(event)}\n\n`)
  }
  try {
    const result = await app.chat.turns.run(turn, { requestId: request.id, signal: client.signal, onText: (content) => send({ type: 'chunk', content }) })
    if (result.failure) send({ type: 'error', code: result.failure.code, message: result.failure.message })
    else send({ type: 'done', user_message: result.userMessage, assistant_message: result.assistantMessage })
  } catch (err) {
    const error = toApiError(err)
    if (error.statusCode >= 500) request.log.error({ err }, 'chat turn failed')
    send({ type: 'error', code: error.code, message: error.message })
  } finally {
    client.release()
    if (!res.destroyed && !res.writableEnded) res.end()
  }
}

/** CONTRACT §8, mounted at /api: conversations, their messages and turns, and the models one can chat with. */
const routes: FastifyPluginAsyncTypebox = async (app) => {
  const common = { tags: ['chat'], security: [{ session: [] }] }
  const chat = app.chat
  // Sessions are checked before the body is read (the turn's rate limit too).
  app.addHook('onRequest', app.requireUser)

  app.post('/conversations', { schema: { ...common, body: CreateConversationBody, response: { 201: ConversationSchema } } }, async (request, reply) => {
    const created = await chat.conversations.create(authOf(request).user, conversationInput(request.body))
    return reply.code(201).send(created)
  })

  app.get('/conversations', { schema: { ...common, querystring: ListConversationsQuery, response: { 200: ConversationList } } }, async (request) =>
    chat.conversations.list(authOf(request).user, { keyword: request.query.keyword, page: request.query.page, pageSize: request.query.page_size }),
  )

  app.get('/conversations/:id', { schema: { ...common, params: ConversationIdParams, response: { 200: ConversationSchema } } }, async (request) =>
    chat.conversations.get(authOf(request).user, request.params.id),
  )

  app.patch(
    '/conversations/:id',
    { schema: { ...common, params: ConversationIdParams, body: UpdateConversationBody, response: { 200: ConversationSchema } } },
    async (request) => chat.conversations.update(authOf(request).user, request.params.id, conversationInput(request.body)),
  )

  app.delete('/conversations/:id', { schema: { ...common, params: ConversationIdParams } }, async (request, reply) => {
    await chat.conversations.remove(authOf(request).user, request.params.id)
    return reply.code(204).send()
  })

  app.get(
    '/conversations/:id/messages',
    { schema: { ...common, params: ConversationIdParams, querystring: ListMessagesQuery, response: { 200: MessagePage } } },
    async (request) =>
      chat.conversations.messages(authOf(request).user, request.params.id, { limit: request.query.limit, beforeId: request.query.before_id }),
  )

  app.post(
    '/conversations/:id/messages',
    {
      onRequest: async (request) => chat.rateLimit(request),
      schema: { ...common, params: ConversationIdParams, body: PostMessageBody, response: { 201: TurnResult } },
    },
    async (request, reply) => {
      const { body } = request
      const turn = await chat.turns.prepare(authOf(request).user, {
        conversationId: request.params.id,
        content: body.content,
        model: body.model,
        apiId: body.api_id,
        useContext: body.use_context,
        clearContext: body.clear_context,
      })
      if (body.stream) return streamTurn(request, reply, turn)
      const client = whileClientStays(reply)
      try {
        const result = await chat.turns.run(turn, { requestId: request.id, signal: client.signal, onText: () => {} })
        // The answer failed: both messages are stored (the assistant's with status `error`); the client gets the error.
        if (result.failure) throw result.failure
        return reply.code(201).send({ user_message: result.userMessage, assistant_message: result.assistantMessage })
      } finally {
        client.release()
      }
    },
  )

  app.get('/models', { schema: { ...common, response: { 200: ChatModels } } }, async (request) => chat.conversations.models(authOf(request).user))
}

export default routes
