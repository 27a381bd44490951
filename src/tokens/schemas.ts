import { Type, type Static } from '@sinclair/typebox'
import { MAX_QUOTA } from '../billing/limits.js'
import { NO_LONE_SURROGATES } from '../infra/json-body.js'
import { PageFields } from '../infra/pagination.js'

const Name = Type.String({ minLength: 1, maxLength: 100 })
const ExpiresAt = Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
  description: 'ISO-8601; null = never; omitted on create = one year from now',
})
const Models = Type.Array(Type.String({ minLength: 1, maxLength: 128, pattern: NO_LONE_SURROGATES }), { maxItems: 1000, description: 'allowed models; empty = all' })
// Each entry is checked with isValidIpOrCidr in the service, so the error names 'allow_ips'.
const AllowIps = Type.Array(Type.String({ maxLength: 64 }), { maxItems: 256, description: 'IPs and CIDRs, v4 and v6; empty = any' })
const RateLimit = Type.Union([Type.Integer({ minimum: 1, maximum: 1_000_000 }), Type.Null()], {
  description: 'requests per minute for this key; null = no limit',
})
const Group = Type.Union([Type.String({ minLength: 1, maxLength: 64 }), Type.Null()], {
  description: "channel group; null = the owner's group. Non-admins may only name their own group.",
})

const PersonalApiId = Type.Union([Type.Integer({ minimum: 1, maximum: 2_147_483_647 }), Type.Null()], {
  description: "one of the owner's personal APIs: the key's requests go there, at cost 0; null = the gateway's channels",
})

const tokenFields = {
  name: Name,
  expires_at: ExpiresAt,
  unlimited_quota: Type.Boolean(),
  remain_quota: Type.Integer({ minimum: 0, maximum: MAX_QUOTA }),
  models: Models,
  allow_ips: AllowIps,
  group: Group,
  rate_limit_rpm: RateLimit,
  personal_api_id: PersonalApiId,
}
/** Every field optional: PATCH takes any subset; create requires a name on top. */
const optionalTokenFields = Type.Partial(Type.Object(tokenFields)).properties

export const CreateTokenBody = Type.Object({ ...optionalTokenFields, name: Name }, { additionalProperties: false })
export type CreateTokenBody = Static<typeof CreateTokenBody>

export const UpdateTokenBody = Type.Object(
  { ...optionalTokenFields, status: Type.Optional(Type.Union([Type.Literal('enabled'), Type.Literal('disabled')])) },
  { additionalProperties: false },
)
export type UpdateTokenBody = Static<typeof UpdateTokenBody>

export const TokenIdParams = Type.Object({ id: Type.Integer({ minimum: 1, maximum: 2_147_483_647 }) })

export const ListTokensQuery = Type.Object(
  {
    ...PageFields,
    user_id: Type.Optional(Type.Integer({ minimum: 1, description: 'admins only: one user’s tokens' })),
  },
  { additionalProperties: false },
)

export const TokenSchema = Type.Object({
  id: Type.Integer(),
  user_id: Type.Integer(),
  name: Type.String(),
  key: Type.String({ description: 'masked, except in the creation response where it is whole (shown once)' }),
  status: Type.String({ description: 'enabled | disabled' }),
  expired: Type.Boolean(),
  expires_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  unlimited_quota: Type.Boolean(),
  remain_quota: Type.Integer(),
  used_quota: Type.Integer(),
  request_count: Type.Integer(),
  models: Type.Array(Type.String()),
  allow_ips: Type.Array(Type.String()),
  group: Type.Union([Type.String(), Type.Null()]),
  rate_limit_rpm: Type.Union([Type.Integer(), Type.Null()]),
  personal_api_id: Type.Union([Type.Integer(), Type.Null()]),
  created_at: Type.String({ format: 'date-time' }),
  accessed_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
})

export const TokenList = Type.Object({
  data: Type.Array(TokenSchema),
  total: Type.Integer(),
  page: Type.Integer(),
  page_size: Type.Integer(),
})
