import { Type, type Static } from '@sinclair/typebox'
import { NO_LONE_SURROGATES } from '../infra/json-body.js'
import { PageFields } from '../infra/pagination.js'

const Name = Type.String({ minLength: 1, maxLength: 100 })
const Key = Type.String({ minLength: 1, maxLength: 4096 })
// The pattern gives a 400 with param 'base_url' for ftp:// and the like; the service also parses it as a URL.
const BaseUrl = Type.String({ minLength: 8, maxLength: 512, pattern: '^[Hh][Tt][Tt][Pp][Ss]?://[^\\s]+$' })
// Stored in JSON columns, which on MySQL refuse a lone UTF-16 surrogate (that was a 500): refused here with a 400.
const ModelName = Type.String({ minLength: 1, maxLength: 128, pattern: NO_LONE_SURROGATES })
const GroupName = Type.String({ minLength: 1, maxLength: 64, pattern: NO_LONE_SURROGATES })
// A record's key schema only selects which keys its value schema applies to; additionalProperties: false
// makes the key rule (1–128 characters, no lone surrogate) a rule.
const MappedModel = Type.String({ pattern: '^[^\\ud800-\\udfff]{1,128}$' })

const channelFields = {
  type: Type.String({ minLength: 1, maxLength: 32 }),
  name: Name,
  key: Key,
  base_url: BaseUrl,
  models: Type.Array(ModelName, { maxItems: 1000 }),
  model_mapping: Type.Record(MappedModel, ModelName, { additionalProperties: false }),
  groups: Type.Array(GroupName, { minItems: 1, maxItems: 100 }),
  priority: Type.Integer({ minimum: -1_000_000, maximum: 1_000_000 }),
  // 0 is a standby channel: chosen only when every other channel of its priority is gone (see pickChannel).
  weight: Type.Integer({ minimum: 0, maximum: 1_000_000 }),
}

/** Every field optional: PUT and PATCH take any subset; create requires name and key on top. */
const optionalChannelFields = Type.Partial(Type.Object(channelFields)).properties

export const CreateChannelBody = Type.Object(
  { ...optionalChannelFields, name: channelFields.name, key: channelFields.key },
  { additionalProperties: false },
)
export type CreateChannelBody = Static<typeof CreateChannelBody>

export const UpdateChannelBody = Type.Object(
  {
    ...optionalChannelFields,
    // auto_disabled is the relay's to set; an admin enables or disables.
    status: Type.Optional(Type.Union([Type.Literal('enabled'), Type.Literal('disabled')])),
  },
  { additionalProperties: false },
)
export type UpdateChannelBody = Static<typeof UpdateChannelBody>

export const ChannelIdParams = Type.Object({ id: Type.Integer({ minimum: 1, maximum: 2_147_483_647 }) })

export const ListQuery = Type.Object(
  {
    ...PageFields,
  },
  { additionalProperties: false },
)

export const TestChannelBody = Type.Union([
  Type.Object({ model: Type.Optional(ModelName) }, { additionalProperties: false }),
  Type.Null(),
])

export const ChannelSchema = Type.Object(
  {
    id: Type.Integer(),
    type: Type.String(),
    name: Type.String(),
    base_url: Type.String(),
    key: Type.String({ description: 'masked: first 5 and last 4 characters' }),
    models: Type.Array(Type.String()),
    model_mapping: Type.Record(Type.String(), Type.String()),
    groups: Type.Array(Type.String()),
    priority: Type.Integer(),
    weight: Type.Integer(),
    status: Type.String({ description: 'enabled | disabled | auto_disabled' }),
    status_reason: Type.Union([Type.String(), Type.Null()]),
    circuit: Type.Union([Type.Literal('closed'), Type.Literal('open'), Type.Literal('half_open')], {
      description: 'circuit breaker: open = skipped after repeated upstream failures; half_open = one probe request allowed',
    }),
    response_time_ms: Type.Union([Type.Integer(), Type.Null()]),
    used_quota: Type.Integer(),
    created_at: Type.String({ format: 'date-time' }),
    updated_at: Type.String({ format: 'date-time' }),
  },
)

export const ChannelList = Type.Object({
  data: Type.Array(ChannelSchema),
  total: Type.Integer(),
  page: Type.Integer(),
  page_size: Type.Integer(),
})

export const ChannelTestResult = Type.Object({
  ok: Type.Boolean(),
  status: Type.Integer({ description: 'the upstream HTTP status; 502 when it could not be reached, 504 on timeout' }),
  latency_ms: Type.Integer(),
  message: Type.String(),
})
