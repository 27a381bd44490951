// Upstreams quote keys back in their errors ("Incorrect API key provided: sk-ab***yz"), and a personal API's
// upstream is chosen by a user, so it may put anything in a body. Whatever of such text reaches a client or
// a log goes through here first (CONTRACT §7: nothing in them that looks like a key is passed on).

const REDACTED = '[redacted]'

/** Prefixed keys: OpenAI `sk-…` / `sk-proj-…`, Anthropic `sk-ant-…`, and `key-…`, `api_…`, `token-…` styles. */
const PREFIXED = /\b(?:sk|pk|rk|key|api|token)[-_][A-Za-z0-9*_.-]{4,}/gi
/** Google API keys. */
const GOOGLE = /\bAIza[0-9A-Za-z_-]{20,}/g
/** Whatever follows a `Bearer` scheme. */
const BEARER = /\bBearer\s+[^\s"',;]+/gi
/** Long opaque runs that mix letters and digits: how most keys look, whatever their prefix. */
const OPAQUE = /[A-Za-z0-9_-]{32,}/g

function looksOpaque(run: string): boolean {
  return /[0-9]/.test(run) && /[A-Za-z]/.test(run)
}

/** `text` with `key` (when given) and anything key-like replaced by `[redacted]`. */
export function redactKeys(text: string, key?: string | null): string {
  let out = key && key.length >= 4 ? text.split(key).join(REDACTED) : text
  out = out.replace(BEARER, `Bearer ${REDACTED}`)
  out = out.replace(PREFIXED, REDACTED)
  out = out.replace(GOOGLE, REDACTED)
  out = out.replace(OPAQUE, (run) => (looksOpaque(run) ? REDACTED : run))
  return out
}

/** Cuts `text` to at most `max` characters (never inside a surrogate pair), marking the cut. */
export function cutText(text: string, max: number): string {
  if (text.length <= max) return text
  let end = max - 1
  const code = text.charCodeAt(end - 1)
  if (code >= 0xd800 && code <= 0xdbff) end -= 1
  return `${text.slice(0, end)}…`
}
