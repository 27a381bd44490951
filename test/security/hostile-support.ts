// Support for test/security/hostile-input.test.ts: the app with a record of its routes, the route classification,
// hostile-value arbitraries, the oracle that says whether the app itself must refuse an input, the database
// fingerprint and the error-shape checks.
import { getTableColumns, getTableName, is, sql, Table } from 'drizzle-orm'
import fc from 'fast-check'
import type { FastifyInstance, FastifySchema, LightMyRequestResponse } from 'fastify'
import { parseJsonBody } from '../../src/infra/json-body.js'
import type { Backend, Provisioned } from '../support/backends.js'
import { buildApp } from '../support/build-app.js'

export type Kind = 'anonymous' | 'user' | 'admin' | 'relay-key' | 'partner-signed' | 'websocket' | 'static'

/**
 * Who may call each route, keyed `METHOD url` as the app registers it (trailing slash dropped; HEAD follows its GET).
 * The suite enumerates the routes from the app and fails on any route missing here: a new route must be classified
 * (and so gets fuzzed as the right caller) before the suite passes again.
 */
export const ROUTE_KINDS: Record<string, Kind> = {
  'GET /healthz': 'anonymous',
  'GET /readyz': 'anonymous',
  'GET /metrics': 'anonymous',
  'GET /docs': 'static',
  'GET /docs/json': 'static',
  'GET /docs/yaml': 'static',
  'GET /docs/static/index.html': 'static',
  'GET /docs/static/swagger-initializer.js': 'static',
  'GET /docs/static/*': 'static',
  'GET /': 'static',
  'GET /*': 'static',
  'GET /assets/*': 'static',

  'POST /v1/chat/completions': 'relay-key',
  'POST /v1/completions': 'relay-key',
  'POST /v1/embeddings': 'relay-key',
  'POST /v1/responses': 'relay-key',
  'POST /v1/moderations': 'relay-key',
  'POST /v1/images/generations': 'relay-key',
  'POST /v1/audio/speech': 'relay-key',
  'POST /v1/audio/transcriptions': 'relay-key',
  'GET /v1/models': 'relay-key',
  'GET /v1/models/*': 'relay-key',
  'POST /v1/messages': 'relay-key',
  'GET /v1/realtime': 'websocket',

  'POST /api/auth/register': 'anonymous',
  'POST /api/auth/login': 'anonymous',
  'POST /api/auth/logout': 'user',
  'POST /api/auth/send-code': 'anonymous',
  'POST /api/auth/verify-code': 'anonymous',
  'POST /api/auth/reset-password': 'anonymous',

  'GET /api/user/self': 'user',
  'PATCH /api/user/self': 'user',
  'PUT /api/user/self/password': 'user',
  'POST /api/user/self/redeem': 'user',
  'GET /api/user': 'admin',
  'GET /api/user/:id': 'admin',
  'PATCH /api/user/:id': 'admin',
  'DELETE /api/user/:id': 'admin',
  'POST /api/user/:id/quota': 'admin',

  'POST /api/user/external/sync': 'partner-signed',
  'POST /api/user/external/topup': 'partner-signed',
  'POST /api/user/external/token': 'partner-signed',
  'GET /api/user/external/:external_user_id': 'partner-signed',
  'GET /api/user/external/:external_user_id/stats': 'partner-signed',
  'GET /api/user/external/:external_user_id/topups': 'partner-signed',

  'POST /api/token': 'user',
  'GET /api/token': 'user',
  'GET /api/token/:id': 'user',
  'PATCH /api/token/:id': 'user',
  'DELETE /api/token/:id': 'user',

  'POST /api/user/self/apis': 'user',
  'GET /api/user/self/apis': 'user',
  'GET /api/user/self/apis/:id': 'user',
  'PATCH /api/user/self/apis/:id': 'user',
  'DELETE /api/user/self/apis/:id': 'user',
  'POST /api/user/self/apis/:id/test': 'user',

  'POST /api/channel': 'admin',
  'GET /api/channel': 'admin',
  'GET /api/channel/:id': 'admin',
  'PUT /api/channel/:id': 'admin',
  'PATCH /api/channel/:id': 'admin',
  'DELETE /api/channel/:id': 'admin',
  'POST /api/channel/:id/test': 'admin',

  'GET /api/pricing': 'anonymous',
  'GET /api/pricing/groups': 'admin',
  'PUT /api/pricing/groups/:name': 'admin',
  'DELETE /api/pricing/groups/:name': 'admin',
  'GET /api/pricing/*': 'anonymous',
  'PUT /api/pricing/*': 'admin',
  'DELETE /api/pricing/*': 'admin',

  'GET /api/log/self': 'user',
  'GET /api/log': 'admin',
  'GET /api/log/stat': 'user',

  'POST /api/conversations': 'user',
  'GET /api/conversations': 'user',
  'GET /api/conversations/:id': 'user',
  'PATCH /api/conversations/:id': 'user',
  'DELETE /api/conversations/:id': 'user',
  'GET /api/conversations/:id/messages': 'user',
  'POST /api/conversations/:id/messages': 'user',
  'GET /api/models': 'user',
  'GET /ws/chat': 'websocket',

  'POST /api/redemption': 'admin',
  'GET /api/redemption': 'admin',
  'DELETE /api/redemption/:id': 'admin',
}

