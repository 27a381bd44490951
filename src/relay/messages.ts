// `POST /v1/messages`: Anthropic's Messages API for Anthropic SDKs and Claude Code (CONTRACT §3, §9). The journey is
// the relay's own (reservation, channel choice with failover, settlement, usage log); what is Anthropic's here is
// the key header (`x-api-key`, or `Authorization: Bearer`), the body read into a RelayJob, and the error shape:
// every error of this route — key, body, quota, no channel, upstream — is `{"type":"error","error":{type,message}}`.
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { logRequestError, sendError, toApiError } from '../errors.js'
import { anthropicErrorBody } from './formats/anthropic/errors.js'
import { anthropicToCanonical } from './formats/anthropic/request.js'
import type { Json } from './formats/shared.js'
import { anthropicCredential, installKeyAuth, principalOf } from './principal.js'
import { relay } from './relay.js'
import { replyClient } from './relay-client.js'
import { ENDPOINTS, readJsonBody, upstreamJsonBody } from './request.js'

export const messagesRoutes: FastifyPluginAsync = async (app) => {
  installKeyAuth(app, anthropicCredential)
  app.setErrorHandler((err: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const apiError = toApiError(err)
    logRequestError(request, err, apiError)
    return sendError(reply, apiError, anthropicErrorBody(apiError, request.id))
  })
  app.post(
    '/messages',
    { schema: { tags: ['relay'], summary: "Anthropic's Messages API (stream and non-stream)", security: [{ relayKey: [] }] } },
    relayMessages(app),
  )
}

function relayMessages(app: FastifyInstance) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const principal = principalOf(request)
    const text = typeof request.jsonText === 'string' ? request.jsonText : (JSON.stringify(request.body) ?? '')
    const body = readJsonBody(ENDPOINTS.messages, request.body, text)
    app.relayKeys.assertModelAllowed(principal, body.model)
    await relay(app, replyClient(request, reply), {
      endpoint: ENDPOINTS.messages,
      principal,
      model: body.model,
      stream: body.stream,
      // A converted stream's usage chunk is what its message_delta is written from: always asked for, never shown.
      clientWantsUsage: true,
      promptTokensBound: body.promptTokensBound,
      countPromptTokens: () => app.promptCounter.count(countable(body.json), body.textLength),
      maxCompletionTokens: body.maxCompletionTokens,
      choices: 1,
      generates: true,
      replayable: true,
      body: (_channel, adapter, upstreamModel, reservation) =>
        upstreamJsonBody(ENDPOINTS.messages, body, upstreamModel, adapter, reservation.completionCap, app.config.defaultCompletionReserve),
    })
  }
}

/**
 * The prompt as the token counter reads it (OpenAI's messages: system prompt, tool calls and results as text), for
 * an answer that came without usage. A body the conversion refuses is counted as it is.
 */
function countable(json: Json): Json {
  try {
    return anthropicToCanonical(json, 'gemini')
  } catch {
    return json
  }
}
