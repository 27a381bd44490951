import { Type } from '@sinclair/typebox'

/** A USD amount or ratio: a JSON number or a plain decimal string (≥ 0, at most 6 decimals; checked exactly by the service). */
// One `type: [number, string]` rather than a union: with ajv's type coercion a union would turn
// the string "1e3" into the number 1000 on its number branch.
const Decimal = Type.Unsafe<number | string>({
  type: ['number', 'string'],
  minimum: 0,
  pattern: '^\\d+(\\.\\d+)?$',
  maxLength: 32,
  examples: [2, '0.15'],
})

export const PriceSchema = Type.Object(
  {
    model: Type.String({ description: "the model id; '*' is the default price for models without one" }),
    input_per_1m: Type.Number({ description: 'USD per 1M prompt tokens' }),
    output_per_1m: Type.Number({ description: 'USD per 1M completion tokens' }),
    per_request: Type.Number({ description: 'USD per request, on top of any token price' }),
  },
  { $id: 'Price' },
)

export const PriceListSchema = Type.Object({ data: Type.Array(PriceSchema) })

export const PriceBody = Type.Object(
  { input_per_1m: Type.Optional(Decimal), output_per_1m: Type.Optional(Decimal), per_request: Type.Optional(Decimal) },
  { additionalProperties: false, minProperties: 1 },
)

/** The model is the rest of the path, so ids with '/' (`deepseek-ai/DeepSeek-V3`) work raw or as %2F. */
export const ModelParams = Type.Object({ '*': Type.String({ minLength: 1, maxLength: 128 }) })

export const GroupRatioSchema = Type.Object({ name: Type.String(), ratio: Type.Number() }, { $id: 'GroupRatio' })
export const GroupRatioListSchema = Type.Object({ data: Type.Array(GroupRatioSchema) })
export const GroupParams = Type.Object({ name: Type.String({ minLength: 1, maxLength: 64 }) })
export const GroupRatioBody = Type.Object({ ratio: Decimal }, { additionalProperties: false })
