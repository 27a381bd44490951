// Google's Gemini API (generativelanguage.googleapis.com, v1beta). The key goes in the `x-goog-api-key` header,
// never in the URL's `?key=` (URLs end up in logs). The model is part of the path; a stream is
// `:streamGenerateContent?alt=sse`, one GenerateContentResponse per SSE event.
import type { ChannelAdapter, UpstreamTarget } from '../adapter.js'
import { toGeminiRequest } from './request.js'
import { fromGeminiResponse, geminiAnswerUsage } from './response.js'
import { GeminiToOpenAIStream } from './stream.js'

/** `{base}/v1beta/models/{model}:generateContent`; a base already ending in an API version keeps it. */
export function geminiUrl(target: UpstreamTarget): string {
  let base = target.baseUrl
  while (base.endsWith('/')) base = base.slice(0, -1)
  if (!/\/v1(?:alpha|beta)?\d*$/.test(base)) base += '/v1beta'
  const model = encodeURIComponent(target.model.replace(/^models\//, ''))
  return target.stream ? `${base}/models/${model}:streamGenerateContent?alt=sse` : `${base}/models/${model}:generateContent`
}

export const geminiAdapter: ChannelAdapter = {
  type: 'gemini',
  defaultBaseUrl: 'https://generativelanguage.googleapis.com',
  format: 'gemini',
  serves: (kind) => kind === 'chat' || kind === 'messages',
  url: geminiUrl,
  authHeaders(key) {
    return { 'x-goog-api-key': key }
  },
  usage: geminiAnswerUsage,
  codec: {
    request: toGeminiRequest,
    response: fromGeminiResponse,
    stream: (ctx) => new GeminiToOpenAIStream(ctx),
  },
}
