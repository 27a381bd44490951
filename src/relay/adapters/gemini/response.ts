// A Gemini `generateContent` answer as a canonical `chat.completion`: each candidate a choice; text parts →
// `content`, thought parts → `reasoning_content`, functionCall parts → `tool_calls` (a fresh id each, carrying the
// part's thought signature); finishReason → finish_reason; usageMetadata → OpenAI's usage.
import { fromGemini } from '../../../billing/usage.js'
import type { ConversionContext } from '../adapter.js'
import { newId, openaiUsage, type FinishReason } from '../../formats/openai-chat.js'
import { isObject, str, type Json } from '../../formats/shared.js'
import { toolCallId } from './tool-ids.js'

const FILTERED = new Set(['SAFETY', 'RECITATION', 'BLOCKLIST', 'PROHIBITED_CONTENT', 'SPII', 'IMAGE_SAFETY', 'LANGUAGE'])

/** Gemini's finishReason → OpenAI's; a stop after function calls is `tool_calls`, as OpenAI reports it. */
export function finishReasonOf(reason: unknown, calledTools: boolean): FinishReason | null {
  if (typeof reason !== 'string' || reason === 'FINISH_REASON_UNSPECIFIED') return null
  if (reason === 'MAX_TOKENS') return 'length'
  if (FILTERED.has(reason)) return 'content_filter'
  return calledTools ? 'tool_calls' : 'stop'
}

/** The parts of one candidate, read into what an OpenAI message or delta holds. */
export function readParts(candidate: Json): { text: string; reasoning: string; calls: Json[] } {
  let text = ''
  let reasoning = ''
  const calls: Json[] = []
  const parts = isObject(candidate.content) && Array.isArray(candidate.content.parts) ? candidate.content.parts : []
  for (const part of parts) {
    if (!isObject(part)) continue
    if (isObject(part.functionCall) && typeof part.functionCall.name === 'string') {
      calls.push({
        id: toolCallId(str(part.thoughtSignature)),
        type: 'function',
        function: { name: part.functionCall.name, arguments: JSON.stringify(part.functionCall.args ?? {}) },
      })
    } else if (typeof part.text === 'string') {
      if (part.thought === true) reasoning += part.text
      else text += part.text
    }
  }
  return { text, reasoning, calls }
}

export function geminiAnswerUsage(answer: unknown) {
  return isObject(answer) ? fromGemini(answer.usageMetadata) : null
}

export function fromGeminiResponse(answer: Json, ctx: ConversionContext): Json {
  const candidates = Array.isArray(answer.candidates) ? answer.candidates.filter(isObject) : []
  const choices = candidates.map((candidate, i) => {
    const { text, reasoning, calls } = readParts(candidate)
    const message: Json = { role: 'assistant', content: text || (calls.length > 0 ? null : ''), refusal: null }
    if (reasoning) message.reasoning_content = reasoning
    if (calls.length > 0) message.tool_calls = calls
    const index = typeof candidate.index === 'number' ? candidate.index : i
    return { index, message, finish_reason: finishReasonOf(candidate.finishReason, calls.length > 0) ?? 'stop', logprobs: null }
  })
  if (choices.length === 0) {
    // No candidate at all: the prompt itself was blocked (promptFeedback.blockReason).
    const blocked = isObject(answer.promptFeedback) && typeof answer.promptFeedback.blockReason === 'string'
    choices.push({ index: 0, message: { role: 'assistant', content: '', refusal: null }, finish_reason: blocked ? 'content_filter' : 'stop', logprobs: null })
  }
  const completion: Json = {
    id: str(answer.responseId) ?? newId('chatcmpl-'),
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: str(answer.modelVersion) ?? ctx.model,
    choices,
  }
  const usage = geminiAnswerUsage(answer)
  if (usage) completion.usage = openaiUsage(usage)
  return completion
}
