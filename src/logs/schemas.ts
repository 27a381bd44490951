import { Type, type Static } from '@sinclair/typebox'
import { PageFields } from '../infra/pagination.js'

const Id = Type.Integer({ minimum: 1 })
/** An ISO-8601 date or date-time (UTC unless it names an offset); both bounds are inclusive. */
const Instant = Type.String({ minLength: 4, maxLength: 40, description: 'ISO-8601, inclusive' })

const common = {
  model: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  token_id: Type.Optional(Id),
  from: Type.Optional(Instant),
  to: Type.Optional(Instant),
}

export const SelfLogQuery = Type.Object({ ...common, ...PageFields }, { additionalProperties: false })
export const AdminLogQuery = Type.Object(
  { ...common, ...PageFields, user_id: Type.Optional(Id), channel_id: Type.Optional(Id) },
  { additionalProperties: false },
)
export const StatQuery = Type.Object(
  { user_id: Type.Optional(Id), from: Type.Optional(Instant), to: Type.Optional(Instant) },
  { additionalProperties: false },
)
export type AdminLogQuery = Static<typeof AdminLogQuery>

export const UsageLogSchema = Type.Object(
  {
    id: Type.Integer(),
    created_at: Type.String({ format: 'date-time' }),
    request_id: Type.String(),
    user_id: Type.Integer(),
    token_id: Type.Integer(),
    channel_id: Type.Union([Type.Integer(), Type.Null()]),
    model: Type.String(),
    upstream_model: Type.Union([Type.String(), Type.Null()]),
    stream: Type.Boolean(),
    prompt_tokens: Type.Integer(),
    completion_tokens: Type.Integer(),
    cached_tokens: Type.Integer({ description: 'of prompt_tokens: read from the provider\'s prompt cache' }),
    cache_write_tokens: Type.Integer({ description: 'of prompt_tokens: written to the prompt cache' }),
    reasoning_tokens: Type.Integer({ description: 'of completion_tokens: reasoning / thinking' }),
    source: Type.String({ description: '`relay` (a /v1 request) or `chat` (a chat turn; token_id 0)' }),
    quota: Type.Integer(),
    latency_ms: Type.Integer(),
    first_byte_ms: Type.Union([Type.Integer(), Type.Null()]),
    status: Type.Integer(),
    error: Type.Union([Type.String(), Type.Null()]),
  },
  { $id: 'UsageLog' },
)

export const UsageLogPage = Type.Object({
  data: Type.Array(UsageLogSchema),
  total: Type.Integer(),
  page: Type.Integer(),
  page_size: Type.Integer(),
})

const Counts = { requests: Type.Integer(), quota: Type.Integer() }
const Tokens = { prompt_tokens: Type.Integer(), completion_tokens: Type.Integer() }

export const StatsSchema = Type.Object({
  ...Counts,
  ...Tokens,
  by_model: Type.Array(Type.Object({ model: Type.String(), ...Counts, ...Tokens })),
  by_day: Type.Array(Type.Object({ date: Type.String({ description: 'YYYY-MM-DD, UTC' }), ...Counts, ...Tokens })),
})
