// Canonical chunks as an Anthropic Messages stream, for a `/v1/messages` client on a channel of another format,
// event by event:
//
//   first chunk            → message_start (usage still unknown: 0s; the real counts follow in message_delta)
//   reasoning_content      → a thinking block (content_block_start … thinking_delta)
//   content                → a text block (… text_delta)
//   tool_calls[k] with id  → a tool_use block (id, name), its argument pieces → input_json_delta
//   finish_reason          → remembered as stop_reason
//   usage-only chunk       → remembered
//   [DONE] / stream end    → content_block_stop of the open block, message_delta (stop_reason + usage), message_stop
//   an error event         → Anthropic's `error` event, and the stream is over
//
// It holds the open block and the counters, never the text. Blocks follow each other (Anthropic's blocks never
// interleave); a tool call whose arguments come back after another block opened is a case OpenAI streams do not produce.
import { fromOpenAI } from '../../../billing/usage.js'
import type { Usage } from '../../seams.js'
import { isObject, namedEvent, readSseEvent, str, type EventTransform, type Json } from '../shared.js'
import { anthropicErrorType, anthropicErrorEvent } from './errors.js'
import { anthropicUsageOf, messageId, stopReasonOf } from './response.js'

type BlockKind = 'text' | 'thinking' | 'tool'

export class OpenAIToAnthropicStream implements EventTransform {
  private started = false
  private finished = false
  private blocks = 0
  private open: { kind: BlockKind; index: number; tool?: number } | null = null
  private stopReason = 'end_turn'
  private usage: Usage | null = null

  constructor(private readonly model: string) {}

  push(event: Buffer): Buffer[] {
    if (this.finished) return []
    const { data } = readSseEvent(event)
    if (data === null) return []
    if (data.trim() === '[DONE]') return this.close()
    let json: unknown
    try {
      json = JSON.parse(data)
    } catch {
      return []
    }
    if (!isObject(json)) return []
    if ('error' in json) return this.fail(json.error)
    const out: Buffer[] = []
    if (!this.started) out.push(this.start(json))
    if (isObject(json.usage)) this.usage = fromOpenAI(json.usage)
    const choice = Array.isArray(json.choices) ? json.choices.find((c: unknown) => isObject(c) && (c.index ?? 0) === 0) : undefined
    if (!isObject(choice)) return out
    const delta = isObject(choice.delta) ? choice.delta : {}
    const reasoning = str(delta.reasoning_content) ?? str(delta.reasoning)
    if (reasoning) out.push(...this.append('thinking', { type: 'thinking_delta', thinking: reasoning }))
    if (typeof delta.content === 'string' && delta.content) out.push(...this.append('text', { type: 'text_delta', text: delta.content }))
    if (Array.isArray(delta.tool_calls)) {
      for (const call of delta.tool_calls) if (isObject(call)) out.push(...this.toolDelta(call))
    }
    if (typeof choice.finish_reason === 'string') this.stopReason = stopReasonOf(choice.finish_reason)
    return out
  }

  end(): Buffer[] {
    return this.finished || !this.started ? [] : this.close()
  }

  private start(chunk: Json): Buffer {
    this.started = true
    return namedEvent('message_start', {
      type: 'message_start',
      message: {
        id: messageId(chunk.id),
        type: 'message',
        role: 'assistant',
        model: str(chunk.model) ?? this.model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: 0, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
      },
    })
  }

  /** A delta for a text or thinking block: the open block when it is of that kind, else a new one. */
  private append(kind: 'text' | 'thinking', delta: Json): Buffer[] {
    const out: Buffer[] = []
    if (this.open?.kind !== kind) {
      out.push(...this.closeBlock())
      const block = kind === 'text' ? { type: 'text', text: '' } : { type: 'thinking', thinking: '', signature: '' }
      out.push(this.startBlock(kind, block))
    }
    out.push(namedEvent('content_block_delta', { type: 'content_block_delta', index: this.open?.index, delta }))
    return out
  }

  private toolDelta(call: Json): Buffer[] {
    const out: Buffer[] = []
    const tool = typeof call.index === 'number' ? call.index : 0
    const fn = isObject(call.function) ? call.function : {}
    if (typeof call.id === 'string' && (this.open?.kind !== 'tool' || this.open.tool !== tool)) {
      out.push(...this.closeBlock())
      out.push(this.startBlock('tool', { type: 'tool_use', id: call.id, name: str(fn.name) ?? '', input: {} }, tool))
    }
    const args = str(fn.arguments)
    if (args && this.open?.kind === 'tool' && this.open.tool === tool) {
      out.push(namedEvent('content_block_delta', { type: 'content_block_delta', index: this.open.index, delta: { type: 'input_json_delta', partial_json: args } }))
    }
    return out
  }

  private startBlock(kind: BlockKind, block: Json, tool?: number): Buffer {
    this.open = { kind, index: this.blocks, tool }
    this.blocks += 1
    return namedEvent('content_block_start', { type: 'content_block_start', index: this.open.index, content_block: block })
  }

  private closeBlock(): Buffer[] {
    if (!this.open) return []
    const index = this.open.index
    this.open = null
    return [namedEvent('content_block_stop', { type: 'content_block_stop', index })]
  }

  private close(): Buffer[] {
    this.finished = true
    const out = this.closeBlock()
    out.push(
      namedEvent('message_delta', {
        type: 'message_delta',
        delta: { stop_reason: this.stopReason, stop_sequence: null },
        usage: anthropicUsageOf(this.usage),
      }),
      namedEvent('message_stop', { type: 'message_stop' }),
    )
    return out
  }

  private fail(error: unknown): Buffer[] {
    this.finished = true
    const problem = isObject(error) ? error : {}
    const code = str(problem.code) ?? null
    const type = code === 'insufficient_quota' ? anthropicErrorType(429, code) : code === 'upstream_timeout' ? 'timeout_error' : 'api_error'
    return [anthropicErrorEvent(type, str(problem.message) ?? (typeof error === 'string' ? error : 'the upstream reported an error'))]
  }
}
