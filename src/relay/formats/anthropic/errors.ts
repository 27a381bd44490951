// Anthropic's error shape, for every error on `/v1/messages` (CONTRACT §3, §9): `{"type":"error","error":{"type",
// "message"},"request_id"}` with the same HTTP status the OpenAI-shaped answer would have had, and the same
// `x-should-retry` / `retry-after` headers (the Anthropic SDKs read both).
import type { ApiError } from '../../../errors.js'
import { namedEvent, type Json } from '../shared.js'

/** Anthropic's error type for a status (and, for a 429, whether it was money or rate). */
export function anthropicErrorType(status: number, code: string | null): string {
  if (status === 401) return 'authentication_error'
  if (status === 402) return 'billing_error'
  if (status === 403) return 'permission_error'
  if (status === 404) return 'not_found_error'
  if (status === 409) return 'conflict_error'
  if (status === 413) return 'request_too_large'
  if (status === 429) return code === 'insufficient_quota' ? 'billing_error' : 'rate_limit_error'
  if (status === 504 || status === 408) return 'timeout_error'
  if (status === 503 || status === 529) return 'overloaded_error'
  if (status >= 500) return 'api_error'
  return 'invalid_request_error'
}

export function anthropicErrorBody(error: ApiError, requestId: string | null): Json {
  return {
    type: 'error',
    error: { type: anthropicErrorType(error.statusCode, error.code), message: error.message },
    request_id: requestId,
  }
}

/** The `error` event that ends an Anthropic stream (its SDKs raise it as an APIError). */
export function anthropicErrorEvent(type: string, message: string): Buffer {
  return namedEvent('error', { type: 'error', error: { type, message } })
}
