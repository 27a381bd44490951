// OpenAI chat completions: the relay's canonical format. Every converted request passes through it (a provider's
// adapter turns it into its own body, and its answer back into it), so billing and the stream budget read one
// format whatever the channel. These helpers write its answers and stream chunks.
import type { Usage } from '../seams.js'
import { dataEvent, DONE_EVENT, type Json } from './shared.js'

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter'

/**
 * OpenAI's usage object for a normalised usage: `prompt_tokens_details.cached_tokens` and
 * `completion_tokens_details.reasoning_tokens` as OpenAI names them; cache writes (which OpenAI does not report)
 * as `prompt_tokens_details.cache_write_tokens`, the name OpenAI-compatible routers use.
 */
export function openaiUsage(usage: Usage): Json {
  const out: Json = {
    prompt_tokens: usage.prompt_tokens,
    completion_tokens: usage.completion_tokens,
    total_tokens: usage.prompt_tokens + usage.completion_tokens,
  }
  if (usage.cached_tokens || usage.cache_write_tokens) {
    const details: Json = { cached_tokens: usage.cached_tokens ?? 0 }
    if (usage.cache_write_tokens) details.cache_write_tokens = usage.cache_write_tokens
    out.prompt_tokens_details = details
  }
  if (usage.reasoning_tokens) out.completion_tokens_details = { reasoning_tokens: usage.reasoning_tokens }
  return out
}

export interface ToolCallDelta {
  index: number
  id?: string
  name?: string
  arguments: string
}

/**
 * Writes the chunks of one converted stream with the same envelope (`id`, `object`, `created`, `model`) on every
 * chunk, as OpenAI does; the relay's SSE reader skips a repeated envelope without scanning it.
 */
export class ChunkWriter {
  id: string
  model: string
  readonly created: number
  private readonly roleSent = new Set<number>()

  constructor(id: string, model: string, created = Math.floor(Date.now() / 1000)) {
    this.id = id
    this.model = model
    this.created = created
  }

  private chunk(choices: Json[], usage?: Json): Buffer {
    const body: Json = { id: this.id, object: 'chat.completion.chunk', created: this.created, model: this.model, choices }
    if (usage) body.usage = usage
    return dataEvent(body)
  }

  /** A delta for choice `index`; the first delta of a choice also carries `role: "assistant"`. */
  delta(index: number, delta: Json, finishReason: FinishReason | null = null): Buffer {
    const out: Json = this.roleSent.has(index) ? delta : { role: 'assistant', ...delta }
    this.roleSent.add(index)
    return this.chunk([{ index, delta: out, finish_reason: finishReason }])
  }

  text(index: number, text: string): Buffer {
    return this.delta(index, { content: text })
  }

  reasoning(index: number, text: string): Buffer {
    return this.delta(index, { reasoning_content: text })
  }

  toolCall(index: number, call: ToolCallDelta): Buffer {
    const fn: Json = { arguments: call.arguments }
    if (call.name !== undefined) fn.name = call.name
    const entry: Json = call.id !== undefined ? { index: call.index, id: call.id, type: 'function', function: fn } : { index: call.index, function: fn }
    return this.delta(index, { tool_calls: [entry] })
  }

  finish(index: number, reason: FinishReason): Buffer {
    return this.delta(index, {}, reason)
  }

  /** The usage-only chunk (`choices: []`), as OpenAI sends it for `stream_options.include_usage`. */
  usage(usage: Usage): Buffer {
    return this.chunk([], openaiUsage(usage))
  }

  done(): Buffer {
    return DONE_EVENT
  }
}

/** An OpenAI stream error event, which the OpenAI SDKs raise as an APIError. */
export function errorChunk(message: string, type = 'upstream_error', code: string | null = null): Buffer {
  return dataEvent({ error: { message, type, code, param: null } })
}

/** A random id in the style of the format it stands in (`chatcmpl-…`, `call_…`, `msg_…`). */
export function newId(prefix: string): string {
  return `${prefix}${crypto.randomUUID().replace(/-/g, '').slice(0, 24)}`
}