/** Routes classified ahead of their arrival (another piece of work adds them); absent today is not an error. */
export const ROUTES_EXPECTED_LATER = new Set(['GET /v1/realtime'])

export interface RouteInfo {
  method: string
  url: string
  key: string
  schema: FastifySchema
  websocket: boolean
}

export interface HostileApp {
  app: FastifyInstance
  routes: RouteInfo[]
  provisioned: Provisioned
}

interface Teardown {
  teardown(fn: () => unknown): void
}

const normalise = (url: string) => (url.length > 1 && url.endsWith('/') ? url.slice(0, -1) : url)

/**
 * The gateway as every suite builds it (test/support/build-app.ts), plus an onRoute hook registered before the app,
 * so the suite sees every route the app declares (with its schema) rather than a hand list.
 */
export async function buildHostileApp(t: Teardown, backend: Backend, env: Record<string, string> = {}): Promise<HostileApp> {
  const seen = new Map<string, RouteInfo>()
  const listRoutes = (fastify: FastifyInstance) =>
    fastify.addHook('onRoute', (route) => {
      for (const method of [route.method].flat()) {
        if (method === 'HEAD') continue
        const url = normalise(route.url)
        const key = `${method} ${url}`
        if (!seen.has(key)) seen.set(key, { method, url, key, schema: route.schema ?? {}, websocket: Boolean((route as { websocket?: boolean }).websocket) })
      }
    })
  const { app, provisioned } = await buildApp(t, backend, { env, leases: false, beforeApp: listRoutes })
  return { app, routes: [...seen.values()], provisioned }
}

// ---------------------------------------------------------------------------------------------------------------
// Hostile values. A value is a plain JSON value or a Raw JSON text (numbers JSON can spell but JS cannot hold,
// keys JS objects make awkward); bodies are serialised by hand so `__proto__` keys and `1e309` reach the wire.

export class Raw {
  constructor(readonly text: string) {}
}
export class Entries {
  constructor(readonly entries: Array<[string, unknown]>) {}
}

export function toJsonText(value: unknown): string {
  if (value instanceof Raw) return value.text
  if (value instanceof Entries) return `{${value.entries.map(([k, v]) => `${JSON.stringify(k)}:${toJsonText(v)}`).join(',')}}`
  if (Array.isArray(value)) return `[${value.map(toJsonText).join(',')}]`
  if (value !== null && typeof value === 'object') return toJsonText(new Entries(Object.entries(value)))
  if (value === undefined) return 'null'
  return JSON.stringify(value)
}

const KB = 1024
/** Unicode that has broken parsers, databases and logs elsewhere. */
export const UNICODE_EDGES = [
  '\u0000', 'a\u0000b', '\ud800', '\udfff', 'x\ud83dy', '\ude00\ud83d', '😀', '👨‍👩‍👧‍👦', '\u202eevil\u202c', '\u200f\u200e', '\ufeff', 'e\u0301',
  '\u2028\u2029', 'Ａｄｍｉｎ', '𝕣𝕠𝕠𝕥', 'İı', 'ß', '\u0085', '\u001b[31m', '\r\nset-cookie: x=1', '<script>alert(1)</script>',
  "' or 1=1 --", '%', '_', '%%', '\\', '!%', '${jndi:ldap://x}', '{{7*7}}', '../../etc/passwd',
]
/** Keys a careless merge or lookup treats specially. */
export const PROTO_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__', 'isPrototypeOf']

const deepArrays = (depth: number) => new Raw('['.repeat(depth) + ']'.repeat(depth))
const deepObjects = (depth: number) => new Raw('{"a":'.repeat(depth) + '1' + '}'.repeat(depth))

export const hugeString = fc
  .tuple(fc.integer({ min: 64 * KB, max: 200 * KB }), fc.constantFrom('x', '😀', '\u0000', '%', 'é'))
  .map(([n, unit]) => unit.repeat(Math.ceil(n / Buffer.byteLength(unit))))

