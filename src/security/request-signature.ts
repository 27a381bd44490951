// Signed requests (CONTRACT §5 "External users"), the one implementation behind both users of it:
// the partner API (secret EXTERNAL_API_SECRET) and, when CLIENT_SIGNING_SECRET is set, every
// session-authenticated /api request and the chat WebSocket (src/auth/client-signature.ts).
//
//   X-Signature = hex(HMAC-SHA256(secret, METHOD&PATH&TIMESTAMP&NONCE[&QUERY][&BODY]))
//
// headers → string to sign → HMAC → clock skew → nonce first use, in that order: a nonce is recorded
// only once the signature is proven, so nobody without the secret can use up a client's nonces.

import { createHmac, timingSafeEqual, type Hmac } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { Cache } from '../cache/cache.js';
import type { Clock } from '../clock.js';
import { errors } from '../errors.js';

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

/** `METHOD&PATH&TIMESTAMP&NONCE[&QUERY]`: everything before the body, which comes last so it can be streamed. */
export function canonicalHead(args: Omit<CanonicalArgs, 'body'>): string {
  const queryStart = args.path.indexOf('?');
  const path = queryStart === -1 ? args.path : args.path.slice(0, queryStart);
  const parts = [args.method.toUpperCase(), path, args.timestamp, args.nonce];
  const query = canonicalQuery(args.query);
  if (query !== '') parts.push(query);
  return parts.join('&');
}

/**
 * The whole string to sign. A Buffer body is read as UTF-8: bodies are JSON, which is UTF-8, and
 * the HMAC is taken over the UTF-8 bytes of this string, i.e. over the body's bytes as sent.
 */
export function canonicalString(args: CanonicalArgs): string {
  const head = canonicalHead(args);
  const body = typeof args.body === 'string' ? args.body : (args.body?.toString('utf8') ?? '');
  return body === '' ? head : `${head}&${body}`;
}

/** hex HMAC-SHA256 of the canonical string's UTF-8 bytes */
export function sign(secret: string, canonical: string): string {
  return createHmac('sha256', secret).update(canonical, 'utf8').digest('hex');
}

const HEX_SHA256 = /^[0-9a-fA-F]{64}$/;

/** Constant-time comparison of a computed digest with a hex signature; anything but 64 hex digits is false. */
function digestMatches(expected: Buffer, signatureHex: string): boolean {
  if (typeof signatureHex !== 'string' || !HEX_SHA256.test(signatureHex)) return false;
  return timingSafeEqual(expected, Buffer.from(signatureHex, 'hex'));
}

/** Constant-time check of a hex signature over a whole canonical string. */
export function verifySignature(secret: string, canonical: string, signatureHex: string): boolean {
  return digestMatches(createHmac('sha256', secret).update(canonical, 'utf8').digest(), signatureHex);
}

/** Nonces are single use for this long (CONTRACT §1: "nonces are remembered 600 s"). */
export const NONCE_TTL_MS = 600_000;

const TIMESTAMP = /^\d{1,12}$/;
// No '&' (nor space): a nonce that could hold '&' could absorb the QUERY part of a signed request,
// giving the same string to sign under a "new" nonce, i.e. a replay.
const NONCE = /^[A-Za-z0-9._~+/=:-]{8,64}$/;

/** Who verifies: the secret, the accepted skew, and where its nonces live (one namespace per secret). */
export interface SignaturePolicy {
  secret: string;
  maxSkewS: number;
  /** Cache key prefix of this policy's nonces, e.g. `ext-nonce:`; two policies never share one. */
  nonceNamespace: string;
  cache: Cache;
  clock: Clock;
}

/** The request as far as signing goes: method, the URL as sent (path + query), headers. */
export interface SignedRequestHead {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return typeof value === 'string' ? value : undefined;
}

const badSignature = (message: string) => errors.unauthorized('invalid_signature', message);

/**
 * One request's signature check. Made from the request head (401 `invalid_signature` at once when the
 * headers are missing or malformed, before any body byte is read); the body's bytes are then fed in as
 * they arrive (`addBody`), as a stream or all at once, so no body is kept for the sake of signing;
 * `verify()` ends it: signature → skew → nonce. Single use.
 */
export class RequestSignatureCheck {
  private readonly hmac: Hmac;
  private readonly timestamp: string;
  private readonly nonce: string;
  private readonly signature: string;
  private hasBody = false;
  private done = false;

  constructor(
    private readonly policy: SignaturePolicy,
    request: SignedRequestHead,
  ) {
    const timestamp = header(request.headers, 'x-timestamp');
    const nonce = header(request.headers, 'x-nonce');
    const signature = header(request.headers, 'x-signature');
    if (timestamp === undefined || nonce === undefined || signature === undefined) {
      throw badSignature('X-Timestamp, X-Nonce and X-Signature are required');
    }
    if (!TIMESTAMP.test(timestamp)) throw badSignature('X-Timestamp must be unix seconds');
    if (!NONCE.test(nonce)) throw badSignature('X-Nonce must be 8-64 characters of [A-Za-z0-9._~+/=:-]');
    this.timestamp = timestamp;
    this.nonce = nonce;
    this.signature = signature;
    const queryStart = request.url.indexOf('?');
    const head = canonicalHead({
      method: request.method,
      path: queryStart === -1 ? request.url : request.url.slice(0, queryStart),
      timestamp,
      nonce,
      query: queryStart === -1 ? undefined : request.url.slice(queryStart + 1),
    });
    this.hmac = createHmac('sha256', policy.secret).update(head, 'utf8');
  }

  /** The next bytes of the raw body; the '&' before BODY is written with the first non-empty chunk. */
  addBody(chunk: Buffer | string): void {
    if (chunk.length === 0) return;
    if (!this.hasBody) {
      this.hmac.update('&', 'utf8');
      this.hasBody = true;
    }
    this.hmac.update(chunk);
  }

  /** Throws 401 `invalid_signature` / `stale_timestamp` / `nonce_reused`, in that order; records the nonce on success. */
  async verify(): Promise<void> {
    if (this.done) throw new Error('a request signature is verified once');
    this.done = true;
    const { maxSkewS, clock, cache, nonceNamespace } = this.policy;
    if (!digestMatches(this.hmac.digest(), this.signature)) throw badSignature('the request signature does not match');
    const skewS = Math.abs(Math.floor(clock.now() / 1000) - Number(this.timestamp));
    if (skewS > maxSkewS) {
      throw errors.unauthorized('stale_timestamp', `X-Timestamp is more than ${maxSkewS} s from the server's clock`);
    }
    if (!(await cache.setIfAbsent(`${nonceNamespace}${this.nonce}`, '1', NONCE_TTL_MS))) {
      throw errors.unauthorized('nonce_reused', 'this X-Nonce was already used; sign the request again with a new nonce');
    }
  }
}
