import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { installJsonBodyParser } from '../infra/json-body.js'
import { relayJson, relayUpload, installUploadParser } from './handlers.js'
import { messagesRoutes } from './messages.js'
import { modelFor, modelsFor } from './models.js'
import realtimeRoutes from './realtime/index.js'
import { decorateRelayPrincipal, installKeyAuth, principalOf } from './principal.js'
import { ENDPOINTS } from './request.js'

/**
 * The relay, mounted at `/v1`: OpenAI's routes, and Anthropic's `/v1/messages` in a context of its own (its key
 * header and error shape are Anthropic's). The journey itself lives in relay.ts.
 */
const routes: FastifyPluginAsyncTypebox = async (app) => {
  decorateRelayPrincipal(app)
  app.decorateRequest('jsonText', null)
  app.decorateRequest('jsonBytes', null)
  installJsonBodyParser(app, { keepText: true })
  await app.register(openaiRoutes)
  await app.register(messagesRoutes)
  await app.register(realtimeRoutes)
}

const openaiRoutes: FastifyPluginAsyncTypebox = async (app) => {
  installKeyAuth(app)
  installUploadParser(app)
  const doc = (summary: string) => ({ schema: { tags: ['relay'], summary, security: [{ relayKey: [] }] } })

  app.post('/chat/completions', doc('Chat completion (stream and non-stream)'), relayJson(app, ENDPOINTS.chat))
  app.post('/completions', doc('Text completion'), relayJson(app, ENDPOINTS.completions))
  app.post('/embeddings', doc('Embeddings'), relayJson(app, ENDPOINTS.embeddings))
  app.post('/responses', doc('Responses API (pass-through)'), relayJson(app, ENDPOINTS.responses))
  app.post('/moderations', doc('Moderations (pass-through)'), relayJson(app, ENDPOINTS.moderations))
  app.post('/images/generations', doc('Image generation (pass-through)'), relayJson(app, ENDPOINTS.images))
  app.post('/audio/speech', doc('Text to speech (pass-through, audio bytes)'), relayJson(app, ENDPOINTS.speech))
  app.post('/audio/transcriptions', doc('Transcription (multipart, streamed)'), relayUpload(app, ENDPOINTS.transcriptions))

  app.get('/models', doc('Models this key may use'), async (request) => ({
    object: 'list' as const,
    data: modelsFor(app, principalOf(request)),
  }))
  // A wildcard, since model ids may contain slashes (`deepseek-ai/DeepSeek-V3`).
  app.get('/models/*', doc('One model this key may use'), async (request) => {
    const params = request.params as Record<string, string | undefined>
    return modelFor(app, principalOf(request), params['*'] ?? '')
  })
}

export default routes
