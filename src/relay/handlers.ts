// Route handlers of `/v1`: each reads what the relay needs from the request and hands a RelayJob to relay().
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { Readable } from 'node:stream'
import { errors } from '../errors.js'
import { peekMultipartModel } from './multipart.js'
import { principalOf } from './principal.js'
import { assertModelName, readJsonBody, upstreamJsonBody, type RelayEndpoint } from './request.js'
import { relay } from './relay.js'
import { replyClient } from './relay-client.js'

type Handler = (request: FastifyRequest, reply: FastifyReply) => Promise<void>

/** A JSON endpoint: chat, completions, embeddings natively; responses, moderations, images, speech passed through. */
export function relayJson(app: FastifyInstance, endpoint: RelayEndpoint): Handler {
  return async (request, reply) => {
    const principal = principalOf(request)
    const body = readJsonBody(endpoint, request.body, jsonTextOf(request), request.jsonBytes)
    app.relayKeys.assertModelAllowed(principal, body.model)
    await relay(app, replyClient(request, reply), {
      endpoint,
      principal,
      model: body.model,
      stream: body.stream,
      clientWantsUsage: body.clientWantsUsage,
      promptTokensBound: body.promptTokensBound,
      countPromptTokens: () => app.promptCounter.count(body.json, body.textLength),
      maxCompletionTokens: body.maxCompletionTokens,
      choices: body.choices,
      generates: endpoint.completionLimitField !== undefined,
      replayable: true,
      body: (_channel, adapter, upstreamModel, reservation) =>
        upstreamJsonBody(endpoint, body, upstreamModel, adapter, reservation.completionCap, app.config.defaultCompletionReserve),
    })
  }
}

/**
 * A multipart upload (audio transcriptions): streamed to the upstream, never parsed beyond the `model` field.
 * The body can be sent once only, so there is no failover to a second channel for uploads.
 */
export function relayUpload(app: FastifyInstance, endpoint: RelayEndpoint): Handler {
  return async (request, reply) => {
    const principal = principalOf(request)
    if (!(request.body instanceof Readable)) {
      throw errors.invalidRequest('the body must be multipart/form-data with a file and a model')
    }
    const query = request.query as Record<string, unknown> | undefined
    const modelParam = typeof query?.model === 'string' && query.model ? query.model : undefined
    const peek = await peekMultipartModel(request.body, app.config.bodyLimitBytes, modelParam)
    assertModelName(peek.model)
    app.relayKeys.assertModelAllowed(principal, peek.model)
    const length = request.headers['content-length']
    await relay(app, replyClient(request, reply), {
      endpoint,
      principal,
      model: peek.model,
      stream: false,
      clientWantsUsage: false,
      promptTokensBound: 0,
      countPromptTokens: async () => 0,
      maxCompletionTokens: null,
      choices: 1,
      generates: false,
      replayable: false,
      body: () => peek.body,
      extraHeaders: length ? { 'content-length': length } : undefined,
    })
  }
}

/** The JSON text the body was parsed from (its size bounds the prompt); re-serialised only if the parser kept none. */
function jsonTextOf(request: FastifyRequest): string {
  return typeof request.jsonText === 'string' ? request.jsonText : JSON.stringify(request.body) ?? ''
}

/** Hands multipart bodies to the route as the raw stream; refuses a declared length over the limit up front. */
export function installUploadParser(app: FastifyInstance): void {
  app.addContentTypeParser('multipart/form-data', (request, payload, done) => {
    const length = Number(request.headers['content-length'])
    if (Number.isFinite(length) && length > app.config.bodyLimitBytes) done(errors.bodyTooLarge(app.config.bodyLimitBytes), undefined)
    else done(null, payload)
  })
}
