import { Type } from '@sinclair/typebox'

export const UserIdParams = Type.Object({ id: Type.Integer({ minimum: 1 }) })

// 64-bit quota end to end, but JSON numbers are only exact to 2^53: the safe range is the limit.
export const QuotaAdjustmentBody = Type.Object(
  {
    delta: Type.Integer({
      minimum: Number.MIN_SAFE_INTEGER,
      maximum: Number.MAX_SAFE_INTEGER,
      not: { const: 0 },
      description: 'quota units to add (negative to take away); never 0',
    }),
    remark: Type.String({ minLength: 1, maxLength: 255 }),
  },
  { additionalProperties: false },
)
