// An Anthropic message as a canonical `chat.completion`: text blocks → `content`, thinking blocks →
// `reasoning_content`, tool_use blocks → `tool_calls` (ids kept, input as a JSON text), stop_reason → finish_reason,
// usage → OpenAI's usage with the cached part in `prompt_tokens_details`.
import type { ConversionContext } from '../adapter.js'
import { newId, openaiUsage, type FinishReason } from '../../formats/openai-chat.js'
import { isObject, str, type Json } from '../../formats/shared.js'
import { anthropicAnswerUsage } from './usage.js'

/** Anthropic's stop_reason → OpenAI's finish_reason. */
export function finishReasonOf(stopReason: unknown): FinishReason {
  switch (stopReason) {
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length'
    case 'tool_use':
      return 'tool_calls'
    case 'refusal':
      return 'content_filter'
    default:
      // end_turn, stop_sequence, pause_turn
      return 'stop'
  }
}

export function fromAnthropicResponse(answer: Json, ctx: ConversionContext): Json {
  let text = ''
  let reasoning = ''
  const toolCalls: Json[] = []
  const content = Array.isArray(answer.content) ? answer.content : []
  for (const block of content) {
    if (!isObject(block)) continue
    if (block.type === 'text' && typeof block.text === 'string') text += block.text
    else if (block.type === 'thinking' && typeof block.thinking === 'string') reasoning += block.thinking
    else if (block.type === 'tool_use' && typeof block.id === 'string' && typeof block.name === 'string') {
      toolCalls.push({ id: block.id, type: 'function', function: { name: block.name, arguments: JSON.stringify(block.input ?? {}) } })
    }
  }
  const message: Json = { role: 'assistant', content: text || (toolCalls.length > 0 ? null : ''), refusal: null }
  if (reasoning) message.reasoning_content = reasoning
  if (toolCalls.length > 0) message.tool_calls = toolCalls
  const usage = anthropicAnswerUsage(answer)
  const completion: Json = {
    id: str(answer.id) ?? newId('chatcmpl-'),
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: str(answer.model) ?? ctx.model,
    choices: [{ index: 0, message, finish_reason: finishReasonOf(answer.stop_reason), logprobs: null }],
  }
  if (usage) completion.usage = openaiUsage(usage)
  return completion
}
