// Relay of any response that is not a native SSE stream: non-stream JSON answers, audio bytes, the Responses API.
// The bytes go on unchanged as they arrive; a JSON answer is also kept (up to a bound) and parsed once at the end
// for its `usage`.
import type { FastifyReply } from 'fastify'
import type { OutgoingHttpHeaders } from 'node:http'
import { clientWriter, endClientResponse, pumpBody, startClientResponse, type RelayResult } from './client-response.js'
import type { Usage } from './seams.js'
import type { UpstreamResponse } from './upstream-call.js'

/** JSON answers longer than this are relayed without being parsed for usage (billed as if they had none). */
const USAGE_CAPTURE_LIMIT = 16 * 1024 * 1024

export async function relayBody(reply: FastifyReply, upstream: UpstreamResponse, signal: AbortSignal): Promise<RelayResult> {
  const contentType = String(upstream.headers['content-type'] ?? '')
  let captured: Buffer[] | null = /json/i.test(contentType) && upstream.status < 300 ? [] : null
  let capturedBytes = 0
  // The bytes are relayed unchanged, so the upstream's length is still true and spares chunked framing.
  const length = upstream.headers['content-length']
  const extra: OutgoingHttpHeaders = typeof length === 'string' ? { 'content-length': length } : {}
  startClientResponse(reply, upstream, extra)
  const client = clientWriter(reply, upstream)

  const error = await pumpBody(reply, upstream, {
    data(chunk) {
      if (captured) {
        capturedBytes += chunk.length
        if (capturedBytes > USAGE_CAPTURE_LIMIT) captured = null
        else captured.push(chunk)
      }
      return client.write(chunk)
    },
  }, signal)
  endClientResponse(reply)

  const usage = captured && !error ? usageFromJson(Buffer.concat(captured)) : null
  return { status: upstream.status, usage, usageSource: usage ? 'upstream' : 'none', delivered: true, error }
}

/** `usage` of an OpenAI answer: chat/completions/embeddings name it prompt/completion, the Responses API input/output. */
export function usageFromJson(body: Buffer): Usage | null {
  let parsed: unknown
  try {
    parsed = JSON.parse(body.toString('utf8'))
  } catch {
    return null
  }
  if (typeof parsed !== 'object' || parsed === null || !('usage' in parsed)) return null
  const usage = parsed.usage
  if (typeof usage !== 'object' || usage === null) return null
  const field = (...names: string[]): number => {
    for (const name of names) {
      const value: unknown = (usage as Record<string, unknown>)[name]
      if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return value
    }
    return 0
  }
  return { prompt_tokens: field('prompt_tokens', 'input_tokens'), completion_tokens: field('completion_tokens', 'output_tokens') }
}
