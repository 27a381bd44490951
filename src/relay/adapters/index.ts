import type { ChannelAdapter } from './adapter.js'
import { anthropicAdapter } from './anthropic/index.js'
import { azureAdapter } from './azure/index.js'
import { geminiAdapter } from './gemini/index.js'
import { openaiAdapter } from './openai/index.js'

export type { ChannelAdapter, WireFormat } from './adapter.js'

const adapters: ReadonlyMap<string, ChannelAdapter> = new Map(
  [openaiAdapter, azureAdapter, anthropicAdapter, geminiAdapter].map((adapter) => [adapter.type, adapter]),
)

/** Every channel `type` the gateway can relay to. */
export const channelTypes: string[] = [...adapters.keys()]

export function getAdapter(type: string): ChannelAdapter | undefined {
  return adapters.get(type)
}

/**
 * A one-token chat request to a channel in its own format (the channel and personal-API tests): the canonical
 * `ping` converted by the adapter's codec, at the adapter's URL, with its auth headers.
 */
export function probeRequest(adapter: ChannelAdapter, baseUrl: string, key: string, model: string): { url: string; headers: Record<string, string>; body: string } {
  const canonical = { model, messages: [{ role: 'user', content: 'ping' }], max_tokens: 1, stream: false }
  const body = adapter.codec ? adapter.codec.request(canonical, { model, defaultMaxTokens: 1 }) : canonical
  return {
    url: adapter.url({ baseUrl: baseUrl || adapter.defaultBaseUrl, path: '/v1/chat/completions', model, stream: false }),
    headers: { ...adapter.authHeaders(key, {}), 'content-type': 'application/json' },
    body: JSON.stringify(body),
  }
}
