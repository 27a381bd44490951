// SSE relay for chat and completions streams: the upstream's own bytes go to the client event by event, nothing
// is re-serialised. The splitter only finds event boundaries, so the usage-only chunk (which the gateway asked
// for on the client's behalf) can be held back, and usage or generated text can be read on the way.
import type { FastifyReply } from 'fastify'
import { StreamTokenCounter } from '../billing/tokens-count.js'
import { clientWriter, endClientResponse, pumpBody, startClientResponse, type RelayResult } from './client-response.js'
import type { Usage } from './seams.js'
import { inspectChunk, SseEventSplitter } from './sse.js'
import type { UpstreamResponse } from './upstream-call.js'

export interface SseRelayOptions {
  /** The client asked for `stream_options.include_usage`; otherwise the usage-only chunk is dropped. */
  clientWantsUsage: boolean
  promptTokensEstimate: number
}

export async function relaySse(
  reply: FastifyReply,
  upstream: UpstreamResponse,
  opts: SseRelayOptions,
  signal: AbortSignal,
): Promise<RelayResult> {
  const splitter = new SseEventSplitter()
  const counter = new StreamTokenCounter()
  let usage: Usage | null = null
  startClientResponse(reply, upstream)
  const client = clientWriter(reply, upstream)
  const res = reply.raw

  /** Inspects one event; true when it goes on to the client. */
  const keep = (event: Buffer): boolean => {
    const info = inspectChunk(event)
    if (info.usage) usage = { prompt_tokens: info.usage.prompt_tokens, completion_tokens: info.usage.completion_tokens }
    if (info.text) counter.add(info.text)
    return !(info.usageOnly && !opts.clientWantsUsage)
  }

  const error = await pumpBody(reply, upstream, {
    data(chunk) {
      const heldBefore = splitter.heldBytes
      const events = splitter.push(chunk)
      let dropped = false
      let kept: Buffer[] | null = null
      for (const event of events) {
        if (keep(event)) (kept ??= []).push(event)
        else dropped = true
      }
      // The common case: the chunk was exactly whole events, all kept → the chunk itself goes on, one write.
      if (!dropped && heldBefore === 0 && splitter.heldBytes === 0) return client.write(chunk)
      if (!kept) return true
      if (kept.length === 1) return client.write(kept[0] as Buffer)
      res.cork()
      let ok = true
      for (const event of kept) ok = client.write(event) && ok
      res.uncork()
      return ok
    },
  }, signal)

  const rest = splitter.flush()
  endClientResponse(reply, rest && keep(rest) ? rest : null)
  const upstreamUsage: Usage | null = usage
  return {
    status: upstream.status,
    usage: upstreamUsage ?? { prompt_tokens: opts.promptTokensEstimate, completion_tokens: counter.total() },
    usageSource: upstreamUsage ? 'upstream' : 'counted',
    delivered: true,
    error,
  }
}
