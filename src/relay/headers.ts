// Which headers cross the relay in each direction. Hop-by-hop headers describe one connection and never travel
// on (RFC 9110 §7.6.1); the rest are filtered so the client's credentials and address stay with the gateway.
import type { IncomingHttpHeaders } from 'node:http';

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/**
 * Request headers that never reach the upstream. `authorization`, `api-key` and `x-api-key` would carry the
 * client's relay token; `openai-organization`/`openai-project` name the client's account, which the channel's
 * key does not belong to (OpenAI answers a mismatch with 401); forwarding headers would leak the client's address.
 */
const REQUEST_DROPPED = new Set([
  'host',
  'content-length',
  'authorization',
  'api-key',
  'x-api-key',
  'cookie',
  'accept-encoding',
  'expect',
  'forwarded',
  'x-real-ip',
  'x-request-id',
  'openai-organization',
  'openai-project',
]);

/**
 * Response headers that never reach the client: the gateway sets its own length and framing, decodes nothing
 * (so content-encoding would lie once it asked for identity), sets its own `x-request-id`, and upstream cookies
 * belong to the upstream's domain.
 */
const RESPONSE_DROPPED = new Set(['content-length', 'content-encoding', 'set-cookie', 'x-request-id']);

export interface UpstreamHeaderOptions {
  /** The channel's credential as the whole header value, e.g. `Bearer sk-...`. */
  authorization: string;
  requestId: string;
  /** Set last, so an adapter's own auth or version headers win. */
  extra?: Record<string, string>;
}

export function upstreamRequestHeaders(
  incoming: IncomingHttpHeaders,
  opts: UpstreamHeaderOptions,
): Record<string, string> {
  const named = connectionNamed(incoming.connection);
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined) continue;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || REQUEST_DROPPED.has(lower) || named.has(lower)) continue;
    if (lower.startsWith('proxy-') || lower.startsWith('x-forwarded-')) continue;
    out[lower] = Array.isArray(value) ? value.join(', ') : value;
  }
  // Identity, so the relay can read usage out of the body without decompressing it.
  out['accept-encoding'] = 'identity';
  out.authorization = opts.authorization;
  out['x-request-id'] = opts.requestId;
  if (opts.extra) {
    for (const [name, value] of Object.entries(opts.extra)) out[name.toLowerCase()] = value;
  }
  return out;
}

/** The upstream's response headers to pass on; its own request id is kept as `x-upstream-request-id`. */
export function clientResponseHeaders(
  upstream: Record<string, string | string[] | undefined>,
): Record<string, string | string[]> {
  const named = connectionNamed(upstream.connection ?? upstream.Connection);
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(upstream)) {
    if (value === undefined) continue;
    const lower = name.toLowerCase();
    if (lower === 'x-request-id') {
      out['x-upstream-request-id'] = value;
      continue;
    }
    if (HOP_BY_HOP.has(lower) || RESPONSE_DROPPED.has(lower) || named.has(lower)) continue;
    if (lower.startsWith('proxy-')) continue;
    out[lower] = value;
  }
  return out;
}

/** Header names listed in `Connection`, which are hop-by-hop for this connection only. */
function connectionNamed(value: string | string[] | undefined): Set<string> {
  const names = new Set<string>();
  if (value === undefined) return names;
  for (const part of Array.isArray(value) ? value : [value]) {
    for (const token of part.split(',')) {
      const name = token.trim().toLowerCase();
      if (name) names.add(name);
    }
  }
  return names;
}
