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

/** A cache price: a Decimal, or null for "the input price" (CONTRACT §4). */
const NullableDecimal = Type.Unsafe<number | string | null>({
  type: ['number', 'string', 'null'],
  minimum: 0,
  pattern: '^\\d+(\\.\\d+)?$',
  maxLength: 32,
  examples: [0.3, '0.075', null],
})

export const PriceSchema = Type.Object(
  {
    model: Type.String({ description: "the model id; '*' is the default price for models without one" }),
    input_per_1m: Type.Number({ description: 'USD per 1M prompt tokens' }),
    output_per_1m: Type.Number({ description: 'USD per 1M completion tokens' }),
    per_request: Type.Number({ description: 'USD per request, on top of any token price' }),
    cache_read_per_1m: Type.Union([Type.Number(), Type.Null()], { description: 'USD per 1M prompt tokens read from the prompt cache; null = the input price' }),
    cache_write_per_1m: Type.Union([Type.Number(), Type.Null()], { description: 'USD per 1M prompt tokens written to the prompt cache; null = the input price' }),
    source: Type.Union([Type.Literal('admin'), Type.Literal('catalogue')], {
      description: "'admin': set by an admin (overrides the catalogue); 'catalogue': from the bundled @pydantic/genai-prices catalogue",
    }),
    catalogue_model: Type.Optional(Type.String({ description: "for source 'catalogue': the catalogue's provider/model the price was taken from" })),
  },
  { $id: 'Price' },
)

export const PriceListSchema = Type.Object({ data: Type.Array(PriceSchema) })

export const PriceBody = Type.Object(
  {
    input_per_1m: Type.Optional(Decimal),
    output_per_1m: Type.Optional(Decimal),
    per_request: Type.Optional(Decimal),
    cache_read_per_1m: Type.Optional(NullableDecimal),
    cache_write_per_1m: Type.Optional(NullableDecimal),
  },
  { additionalProperties: false, minProperties: 1 },
)

/** The model is the rest of the path, so ids with '/' (`deepseek-ai/DeepSeek-V3`) work raw or as %2F. */
export const ModelParams = Type.Object({ '*': Type.String({ minLength: 1, maxLength: 128 }) })

export const GroupRatioSchema = Type.Object({ name: Type.String(), ratio: Type.Number() }, { $id: 'GroupRatio' })
export const GroupRatioListSchema = Type.Object({ data: Type.Array(GroupRatioSchema) })
export const GroupParams = Type.Object({ name: Type.String({ minLength: 1, maxLength: 64 }) })
export const GroupRatioBody = Type.Object({ ratio: Decimal }, { additionalProperties: false })
