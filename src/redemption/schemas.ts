import { Type, type Static } from '@sinclair/typebox'
import { NO_LONE_SURROGATES } from '../infra/json-body.js'
import { PageFields } from '../infra/pagination.js'

/** At most this many codes per request (CONTRACT §8). */
export const MAX_CODES_PER_BATCH = 1000

export const CreateCodesBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100, pattern: NO_LONE_SURROGATES, description: 'a label for the batch, shown in the list' }),
    // Checked by the service from its decimal digits (parseUsdMicros), as the partner top-up's amount is: no
    // JSON-schema type here, so the validator's coercion never turns a string into a binary float or back.
    amount_usd: Type.Unsafe<number | string>({
      description: 'US dollars each code credits: a JSON number or a decimal string; > 0, ≤ 100000, at most 6 decimals',
      examples: ['10', 2.5],
    }),
    count: Type.Integer({ minimum: 1, maximum: MAX_CODES_PER_BATCH }),
    expires_at: Type.Optional(
      Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { description: 'ISO-8601, in the future; null or absent = never' }),
    ),
  },
  { additionalProperties: false },
)
export type CreateCodesBody = Static<typeof CreateCodesBody>

export const CreatedCodes = Type.Object({
  codes: Type.Array(Type.String(), { description: 'the whole codes: shown this once, stored only as hashes' }),
  name: Type.String(),
  amount_usd: Type.String({ description: 'exact decimal string' }),
  quota: Type.Integer({ description: 'quota each code credits' }),
  expires_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
})

export const ListCodesQuery = Type.Object(
  {
    ...PageFields,
    status: Type.Optional(Type.Union([Type.Literal('unused'), Type.Literal('used'), Type.Literal('expired')])),
  },
  { additionalProperties: false },
)
export type ListCodesQuery = Static<typeof ListCodesQuery>

export const CodeIdParams = Type.Object({ id: Type.Integer({ minimum: 1, maximum: 2_147_483_647 }) })

export const RedemptionCodeSchema = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  code: Type.String({ description: 'masked: first 5 and last 4 characters' }),
  amount_usd: Type.String(),
  quota: Type.Integer(),
  status: Type.Union([Type.Literal('unused'), Type.Literal('used'), Type.Literal('expired')]),
  created_by: Type.Integer(),
  redeemed_by: Type.Union([Type.Integer(), Type.Null()]),
  redeemed_by_username: Type.Union([Type.String(), Type.Null()]),
  redeemed_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  expires_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  created_at: Type.String({ format: 'date-time' }),
})

export const RedemptionCodeList = Type.Object({
  data: Type.Array(RedemptionCodeSchema),
  total: Type.Integer(),
  page: Type.Integer(),
  page_size: Type.Integer(),
})

export const RedeemBody = Type.Object(
  { code: Type.String({ minLength: 1, maxLength: 128, description: 'a recharge code, e.g. nxr-…' }) },
  { additionalProperties: false },
)

export const RedeemResult = Type.Object({
  added_quota: Type.Integer(),
  quota: Type.Integer({ description: 'your balance after the credit' }),
})