export const hostileScalar: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom<unknown>(0, -1, -0, 1.5, -1.5, 2 ** 53, -(2 ** 53), 2 ** 63, 1e308, -1e308, Number.MIN_VALUE, true, false, null, '', ' ', '0', '-1', '1e309', 'NaN', 'null', 'true', '[]', '{}'),
  fc.constantFrom<unknown>(new Raw('1e309'), new Raw('-1e309'), new Raw('1e-400'), new Raw('123456789012345678901234567890'), new Raw('-0.0'), new Raw('1E+2')),
  fc.constantFrom<unknown>(...UNICODE_EDGES),
  fc.string({ maxLength: 40, unit: 'binary' }),
  fc.integer(),
  fc.double(),
)

export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: hostileScalar },
  { weight: 1, arbitrary: hugeString },
  { weight: 1, arbitrary: fc.array(hostileScalar, { maxLength: 5 }) },
  { weight: 1, arbitrary: fc.integer({ min: 2, max: 400 }).chain((d) => fc.constantFrom(deepArrays(d), deepObjects(d))) },
  {
    weight: 1,
    arbitrary: fc
      .array(fc.tuple(fc.constantFrom(...PROTO_KEYS, ...UNICODE_EDGES.slice(0, 6)), hostileScalar), { minLength: 1, maxLength: 3 })
      .map((entries) => new Entries(entries)),
  },
)

/** Path segments that try to escape, alias or overflow an id or a name; none of them names an existing row. */
export const PATH_TRICKS = [
  '..', '%2e%2e', '%2E%2E%2F%2E%2E', '.%2e', '..%2f..%2fhealthz', '%00', '1%00', '9999999%00', '%0d%0aset-cookie:%20x=1', '-1', '0', '1.5',
  '1e309', '-1e309', 'NaN', 'Infinity', '9'.repeat(99), 'x'.repeat(100), 'abc', '%F0%9F%98%80', '%E2%80%AE1', '+9999999',
  '9999999.0', '%209999999', '0x98967f', 'null', 'undefined', '__proto__', 'constructor', 'prototype', '%25', '_', '%5C..%5C', '%2F',
  '9007199254740993', '-9223372036854775809', '١٢٣',
]

/**
 * Path segments fastify's router itself refuses before any hook runs (not UTF-8 once decoded; longer than
 * maxParamLength): answered by the `frameworkErrors` server option.
 */
export const FRAMEWORK_PATH_TRICKS = ['%ED%A0%80', '%C0%AE%C0%AE', '%FF', '9'.repeat(400), 'x'.repeat(2000)]

/** Query values that no bounded page, id, date or enum takes. */
export const QUERY_TRICKS = [
  '-1', '0', '1.5', '1e309', 'abc', '', ' ', '99999999999999999999', '9007199254740993', 'NaN', 'null', 'true', '\u0000', '\ud800', '😀',
  '\u202e', '2024-13-45', 'not-a-date', '1970-01-01T00:00:00Z; drop table users', 'x'.repeat(5000),
]

/** Bodies that are not JSON a parser takes, whatever the route. */
export const MALFORMED_JSON = ['{', '{"a":1', 'nope', "{'a':1}", '{"a":1,}', '[1,]', 'NaN', '{"a":undefined}', '{"a":"\u0000"}', '"\\x41"', '{"a":01}', '{"a":.5}', '\ufeff']

// ---------------------------------------------------------------------------------------------------------------
// The oracle: the app's own parser and validators decide whether an input is invalid, so a 2xx on such an
// input (or any 5xx) is the app disagreeing with itself.

type Validate = ((value: unknown) => boolean) & { errors?: unknown }

export function validatorFor(app: FastifyInstance, route: RouteInfo, part: 'body' | 'params' | 'querystring'): Validate | null {
  const schema = (route.schema as Record<string, unknown>)[part]
  if (!schema || !app.validatorCompiler) return null
  return app.validatorCompiler({ schema, method: route.method, url: route.url, httpPart: part }) as Validate
}

/** `true` when the app's JSON parser refuses `text` (bad JSON, too deep, poisoned). */
export function parserRefuses(text: string): boolean {
  try {
    parseJsonBody(text)
    return false
  } catch {
    return true
  }
}

/** The schema's properties and required names (an object schema, or the first object branch of a union). */
export function objectShape(schema: unknown): { properties: Record<string, unknown>; required: string[] } {
  const s = schema as { type?: unknown; properties?: Record<string, unknown>; required?: string[]; anyOf?: unknown[]; oneOf?: unknown[] } | undefined
  if (!s) return { properties: {}, required: [] }
  if (s.properties) return { properties: s.properties, required: s.required ?? [] }
  for (const branch of s.anyOf ?? s.oneOf ?? []) {
    const shape = objectShape(branch)
    if (Object.keys(shape.properties).length > 0) return shape
  }
  return { properties: {}, required: [] }
}

