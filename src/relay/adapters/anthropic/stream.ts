// An Anthropic Messages stream as canonical chunks, event by event:
//
//   message_start                      → the role chunk; the input usage is noted
//   content_block_start (tool_use)     → a tool call's first delta (id, name), at the next tool-call index
//   content_block_delta text_delta     → `content`;  thinking_delta → `reasoning_content`;
//                       input_json_delta → that tool call's `arguments` piece; signature_delta → nothing
//   message_delta                      → the finish chunk (stop_reason → finish_reason); the output usage is noted
//   message_stop                       → the usage-only chunk, then [DONE]
//   error                              → an OpenAI error event;  ping, content_block_stop → nothing
//
// It keeps only the block-to-tool-call indexes and the usage counters, never the text.
import type { ConversionContext, StreamConverter } from '../adapter.js'
import { ChunkWriter, errorChunk, newId } from '../../formats/openai-chat.js'
import { isObject, readSseEvent, sseJson, str } from '../../formats/shared.js'
import type { Usage } from '../../seams.js'
import { finishReasonOf } from './response.js'
import { AnthropicUsageTracker } from './usage.js'

export class AnthropicToOpenAIStream implements StreamConverter {
  private readonly writer: ChunkWriter
  private readonly tracker = new AnthropicUsageTracker()
  /** Content block index → tool-call index, for the tool_use blocks seen so far. */
  private readonly toolIndex = new Map<number, number>()
  private started = false
  private finished = false

  constructor(ctx: ConversionContext) {
    this.writer = new ChunkWriter(newId('chatcmpl-'), ctx.model)
  }

  usage(): Usage | null {
    return this.tracker.current()
  }

  push(event: Buffer): Buffer[] {
    if (this.finished) return []
    const { name, data } = readSseEvent(event)
    const json = sseJson(data)
    if (!json) return []
    const type = str(json.type) ?? name
    const w = this.writer
    switch (type) {
      case 'message_start': {
        const message = isObject(json.message) ? json.message : {}
        if (typeof message.id === 'string') w.id = message.id
        if (typeof message.model === 'string') w.model = message.model
        this.tracker.add(message.usage)
        this.started = true
        return [w.delta(0, { content: '' })]
      }
      case 'content_block_start': {
        const block = isObject(json.content_block) ? json.content_block : {}
        if (block.type !== 'tool_use' || typeof json.index !== 'number') return []
        const index = this.toolIndex.size
        this.toolIndex.set(json.index, index)
        return [w.toolCall(0, { index, id: str(block.id) ?? newId('toolu_'), name: str(block.name) ?? '', arguments: '' })]
      }
      case 'content_block_delta': {
        const delta = isObject(json.delta) ? json.delta : {}
        if (delta.type === 'text_delta' && typeof delta.text === 'string') return [w.text(0, delta.text)]
        if (delta.type === 'thinking_delta' && typeof delta.thinking === 'string') return [w.reasoning(0, delta.thinking)]
        if (delta.type === 'input_json_delta' && typeof delta.partial_json === 'string' && typeof json.index === 'number') {
          const index = this.toolIndex.get(json.index)
          return index === undefined || delta.partial_json === '' ? [] : [w.toolCall(0, { index, arguments: delta.partial_json })]
        }
        return []
      }
      case 'message_delta': {
        this.tracker.add(json.usage)
        const delta = isObject(json.delta) ? json.delta : {}
        return delta.stop_reason === undefined || delta.stop_reason === null ? [] : [w.finish(0, finishReasonOf(delta.stop_reason))]
      }
      case 'message_stop':
        return this.close()
      case 'error': {
        this.finished = true
        const error = isObject(json.error) ? json.error : {}
        return [errorChunk(str(error.message) ?? 'the upstream reported an error', 'upstream_error', str(error.type) ?? null), w.done()]
      }
      default:
        return []
    }
  }

  end(): Buffer[] {
    // A stream that ended without message_stop still gets its usage (if any) and [DONE].
    return this.finished || !this.started ? [] : this.close()
  }

  private close(): Buffer[] {
    this.finished = true
    const usage = this.tracker.current()
    return usage ? [this.writer.usage(usage), this.writer.done()] : [this.writer.done()]
  }
}
