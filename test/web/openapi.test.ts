// The console's API client is written by hand (web/src/api.ts); every route it calls is in one table
// (web/src/endpoints.ts). This checks that table, and the response fields the pages read, against the gateway's
// own OpenAPI spec, so a route or field renamed on the server fails here rather than in a browser.
import t from 'tap'
import { endpoints, type EndpointName } from '../../web/src/endpoints.js'
import { sqliteBackend } from '../support/backends.js'
import { buildApp } from '../support/build-app.js'

interface Schema {
  type?: string | string[]
  properties?: Record<string, Schema>
  items?: Schema
  $ref?: string
  anyOf?: Schema[]
  oneOf?: Schema[]
  allOf?: Schema[]
}
interface Operation {
  responses?: Record<string, { content?: Record<string, { schema?: Schema }> }>
}
interface Spec {
  paths: Record<string, Record<string, Operation>>
  components?: { schemas?: Record<string, Schema> }
}

/** `/api/token/{id}` and `/api/token/{*}` alike, trailing slash or not. */
const normalise = (path: string) => path.replace(/\{[^}]+\}/g, '{}').replace(/\/$/, '') || '/'

/** The fields of a list item (or of the object itself) each page reads, by the endpoint that returns them. */
const READS: Partial<Record<EndpointName, { list?: boolean; fields: string[] }>> = {
  self: { fields: ['id', 'username', 'email', 'role', 'group', 'quota', 'used_quota', 'request_count', 'created_at', 'last_login_at'] },
  stat: { fields: ['requests', 'quota', 'prompt_tokens', 'completion_tokens', 'by_model', 'by_day'] },
  ownLog: { list: true, fields: ['id', 'created_at', 'request_id', 'user_id', 'token_id', 'channel_id', 'model', 'upstream_model', 'stream', 'prompt_tokens', 'completion_tokens', 'quota', 'latency_ms', 'first_byte_ms', 'status', 'error'] },
  allLog: { list: true, fields: ['user_id', 'channel_id', 'token_id', 'quota'] },
  tokens: { list: true, fields: ['id', 'name', 'key', 'status', 'expired', 'expires_at', 'unlimited_quota', 'remain_quota', 'used_quota', 'request_count', 'models', 'allow_ips', 'rate_limit_rpm', 'personal_api_id'] },
  createToken: { fields: ['id', 'name', 'key'] },
  personalApis: { list: true, fields: ['id', 'name', 'base_url', 'model', 'type', 'key', 'default', 'created_at'] },
  testPersonalApi: { fields: ['ok', 'status', 'latency_ms', 'message'] },
  conversations: { list: true, fields: ['id', 'title', 'model', 'api_id', 'message_count', 'updated_at'] },
  messages: { list: true, fields: ['id', 'role', 'content', 'model', 'prompt_tokens', 'completion_tokens', 'status', 'error', 'created_at'] },
  chatModels: { list: true, fields: ['id', 'source', 'api_id'] },
  channels: { list: true, fields: ['id', 'type', 'name', 'base_url', 'key', 'models', 'model_mapping', 'groups', 'priority', 'weight', 'status', 'status_reason', 'response_time_ms', 'used_quota', 'updated_at'] },
  testChannel: { fields: ['ok', 'status', 'latency_ms', 'message'] },
  users: { list: true, fields: ['id', 'username', 'email', 'role', 'status', 'group', 'quota', 'used_quota', 'request_count', 'last_login_at', 'is_root', 'is_external'] },
  adjustQuota: { fields: ['quota'] },
  prices: { list: true, fields: ['model', 'input_per_1m', 'output_per_1m', 'per_request', 'cache_read_per_1m', 'cache_write_per_1m', 'source', 'catalogue_model'] },
  price: { fields: ['model', 'input_per_1m', 'output_per_1m', 'per_request', 'source'] },
  codes: { list: true, fields: ['id', 'name', 'code', 'amount_usd', 'quota', 'status', 'redeemed_by_username', 'redeemed_at', 'expires_at'] },
  createCodes: { fields: ['codes', 'name', 'amount_usd', 'quota'] },
  redeem: { fields: ['added_quota', 'quota'] },
}

t.test('every route and field the console uses is in the OpenAPI spec', async (t) => {
  const { app } = await buildApp(t, sqliteBackend)
  const res = await app.inject({ method: 'GET', url: '/docs/json' })
  t.equal(res.statusCode, 200)
  const spec = res.json() as Spec
  const paths = new Map(Object.entries(spec.paths).map(([path, ops]) => [normalise(path), ops]))

  const resolve = (schema: Schema | undefined): Schema | undefined => {
    if (!schema) return undefined
    if (schema.$ref) return resolve(spec.components?.schemas?.[schema.$ref.split('/').pop()!])
    const union = schema.anyOf ?? schema.oneOf
    if (union) return resolve(union.find((s) => s.type !== 'null'))
    if (schema.allOf) return { properties: Object.assign({}, ...schema.allOf.map((s) => resolve(s)?.properties ?? {})) }
    return schema
  }

  const names = Object.keys(endpoints) as EndpointName[]
  t.ok(names.length >= 35, `the table lists the console's routes (${names.length})`)
  for (const name of names) {
    const { method, path } = endpoints[name]
    const operation = paths.get(normalise(path))?.[method.toLowerCase()]
    t.ok(operation, `${name}: ${method} ${path} is in the spec`)
    const reads = READS[name]
    if (!operation || !reads) continue
    const ok = Object.entries(operation.responses ?? {}).find(([status]) => status.startsWith('2'))?.[1]
    let schema = resolve(ok?.content?.['application/json']?.schema)
    if (reads.list) schema = resolve(resolve(schema?.properties?.data)?.items)
    const known = Object.keys(schema?.properties ?? {})
    const missing = reads.fields.filter((field) => !known.includes(field))
    t.same(missing, [], `${name}: the response has every field the console reads`)
  }
})
