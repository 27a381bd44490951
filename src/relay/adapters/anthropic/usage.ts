// Anthropic's usage, read from a whole message or from a stream's `message_start` and `message_delta` events.
// fromAnthropic (src/billing/usage.ts) does the normalising; thinking tokens, which newer API versions report in
// `output_tokens_details.thinking_tokens`, are kept as the reasoning part of the output.
import { fromAnthropic } from '../../../billing/usage.js'
import { isObject, num, readSseEvent, sseJson, type Json } from '../../formats/shared.js'
import type { Usage } from '../../seams.js'
import type { ChunkInfo } from '../../sse-event.js'

export function anthropicUsage(usage: unknown): Usage | null {
  const normalised = fromAnthropic(usage)
  if (!normalised || !isObject(usage) || !isObject(usage.output_tokens_details)) return normalised
  const thinking = num(usage.output_tokens_details.thinking_tokens) ?? 0
  if (thinking > 0) normalised.reasoning_tokens = Math.min(thinking, normalised.completion_tokens)
  return normalised
}

/** The usage of a whole Messages API answer. */
export function anthropicAnswerUsage(answer: unknown): Usage | null {
  return isObject(answer) ? anthropicUsage(answer.usage) : null
}

/**
 * A stream's usage as it grows: `message_start` carries the input counts (and a first output count),
 * `message_delta` the cumulative output and, in newer versions, final input counts. Later non-null counts
 * overwrite earlier ones, never add (as the SDK's own accumulator does).
 */
export class AnthropicUsageTracker {
  private merged: Json | null = null

  add(usage: unknown): void {
    if (!isObject(usage)) return
    const merged: Json = this.merged ?? {}
    for (const [name, value] of Object.entries(usage)) {
      if (value !== null && value !== undefined) merged[name] = value
    }
    this.merged = merged
  }

  current(): Usage | null {
    return this.merged ? anthropicUsage(this.merged) : null
  }
}

/**
 * Reads an Anthropic stream relayed as it is (an Anthropic client on an Anthropic channel) for what billing and
 * the stream budget need: the usage so far, and the generated text of each delta with its bound (UTF-8 bytes,
 * never fewer than its tokens). Only the event's own JSON is parsed; nothing is re-serialised.
 */
export class AnthropicEventReader implements ChunkInfo {
  done = false
  usage: Usage | null = null
  usageOnly = false
  text = ''
  textBound = 0
  private readonly tracker = new AnthropicUsageTracker()

  read(event: Buffer): this {
    this.usage = null
    this.text = ''
    this.textBound = 0
    const { name, data } = readSseEvent(event)
    if (name === 'ping' || data === null) return this
    const json = sseJson(data)
    if (!json) return this
    const type = json.type
    if (type === 'message_start' && isObject(json.message)) {
      this.tracker.add(json.message.usage)
      this.usage = this.tracker.current()
    } else if (type === 'message_delta') {
      this.tracker.add(json.usage)
      this.usage = this.tracker.current()
    } else if (type === 'content_block_delta' && isObject(json.delta)) {
      const delta = json.delta
      const text = typeof delta.text === 'string' ? delta.text : typeof delta.thinking === 'string' ? delta.thinking : typeof delta.partial_json === 'string' ? delta.partial_json : ''
      this.text = text
      this.textBound = Buffer.byteLength(text)
    } else if (type === 'message_stop') {
      this.done = true
    }
    return this
  }
}
