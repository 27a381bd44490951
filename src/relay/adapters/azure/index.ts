// Azure OpenAI: OpenAI's wire format behind Azure's URLs and header. The channel's base URL is the resource
// (`https://NAME.openai.azure.com`), the deployment is the upstream model (name deployments after models, or map
// them with model_mapping), and the API version is the base URL's `?api-version=` when it carries one, else
// DEFAULT_API_VERSION. A base URL ending in `/openai/v1` selects Azure's v1 API instead: OpenAI's own paths, the
// model in the body, no deployment in the URL.
import { openaiAnswerUsage } from '../openai/index.js'
import type { ChannelAdapter, UpstreamTarget } from '../adapter.js'

/** The newest generally available data-plane API version (the preview versions must be asked for). */
export const DEFAULT_API_VERSION = '2024-10-21'

/** The relay path (`/v1/chat/completions?x`) → the part after the deployment (`/chat/completions`), query dropped. */
function operationOf(path: string): string {
  const q = path.indexOf('?')
  const bare = q < 0 ? path : path.slice(0, q)
  return bare.startsWith('/v1/') ? bare.slice(3) : bare
}

export function azureUrl(target: UpstreamTarget): string {
  const url = new URL(target.baseUrl)
  const version = url.searchParams.get('api-version')
  const base = url.pathname.replace(/\/+$/, '')
  const operation = operationOf(target.path)
  if (base.endsWith('/openai/v1')) {
    // The v1 API needs no version; one given on the base URL is still passed on.
    return `${url.origin}${base}${operation}${version ? `?api-version=${encodeURIComponent(version)}` : ''}`
  }
  const resource = base.endsWith('/openai') ? base.slice(0, -'/openai'.length) : base
  // The Responses API is not per deployment on Azure: the model travels in the body.
  const path = operation === '/responses' ? '/openai/responses' : `/openai/deployments/${encodeURIComponent(target.model)}${operation}`
  return `${url.origin}${resource}${path}?api-version=${encodeURIComponent(version ?? DEFAULT_API_VERSION)}`
}

export const azureAdapter: ChannelAdapter = {
  type: 'azure',
  // No default: every Azure resource has its own host, so a channel without `base_url` is refused (400).
  defaultBaseUrl: '',
  format: 'openai',
  serves: () => true,
  url: azureUrl,
  authHeaders(key) {
    return { 'api-key': key }
  },
  usage: openaiAnswerUsage,
}
