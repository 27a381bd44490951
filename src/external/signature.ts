// The partner API's request signature (CONTRACT §5, "External users"), as pure functions so the
// route, the tests and the docs' examples all share one definition:
//
//   X-Signature = hex(HMAC-SHA256(EXTERNAL_API_SECRET, METHOD&PATH&TIMESTAMP&NONCE[&QUERY][&BODY]))

import { createHmac, timingSafeEqual } from 'node:crypto';

export type QueryInput = string | URLSearchParams | Record<string, string | string[]>;

export interface CanonicalArgs {
  method: string;
  /** the URL path only; anything from '?' on is ignored */
  path: string;
  /** X-Timestamp as sent (unix seconds) */
  timestamp: string;
  /** X-Nonce as sent */
  nonce: string;
  /** raw query string (with or without its leading '?'), parsed params, or a record of decoded values */
  query?: QueryInput;
  /** the raw request body, byte for byte as sent */
  body?: Buffer | string;
}

type Pair = [key: string, value: string];

function queryPairs(query: QueryInput | undefined): Pair[] {
  if (query === undefined) return [];
  if (typeof query === 'string') {
    // URLSearchParams decodes %XX and '+' (form encoding, as Python's parse_qsl and every HTTP
    // client library do), in keys and values alike.
    return [...new URLSearchParams(query.startsWith('?') ? query.slice(1) : query)];
  }
  if (query instanceof URLSearchParams) return [...query];
  const pairs: Pair[] = [];
  for (const [key, value] of Object.entries(query)) {
    for (const one of Array.isArray(value) ? value : [value]) pairs.push([key, one]);
  }
  return pairs;
}

// Sorted by UTF-8 bytes (= Unicode code point order), which is what `LC_ALL=C sort`, Python's
// sorted() and Go's sort.Strings give; JS's default string order (UTF-16 units) differs above U+FFFF.
function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** QUERY: decoded `k=v` pairs sorted by key, then value, joined by '&'; '' when there are none. */
export function canonicalQuery(query: QueryInput | undefined): string {
  return queryPairs(query)
    .sort(([ka, va], [kb, vb]) => compareUtf8(ka, kb) || compareUtf8(va, vb))
    .map(([key, value]) => `${key}=${value}`)
    .join('&');
}

/**
 * The string to sign. A Buffer body is read as UTF-8: partner bodies are JSON, which is UTF-8, and
 * the HMAC is taken over the UTF-8 bytes of this string, i.e. over the body's bytes as sent.
 */
export function canonicalString(args: CanonicalArgs): string {
  const queryStart = args.path.indexOf('?');
  const path = queryStart === -1 ? args.path : args.path.slice(0, queryStart);
  const parts = [args.method.toUpperCase(), path, args.timestamp, args.nonce];
  const query = canonicalQuery(args.query);
  if (query !== '') parts.push(query);
  const body = typeof args.body === 'string' ? args.body : (args.body?.toString('utf8') ?? '');
  if (body !== '') parts.push(body);
  return parts.join('&');
}

/** hex HMAC-SHA256 of the canonical string's UTF-8 bytes */
export function sign(secret: string, canonical: string): string {
  return createHmac('sha256', secret).update(canonical, 'utf8').digest('hex');
}

const HEX_SHA256 = /^[0-9a-fA-F]{64}$/;

/** Constant-time check of a hex signature; anything that is not 64 hex digits is simply false. */
export function verifySignature(secret: string, canonical: string, signatureHex: string): boolean {
  if (typeof signatureHex !== 'string' || !HEX_SHA256.test(signatureHex)) return false;
  const expected = createHmac('sha256', secret).update(canonical, 'utf8').digest();
  return timingSafeEqual(expected, Buffer.from(signatureHex, 'hex'));
}
