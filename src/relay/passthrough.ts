// Relay of any response that is not a native SSE stream: non-stream JSON answers, audio bytes, the Responses API.
// The bytes go on unchanged as they arrive; a JSON answer is also kept (up to a bound) and parsed once at the end
// for its `usage`.
import type { OutgoingHttpHeaders } from 'node:http'
import { fromOpenAI } from '../billing/usage.js'
import { pumpBody, type RelayResult } from './client-response.js'
import type { RelayClient } from './relay-client.js'
import type { Usage } from './seams.js'
import type { UpstreamResponse } from './upstream-call.js'
import { bodyFailureError } from './upstream-fault.js'

/** JSON answers longer than this are relayed without being parsed for usage (billed as if they had none). */
const USAGE_CAPTURE_LIMIT = 16 * 1024 * 1024

/**
 * `usageOf` reads the usage of the parsed answer in the upstream's own format (an Anthropic answer to an Anthropic
 * client, relayed as it is); OpenAI's `usage` by default.
 */
export async function relayBody(
  client: RelayClient,
  upstream: UpstreamResponse,
  signal: AbortSignal,
  usageOf: (answer: unknown) => Usage | null = openaiUsageOf,
): Promise<RelayResult> {
  const contentType = String(upstream.headers['content-type'] ?? '')
  let captured: Buffer[] | null = /json/i.test(contentType) && upstream.status < 300 ? [] : null
  let capturedBytes = 0
  // The bytes are relayed unchanged, so the upstream's length is still true and spares chunked framing.
  const length = upstream.headers['content-length']
  const extra: OutgoingHttpHeaders = typeof length === 'string' ? { 'content-length': length } : {}
  // The head goes out with the first body byte: a body that fails before it becomes an error of its own.
  let started = false
  const start = (): void => {
    if (started) return
    started = true
    client.start(upstream, extra)
  }

  const error = await pumpBody(upstream, {
    data(chunk) {
      start()
      if (captured) {
        capturedBytes += chunk.length
        if (capturedBytes > USAGE_CAPTURE_LIMIT) captured = null
        else captured.push(chunk)
      }
      return client.write(chunk)
    },
  }, signal)
  const upstreamFailed = error !== null && !signal.aborted
  if (upstreamFailed && !started) throw bodyFailureError(error)
  start()
  client.end(null, upstreamFailed)

  const usage = captured && !error ? usageFromJson(Buffer.concat(captured), usageOf) : null
  return { status: upstream.status, usage, usageSource: usage ? 'upstream' : 'none', delivered: true, error }
}

/**
 * `usage` of an OpenAI answer: chat/completions/embeddings name it prompt/completion, the Responses API
 * input/output; cached and reasoning tokens come from their `*_details` (src/billing/usage.ts).
 */
export function usageFromJson(body: Buffer, usageOf: (answer: unknown) => Usage | null = openaiUsageOf): Usage | null {
  let parsed: unknown
  try {
    parsed = JSON.parse(body.toString('utf8'))
  } catch {
    return null
  }
  return usageOf(parsed)
}

function openaiUsageOf(answer: unknown): Usage | null {
  if (typeof answer !== 'object' || answer === null || !('usage' in answer)) return null
  return fromOpenAI(answer.usage)
}
