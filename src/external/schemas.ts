import { Type, type Static } from '@sinclair/typebox'
import { MAX_QUOTA } from '../billing/limits.js'
import { NO_LONE_SURROGATES } from '../infra/json-body.js'
import { PageFields } from '../infra/pagination.js'
import { Email, Username } from '../users/schemas.js'

// Partner ids travel in URL paths and are compared by unique indexes: no whitespace at all, so
// "u1" and "u1 " can never be two users (MySQL's PAD SPACE collations would call them equal).
export const ExternalUserId = Type.String({ minLength: 1, maxLength: 100, pattern: '^\\S+$', examples: ['u-1001'] })
const PaymentId = Type.String({ minLength: 1, maxLength: 128, pattern: '^\\S+$', examples: ['pay_0001'] })
const Group = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.-]+$' })
const Identity = (maxLength: number) => Type.Union([Type.String({ minLength: 1, maxLength }), Type.Null()])

export const LOGIN_TYPES = ['email', 'phone', 'sms', 'wechat', 'alipay'] as const

export const SyncBody = Type.Object(
  {
    external_user_id: ExternalUserId,
    username: Type.Optional(Username),
    email: Type.Optional(Type.Union([Email, Type.Null()])),
    phone: Type.Optional(Identity(32)),
    wechat_openid: Type.Optional(Identity(100)),
    wechat_unionid: Type.Optional(Identity(100)),
    alipay_userid: Type.Optional(Identity(100)),
    login_type: Type.Optional(Type.Union(LOGIN_TYPES.map((l) => Type.Literal(l)))),
    external_data: Type.Optional(Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()])),
    group: Type.Optional(Group),
  },
  { additionalProperties: false },
)
export type SyncInput = Static<typeof SyncBody>

export const TopupBody = Type.Object(
  {
    external_user_id: ExternalUserId,
    // Checked by the service from its decimal digits (parseUsdMicros); no JSON-schema type here so
    // the validator's type coercion never turns a string into a binary float or back.
    amount_usd: Type.Unsafe<number | string>({
      description: 'US dollars: a JSON number or a decimal string; > 0, ≤ 100000, at most 6 decimals',
      examples: ['12.5', 1],
    }),
    payment_id: PaymentId,
    remark: Type.Optional(Type.String({ maxLength: 255 })),
  },
  { additionalProperties: false },
)
export type TopupInput = Static<typeof TopupBody>

export const TokenBody = Type.Object(
  {
    external_user_id: ExternalUserId,
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    expires_in_days: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650, default: 365 })),
    unlimited_quota: Type.Optional(Type.Boolean()),
    remain_quota: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_QUOTA })),
    models: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 128, pattern: NO_LONE_SURROGATES }), { maxItems: 200 })),
  },
  { additionalProperties: false },
)
export type TokenInput = Static<typeof TokenBody>

export const ExternalUserParams = Type.Object({ external_user_id: ExternalUserId })

export const StatsQuery = Type.Object(
  {
    from: Type.Optional(Type.String({ description: 'ISO date (YYYY-MM-DD, start of that UTC day) or date-time' })),
    to: Type.Optional(Type.String({ description: 'ISO date (YYYY-MM-DD, through the end of that UTC day) or date-time' })),
  },
  { additionalProperties: false },
)

export const PageQuery = Type.Object(
  {
    ...PageFields,
  },
  { additionalProperties: false },
)

export const ExternalUserView = Type.Object({
  id: Type.Integer(),
  external_user_id: Type.String(),
  username: Type.String(),
  email: Type.Union([Type.String(), Type.Null()]),
  login_type: Type.Union([Type.String(), Type.Null()]),
  status: Type.String(),
  group: Type.String(),
  quota: Type.Integer(),
  quota_usd: Type.Number(),
  used_quota: Type.Integer(),
  used_usd: Type.Number(),
  request_count: Type.Integer(),
  token_count: Type.Integer(),
  created_at: Type.String({ format: 'date-time' }),
})
export type ExternalUserViewT = Static<typeof ExternalUserView>

export const TopupResult = Type.Object({
  external_user_id: Type.String(),
  payment_id: Type.String(),
  amount_usd: Type.String({ description: 'the amount credited, as an exact decimal string' }),
  added_quota: Type.Integer(),
  quota: Type.Integer(),
  duplicate: Type.Boolean(),
})

export const TopupItem = Type.Object({
  payment_id: Type.String(),
  amount_usd: Type.String(),
  added_quota: Type.Integer(),
  remark: Type.Union([Type.String(), Type.Null()]),
  created_at: Type.String({ format: 'date-time' }),
})

export const TopupList = Type.Object({
  data: Type.Array(TopupItem),
  total: Type.Integer(),
  page: Type.Integer(),
  page_size: Type.Integer(),
})

export type StatsResultT = Static<typeof StatsResult>
export const StatsResult = Type.Object({
  quota: Type.Integer(),
  used_quota: Type.Integer(),
  request_count: Type.Integer(),
  by_model: Type.Array(
    Type.Object({
      model: Type.String(),
      requests: Type.Integer(),
      prompt_tokens: Type.Integer(),
      completion_tokens: Type.Integer(),
      quota: Type.Integer(),
    }),
  ),
  by_day: Type.Array(Type.Object({ date: Type.String(), requests: Type.Integer(), quota: Type.Integer() })),
})
