// A Gemini `streamGenerateContent?alt=sse` stream as canonical chunks. Every event is a whole
// GenerateContentResponse holding the next piece of each candidate: its text and thought parts become `content` and
// `reasoning_content` deltas, a functionCall part (sent whole) one tool call, a finishReason the finish chunk.
// usageMetadata is repeated as it grows; the last one is the usage chunk sent when the stream ends, then [DONE]
// (Gemini has no end marker of its own: the stream's end is the answer's end).
import { fromGemini } from '../../../billing/usage.js'
import type { ConversionContext, StreamConverter } from '../adapter.js'
import { ChunkWriter, errorChunk, newId } from '../../formats/openai-chat.js'
import { isObject, readSseEvent, sseJson, str } from '../../formats/shared.js'
import type { Usage } from '../../seams.js'
import { finishReasonOf, readParts } from './response.js'

export class GeminiToOpenAIStream implements StreamConverter {
  private readonly writer: ChunkWriter
  private usageMetadata: unknown = null
  private started = false
  private finished = false
  /** Per choice: tool calls so far (the next call's index). */
  private readonly toolCalls = new Map<number, number>()

  constructor(ctx: ConversionContext) {
    this.writer = new ChunkWriter(newId('chatcmpl-'), ctx.model)
  }

  usage(): Usage | null {
    return fromGemini(this.usageMetadata)
  }

  push(event: Buffer): Buffer[] {
    if (this.finished) return []
    const json = sseJson(readSseEvent(event).data)
    if (!json) return []
    const w = this.writer
    if (isObject(json.error)) {
      this.finished = true
      return [errorChunk(str(json.error.message) ?? 'the upstream reported an error', 'upstream_error', str(json.error.status) ?? null), w.done()]
    }
    if (!this.started) {
      this.started = true
      if (typeof json.responseId === 'string') w.id = json.responseId
      if (typeof json.modelVersion === 'string') w.model = json.modelVersion
    }
    if (isObject(json.usageMetadata)) this.usageMetadata = json.usageMetadata
    const out: Buffer[] = []
    const candidates = Array.isArray(json.candidates) ? json.candidates : []
    candidates.forEach((candidate: unknown, i) => {
      if (!isObject(candidate)) return
      const index = typeof candidate.index === 'number' ? candidate.index : i
      const { text, reasoning, calls } = readParts(candidate)
      if (reasoning) out.push(w.reasoning(index, reasoning))
      if (text) out.push(w.text(index, text))
      for (const call of calls) {
        const next = this.toolCalls.get(index) ?? 0
        this.toolCalls.set(index, next + 1)
        const fn = call.function as { name: string; arguments: string }
        out.push(w.toolCall(index, { index: next, id: call.id as string, name: fn.name, arguments: fn.arguments }))
      }
      const finish = finishReasonOf(candidate.finishReason, this.toolCalls.has(index))
      if (finish) out.push(w.finish(index, finish))
    })
    return out
  }

  end(): Buffer[] {
    if (this.finished || !this.started) return []
    this.finished = true
    const usage = this.usage()
    return usage ? [this.writer.usage(usage), this.writer.done()] : [this.writer.done()]
  }
}
