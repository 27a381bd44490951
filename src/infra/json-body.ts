import type { FastifyInstance, FastifyRequest } from 'fastify'
import { errors } from '../errors.js'

/** CONTRACT §2/§3: a JSON body nested deeper than this is refused on every route. */
export const MAX_JSON_DEPTH = 64

const notJson = () => errors.invalidRequest('request body is not valid JSON')

/**
 * The one JSON body parser of the whole app (and of the partner API, which parses after checking
 * the signature over the raw bytes). What fastify's default parser did — empty or broken → 400,
 * `__proto__` / `constructor.prototype` keys refused (its `onProtoPoisoning: 'error'`) — plus a depth limit,
 * so a body the rest of the gateway cannot handle (JSON.stringify, ajv, drizzle and the relay all
 * recurse) is a 400 here rather than a 500 or a 502 further on.
 *
 * Why check after JSON.parse rather than scan the text first (measured on Node 20, 128 KB chat body):
 * V8's JSON.parse is iterative (it survives 1,000,000 levels; JSON.stringify throws past ~5,000), and
 * walking the parsed value costs ~3 µs against ~47 µs for the best text scan and ~110 µs for JSON.parse
 * itself; the walk also replaces secure-json-parse's poisoning regexes (~38 µs), so this parser costs
 * about half of fastify's default. A deep body still gets parsed first, but 20 MB of nesting costs no
 * more to parse than 20 MB of flat `[{},{},…]`, which only BODY_LIMIT_BYTES bounds either way.
 */
export function parseJsonBody(text: string): unknown {
  // A leading byte-order mark is tolerated, as secure-json-parse did.
  const json = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text
  if (json.length === 0) throw notJson()
  let value: unknown
  try {
    value = JSON.parse(json)
  } catch {
    throw notJson()
  }
  assertSafeJson(value)
  return value
}

/** Throws 400 when a parsed body nests deeper than MAX_JSON_DEPTH or carries a poisoning key. */
export function assertSafeJson(value: unknown): void {
  const problem = findJsonProblem(value, MAX_JSON_DEPTH)
  if (problem !== null) throw errors.invalidRequest(`request body: ${problem}`)
}

/**
 * JSON may spell an unpaired UTF-16 surrogate (`"\ud800"`), which no UTF-8 text can hold: MySQL's JSON
 * columns refuse it (a 500 before this) and text columns silently store U+FFFD. Values bound for storage
 * are checked with this (a schema `pattern`; ajv compiles patterns in unicode mode, where a surrogate
 * pair is one code point and only a lone surrogate falls in the class).
 */
export const NO_LONE_SURROGATES = '^[^\\ud800-\\udfff]*$'
const LONE_SURROGATE = /\p{Cs}/u

/**
 * The first problem of a parsed JSON value — nesting beyond `maxDepth` levels of objects and arrays, a
 * `__proto__` / `constructor.prototype` key, and with `strings` a key or string holding an unpaired
 * surrogate — as a message, or null. Walks level by level (a work list, never recursion: the input is
 * what is being checked) and stops at the first level past `maxDepth`.
 */
export function findJsonProblem(value: unknown, maxDepth: number, opts: { strings?: boolean } = {}): string | null {
  const strings = opts.strings === true
  const loneSurrogate = 'a string holds an unpaired UTF-16 surrogate'
  if (strings && typeof value === 'string' && LONE_SURROGATE.test(value)) return loneSurrogate
  if (typeof value !== 'object' || value === null) return null
  let level: object[] = [value]
  for (let depth = 1; level.length > 0; depth++) {
    if (depth > maxDepth) return `JSON nested deeper than ${maxDepth} levels`
    const next: object[] = []
    for (const node of level) {
      if (Array.isArray(node)) {
        for (let i = 0; i < node.length; i++) {
          const child: unknown = node[i]
          if (typeof child === 'object' && child !== null) next.push(child)
          else if (strings && typeof child === 'string' && LONE_SURROGATE.test(child)) return loneSurrogate
        }
        continue
      }
      for (const key in node) {
        const child: unknown = (node as Record<string, unknown>)[key]
        if (key === '__proto__' || (key === 'constructor' && hasPrototypeKey(child))) return `the key '${key}' is not allowed`
        if (typeof child === 'object' && child !== null) next.push(child)
        else if (strings && typeof child === 'string' && LONE_SURROGATE.test(child)) return loneSurrogate
        if (strings && LONE_SURROGATE.test(key)) return loneSurrogate
      }
    }
    level = next
  }
  return null
}

/** secure-json-parse's test: `constructor` is refused only when it carries an own `prototype`. */
function hasPrototypeKey(value: unknown): boolean {
  return typeof value === 'object' && value !== null && Object.prototype.hasOwnProperty.call(value, 'prototype')
}

/**
 * Replaces fastify's application/json parser on the instance it is called on (the root, from the
 * app plugin): every route registered afterwards inherits it. The body limit stays the server's
 * (413 `body_too_large`). With `keepText`, the text is kept on the request (`request.jsonText`):
 * the relay bounds a prompt's tokens by its size.
 */
export function installJsonBodyParser(app: FastifyInstance, opts: { keepText?: boolean } = {}): void {
  if (opts.keepText) app.removeContentTypeParser('application/json')
  app.addContentTypeParser(
    'application/json',
    { parseAs: opts.keepText ? 'buffer' : 'string' },
    (request: FastifyRequest, body: string | Buffer, done: (err: Error | null, body?: unknown) => void) => {
      const text = typeof body === 'string' ? body : body.toString('utf8')
      let parsed: unknown
      try {
        parsed = parseJsonBody(text)
      } catch (err) {
        done(err as Error, undefined)
        return
      }
      if (opts.keepText) {
        request.jsonText = text
        if (typeof body !== 'string') request.jsonBytes = body
      }
      done(null, parsed)
    },
  )
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The JSON text the body was parsed from, where the parser keeps it (the relay's routes), else null. */
    jsonText: string | null
    /** The bytes `jsonText` was decoded from, where the parser keeps them: the relay may forward them as they came. */
    jsonBytes: Buffer | null
  }
}