/**
 * A value the schema accepts, built from the schema alone (enums, consts, minimums, lengths); null when it cannot
 * tell. Used only to check that even a valid body is refused to a caller without the right.
 */
export function exampleOf(schema: unknown, depth = 0): unknown {
  const s = schema as Record<string, unknown> | undefined
  if (!s || depth > 6) return null
  if ('const' in s) return s.const
  if (Array.isArray(s.enum)) return s.enum[0]
  if ('default' in s && s.default !== undefined) return s.default
  for (const union of [s.anyOf, s.oneOf]) if (Array.isArray(union)) return exampleOf(union[0], depth + 1)
  const type = Array.isArray(s.type) ? s.type[0] : s.type
  switch (type) {
    case 'object': {
      const out: Record<string, unknown> = {}
      const { properties, required } = objectShape(s)
      for (const name of required) out[name] = exampleOf(properties[name], depth + 1)
      return out
    }
    case 'array':
      return []
    case 'string': {
      if (s.format === 'date-time') return '2030-01-01T00:00:00.000Z'
      if (s.format === 'uri' || /http/.test(String(s.pattern ?? ''))) return 'https://example.com'
      const min = typeof s.minLength === 'number' ? s.minLength : 1
      return 'a'.repeat(Math.max(min, 8))
    }
    case 'integer':
    case 'number':
      return typeof s.minimum === 'number' ? Math.max(s.minimum, 1) : 1
    case 'boolean':
      return true
    case 'null':
      return null
  }
  return null
}

// ---------------------------------------------------------------------------------------------------------------
// Responses.

const OPENAI_TYPES = new Set([
  'invalid_request_error', 'authentication_error', 'permission_error', 'insufficient_quota', 'rate_limit_error', 'api_error', 'upstream_error',
])

/** Why `res` is not an error in the shape its route speaks (CONTRACT §2, §9), or null when it is. */
export function shapeProblem(res: LightMyRequestResponse, anthropic: boolean): string | null {
  if (!/^application\/json/.test(String(res.headers['content-type'] ?? ''))) return `content-type ${String(res.headers['content-type'])}`
  let body: unknown
  try {
    body = JSON.parse(res.body)
  } catch {
    return 'body is not JSON'
  }
  const b = body as { type?: unknown; error?: { message?: unknown; type?: unknown; code?: unknown } }
  if (anthropic) {
    if (b.type !== 'error' || typeof b.error?.type !== 'string' || typeof b.error?.message !== 'string') return `not Anthropic's error shape: ${res.body.slice(0, 200)}`
    return null
  }
  const e = b.error
  if (!e || typeof e.message !== 'string' || typeof e.type !== 'string') return `not OpenAI's error shape: ${res.body.slice(0, 200)}`
  if (!OPENAI_TYPES.has(e.type)) return `unknown error type ${e.type}`
  if (e.code !== undefined && e.code !== null && typeof e.code !== 'string') return `code is ${typeof e.code}`
  return null
}

// ---------------------------------------------------------------------------------------------------------------
// The database fingerprint: every table's row count, and checksums of the columns that carry money or access
// (quota columns, status and role, soft deletes), in one statement so it can run after every request.

export async function fingerprintQuery(app: FastifyInstance): Promise<() => Promise<string>> {
  const parts: string[] = []
  const q = (name: string) => `\`${name}\``
  for (const table of Object.values(app.db.t)) {
    if (!is(table, Table)) continue
    const name = getTableName(table)
    parts.push(`(select count(*) from ${q(name)})`)
    const columns = Object.values(getTableColumns(table)).map((c) => c.name)
    const id = columns.includes('id') ? 'id' : '1'
    for (const column of columns) {
      if (/quota|amount/.test(column)) parts.push(`(select coalesce(sum(${q(column)}), 0) from ${q(name)})`, `(select coalesce(sum(${q(column)} * (${id} % 1009 + 1)), 0) from ${q(name)})`)
      if (/^(status|role)$/.test(column)) parts.push(`(select coalesce(sum(length(${q(column)}) * (${id} % 1009 + 1)), 0) from ${q(name)})`)
      if (column === 'deleted_at') parts.push(`(select count(${q(column)}) from ${q(name)})`)
    }
  }
  const statement = sql.raw(`select ${parts.map((p, i) => `${p} as c${i}`).join(', ')}`)
  const database = app.db
  return async () => {
    const row =
      database.dialect === 'sqlite'
        ? (database.sqlite.all(statement)[0] as Record<string, unknown>)
        : ((await database.mysql.execute(statement)) as unknown as [Array<Record<string, unknown>>])[0][0]!
    return parts.map((_, i) => String(row[`c${i}`])).join(',')
  }
}
