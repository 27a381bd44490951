// Relay of a whole answer that must be converted (CONTRACT §9): a non-stream answer from a channel of another
// format. Unlike a pass-through it cannot go on byte by byte: the answer is read (bounded), converted once, and sent
// as one JSON body. An upstream error comes back as the gateway's own error (the upstream's status and message),
// which the route renders in the client's format.
import { ApiError } from '../errors.js'
import { cutText, redactKeys } from '../security/redact-keys.js'
import type { ChannelAdapter, ConversionContext } from './adapters/adapter.js'
import { pumpBody, type RelayResult } from './client-response.js'
import { convertAnswer } from './exchange.js'
import { isObject, str, type Json } from './formats/shared.js'
import type { RelayClient } from './relay-client.js'
import type { RelayEndpoint } from './request.js'
import type { UpstreamResponse } from './upstream-call.js'
import { bodyFailureError } from './upstream-fault.js'

/** A converted answer is held whole: longer ones are refused rather than held. */
const ANSWER_LIMIT = 16 * 1024 * 1024
const MESSAGE_LIMIT = 1000

class AnswerTooLong extends Error {}

export async function relayConvertedBody(
  client: RelayClient,
  upstream: UpstreamResponse,
  convert: { kind: RelayEndpoint['kind']; adapter: ChannelAdapter; ctx: ConversionContext; key: string },
  signal: AbortSignal,
): Promise<RelayResult> {
  const parts: Buffer[] = []
  let size = 0
  let tooLong = false
  const error = await pumpBody(upstream, {
    data(chunk) {
      size += chunk.length
      if (size > ANSWER_LIMIT) {
        tooLong = true
        upstream.abort(new AnswerTooLong())
      } else if (!tooLong) parts.push(chunk)
      return true
    },
  }, signal)
  if (signal.aborted) {
    // The client left: nobody to answer.
    client.abandon()
    return { status: 499, usage: null, usageSource: 'none', delivered: false, error }
  }
  if (tooLong) throw new ApiError(502, 'upstream_error', `the upstream's answer is over ${ANSWER_LIMIT} bytes, too long to convert`, { type: 'upstream_error' })
  if (error) throw bodyFailureError(error)
  let answer: unknown = null
  try {
    answer = JSON.parse(Buffer.concat(parts).toString('utf8'))
  } catch {
    // handled below
  }
  if (upstream.status >= 300 || !isObject(answer) || (isObject(answer.error) && upstream.status < 300)) {
    throw upstreamAnswerError(upstream.status, answer, convert.key)
  }
  const { body, usage } = convertAnswer(convert.kind, convert.adapter, answer, convert.ctx)
  const out = Buffer.from(JSON.stringify(body))
  client.start(upstream, { 'content-type': 'application/json; charset=utf-8', 'content-length': String(out.length) })
  client.end(out)
  return { status: upstream.status, usage, usageSource: usage ? 'upstream' : 'none', delivered: true, error: null }
}

/**
 * The upstream's error as the gateway's: its status (a 200 that carries an error, or is no JSON at all, is a 502),
 * its message and code when its body names them (OpenAI's, Anthropic's and Gemini's error objects all keep them
 * in `error`), with anything that looks like a key cut out.
 */
function upstreamAnswerError(status: number, answer: unknown, key: string): ApiError {
  const problem = isObject(answer) && isObject(answer.error) ? (answer.error as Json) : null
  const failedOk = status < 300
  let message = problem ? str(problem.message) : isObject(answer) ? str(answer.error) : undefined
  if (!message) message = failedOk ? "the upstream's answer could not be read" : `upstream answered ${status}`
  const code = problem ? (str(problem.code) ?? str(problem.type) ?? str(problem.status) ?? null) : null
  const finalStatus = failedOk ? 502 : status
  return new ApiError(finalStatus, code ?? 'upstream_error', cutText(redactKeys(message, key), MESSAGE_LIMIT), {
    type: finalStatus >= 500 ? 'upstream_error' : undefined,
  })
}
