// Anthropic's Messages API. Its key goes in `x-api-key` with an `anthropic-version`: the client's own when it
// sent one (an Anthropic client passing through), else the version this adapter's conversions are written for.
import { joinBaseUrl } from '../openai/index.js'
import type { ChannelAdapter } from '../adapter.js'
import { toAnthropicRequest } from './request.js'
import { fromAnthropicResponse } from './response.js'
import { AnthropicToOpenAIStream } from './stream.js'
import { AnthropicEventReader, anthropicAnswerUsage } from './usage.js'

export const ANTHROPIC_VERSION = '2023-06-01'

export const anthropicAdapter: ChannelAdapter = {
  type: 'anthropic',
  defaultBaseUrl: 'https://api.anthropic.com',
  format: 'anthropic',
  serves: (kind) => kind === 'chat' || kind === 'messages',
  // Every request is a Messages API call, whatever path the client used.
  url: (target) => joinBaseUrl(target.baseUrl, '/v1/messages'),
  authHeaders(key, client) {
    const version = client['anthropic-version']
    return { 'x-api-key': key, 'anthropic-version': typeof version === 'string' && version ? version : ANTHROPIC_VERSION }
  },
  usage: anthropicAnswerUsage,
  nativeStreamReader: () => new AnthropicEventReader(),
  codec: {
    request: toAnthropicRequest,
    response: fromAnthropicResponse,
    stream: (ctx) => new AnthropicToOpenAIStream(ctx),
  },
}
