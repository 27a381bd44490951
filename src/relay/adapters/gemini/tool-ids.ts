// Gemini 3 hands out a thought signature with its function calls and wants it back on those calls in the next
// turn. OpenAI and Anthropic clients keep nothing but the call's id, so the signature travels inside the id
// (LiteLLM's way): `call_<random>__thought__<signature as base64url>`. Ids stay within [A-Za-z0-9_-].
import { newId } from '../../formats/openai-chat.js'

const SEPARATOR = '__thought__'

export function toolCallId(signature?: string | null): string {
  const id = newId('call_')
  if (!signature) return id
  return `${id}${SEPARATOR}${signature.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')}`
}

/** The thought signature carried in a tool call's id, or null. */
export function signatureOfToolCallId(id: string): string | null {
  const at = id.indexOf(SEPARATOR)
  if (at < 0) return null
  const encoded = id.slice(at + SEPARATOR.length)
  if (!/^[A-Za-z0-9_-]+$/.test(encoded)) return null
  const base64 = encoded.replace(/-/g, '+').replace(/_/g, '/')
  return base64 + '='.repeat((4 - (base64.length % 4)) % 4)
}
