import { Type } from '@sinclair/typebox'
import { MAX_QUOTA, MIN_QUOTA } from './limits.js'

export const UserIdParams = Type.Object({ id: Type.Integer({ minimum: 1 }) })

// The quota range (CONTRACT §4); the service also refuses a delta whose RESULT would leave it.
export const QuotaAdjustmentBody = Type.Object(
  {
    delta: Type.Integer({
      minimum: MIN_QUOTA,
      maximum: MAX_QUOTA,
      not: { const: 0 },
      description: 'quota units to add (negative to take away); never 0',
    }),
    remark: Type.String({ minLength: 1, maxLength: 255 }),
  },
  { additionalProperties: false },
)
