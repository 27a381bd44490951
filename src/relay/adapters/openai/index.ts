// Any OpenAI-compatible upstream: OpenAI itself, vLLM, Ollama, SiliconFlow, DeepSeek and the like. Its format is
// the relay's canonical one, so it has no codec: bodies and answers pass as they are.
import { fromOpenAI } from '../../../billing/usage.js'
import { isObject } from '../../formats/shared.js'
import type { ChannelAdapter } from '../adapter.js'

/**
 * Joins a channel's base URL and a `/v1/...` request path. The base may carry a path prefix
 * (`https://host/api/openai`), which is kept; a base that already ends in `/v1` does not get a second one.
 * A query on the base (an `api-version`, for Azure-style gateways) goes after the path, before the request's own.
 */
export function joinBaseUrl(baseUrl: string, path: string): string {
  const q = baseUrl.indexOf('?')
  let base = q < 0 ? baseUrl : baseUrl.slice(0, q)
  const baseQuery = q < 0 ? '' : baseUrl.slice(q + 1)
  while (base.endsWith('/')) base = base.slice(0, -1)
  let rel = path.startsWith('/') ? path : `/${path}`
  if (base.endsWith('/v1') && (rel === '/v1' || rel.startsWith('/v1/') || rel.startsWith('/v1?'))) rel = rel.slice(3)
  if (!baseQuery) return base + rel
  return rel.includes('?') ? `${base}${rel}&${baseQuery}` : `${base}${rel}?${baseQuery}`
}

/** OpenAI's usage of a whole answer (chat, completions, embeddings, the Responses API). */
export function openaiAnswerUsage(answer: unknown) {
  return isObject(answer) ? fromOpenAI(answer.usage) : null
}

export const openaiAdapter: ChannelAdapter = {
  type: 'openai',
  defaultBaseUrl: 'https://api.openai.com',
  format: 'openai',
  serves: () => true,
  url: (target) => joinBaseUrl(target.baseUrl, target.path),
  authHeaders(key) {
    return { authorization: `Bearer ${key}` }
  },
  usage: openaiAnswerUsage,
}
