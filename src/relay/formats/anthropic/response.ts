// A canonical `chat.completion` as an Anthropic message, for a `/v1/messages` client on a channel of another format:
// reasoning → a thinking block, content → a text block, tool_calls → tool_use blocks (ids kept, arguments parsed),
// finish_reason → stop_reason, and the usage in Anthropic's terms (input without the cached and cache-write parts).
import { newId } from '../openai-chat.js'
import { isObject, str, type Json } from '../shared.js'
import type { Usage } from '../../seams.js'

export function stopReasonOf(finishReason: unknown): string {
  switch (finishReason) {
    case 'length':
      return 'max_tokens'
    case 'tool_calls':
    case 'function_call':
      return 'tool_use'
    case 'content_filter':
      return 'refusal'
    default:
      return 'end_turn'
  }
}

/** Anthropic's usage for a normalised one: `input_tokens` excludes what was read from or written to the cache. */
export function anthropicUsageOf(usage: Usage | null): Json {
  if (!usage) return { input_tokens: 0, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 }
  const cached = usage.cached_tokens ?? 0
  const written = usage.cache_write_tokens ?? 0
  const out: Json = {
    input_tokens: Math.max(0, usage.prompt_tokens - cached - written),
    output_tokens: usage.completion_tokens,
    cache_creation_input_tokens: written,
    cache_read_input_tokens: cached,
  }
  if (usage.reasoning_tokens) out.output_tokens_details = { thinking_tokens: usage.reasoning_tokens }
  return out
}

/** Tool arguments as the object Anthropic's `input` must be; text that is not a JSON object is kept under `raw`. */
export function toolInput(args: unknown): Json {
  if (typeof args !== 'string' || args.trim() === '') return {}
  try {
    const parsed: unknown = JSON.parse(args)
    return isObject(parsed) ? parsed : { raw: args }
  } catch {
    return { raw: args }
  }
}

export function messageId(id: unknown): string {
  return typeof id === 'string' && id.startsWith('msg_') ? id : newId('msg_')
}

/** `usage` is the provider's own, normalised (exact cache counts); the completion's own usage is not re-read. */
export function toAnthropicMessage(completion: Json, usage: Usage | null, model: string): Json {
  const choice = Array.isArray(completion.choices) ? completion.choices.find(isObject) : undefined
  const message = choice && isObject(choice.message) ? choice.message : {}
  const content: Json[] = []
  const reasoning = str(message.reasoning_content) ?? str(message.reasoning)
  if (reasoning) content.push({ type: 'thinking', thinking: reasoning, signature: '' })
  const text = typeof message.content === 'string' ? message.content : ''
  if (text) content.push({ type: 'text', text, citations: null })
  if (Array.isArray(message.tool_calls)) {
    for (const call of message.tool_calls) {
      if (!isObject(call) || !isObject(call.function) || typeof call.function.name !== 'string') continue
      content.push({ type: 'tool_use', id: str(call.id) ?? newId('toolu_'), name: call.function.name, input: toolInput(call.function.arguments) })
    }
  }
  return {
    id: messageId(completion.id),
    type: 'message',
    role: 'assistant',
    model: str(completion.model) ?? model,
    content,
    stop_reason: stopReasonOf(choice?.finish_reason),
    stop_sequence: null,
    usage: anthropicUsageOf(usage),
  }
}
