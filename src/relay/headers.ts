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
 * Request headers that never reach the upstream, besides the hop-by-hop ones. `authorization`, `api-key` and
 * `x-api-key` would carry the client's relay token; `openai-organization`/`openai-project` name the client's
 * account, which the channel's key does not belong to (OpenAI answers a mismatch with 401); forwarding headers
 * would leak the client's address.
 */
const REQUEST_DROPPED = new Set([
  ...HOP_BY_HOP,
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
 * Response headers that never reach the client, besides the hop-by-hop ones: the gateway sets its own length and
 * framing, decodes nothing (so content-encoding would lie once it asked for identity), sets its own `x-request-id`,
 * and upstream cookies belong to the upstream's domain.
 */
const RESPONSE_DROPPED = new Set([...HOP_BY_HOP, 'content-length', 'content-encoding', 'set-cookie', 'x-request-id']);

export interface UpstreamHeaderOptions {
  /** The channel's credential as the whole header value, e.g. `Bearer sk-...`; absent when the key travels in another header. */
  authorization?: string;
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
  for (const name in incoming) {
    const value = incoming[name];
    if (value === undefined) continue;
    const lower = name.toLowerCase();
    if (REQUEST_DROPPED.has(lower) || (named !== null && named.has(lower))) continue;
    if (lower.startsWith('proxy-') || lower.startsWith('x-forwarded-')) continue;
    out[lower] = Array.isArray(value) ? value.join(', ') : value;
  }
  // Identity, so the relay can read usage out of the body without decompressing it.
  out['accept-encoding'] = 'identity';
  if (opts.authorization !== undefined) out.authorization = opts.authorization;
  out['x-request-id'] = opts.requestId;
  const extra = opts.extra;
  if (extra) {
    for (const name in extra) out[name.toLowerCase()] = extra[name] as string;
  }
  return out;
}

type HeaderValue = string | string[] | number;

/**
 * The upstream's response headers to pass on, added to `out` under the names it does not hold yet (so headers the
 * gateway put there first win); the upstream's own request id is kept as `x-upstream-request-id`.
 */
export function clientResponseHeaders<T extends Record<string, HeaderValue | undefined>>(
  upstream: Record<string, string | string[] | undefined>,
  out: T = Object.create(null) as T,
): T {
  const target = out as Record<string, HeaderValue | undefined>;
  const named = connectionNamed(upstream.connection ?? upstream.Connection);
  for (const name in upstream) {
    const value = upstream[name];
    if (value === undefined) continue;
    let lower = name.toLowerCase();
    if (lower === 'x-request-id') lower = 'x-upstream-request-id';
    else if (RESPONSE_DROPPED.has(lower) || (named !== null && named.has(lower)) || lower.startsWith('proxy-')) continue;
    if (target[lower] === undefined) target[lower] = value;
  }
  return out;
}

/**
 * Header names listed in `Connection` (hop-by-hop for this connection only) beyond the standard hop-by-hop ones;
 * null when there are none. A connection carries the same few values again and again (`keep-alive`, `close`),
 * so each distinct value is split once and remembered.
 */
function connectionNamed(value: string | string[] | undefined): ReadonlySet<string> | null {
  if (value === undefined) return null;
  if (Array.isArray(value) || value.length > CONNECTION_VALUE_KEPT) return namesIn(value);
  let names = CONNECTION_NAMES.get(value);
  if (names === undefined) {
    names = namesIn(value);
    // A bound on what a client can make the gateway remember; the common values come straight back.
    if (CONNECTION_NAMES.size >= CONNECTION_NAMES_KEPT) CONNECTION_NAMES.clear();
    CONNECTION_NAMES.set(value, names);
  }
  return names;
}

const CONNECTION_NAMES = new Map<string, ReadonlySet<string> | null>();
const CONNECTION_NAMES_KEPT = 256;
const CONNECTION_VALUE_KEPT = 128;

function namesIn(value: string | string[]): ReadonlySet<string> | null {
  let names: Set<string> | null = null;
  for (const part of Array.isArray(value) ? value : [value]) {
    for (const token of part.split(',')) {
      const name = token.trim().toLowerCase();
      if (name && !HOP_BY_HOP.has(name)) (names ??= new Set()).add(name);
    }
  }
  return names;
}
