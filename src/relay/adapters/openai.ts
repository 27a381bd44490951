import type { ChannelAdapter } from './adapter.js';

/**
 * Joins a channel's base URL and a `/v1/...` request path. The base may carry a path prefix
 * (`https://host/api/openai`), which is kept; a base that already ends in `/v1` does not get a second one.
 */
export function joinBaseUrl(baseUrl: string, path: string): string {
  let base = baseUrl;
  while (base.endsWith('/')) base = base.slice(0, -1);
  const rel = path.startsWith('/') ? path : `/${path}`;
  if (base.endsWith('/v1') && (rel === '/v1' || rel.startsWith('/v1/') || rel.startsWith('/v1?'))) {
    return base + rel.slice(3);
  }
  return base + rel;
}

/** Any OpenAI-compatible upstream: OpenAI itself, vLLM, Ollama, SiliconFlow, DeepSeek and the like. */
export const openaiAdapter: ChannelAdapter = {
  type: 'openai',
  defaultBaseUrl: 'https://api.openai.com',
  url: joinBaseUrl,
  authHeaders(key) {
    return { authorization: `Bearer ${key}` };
  },
};
