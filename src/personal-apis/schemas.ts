import { Type, type Static } from '@sinclair/typebox'
import { NO_LONE_SURROGATES } from '../infra/json-body.js'
import { PageFields } from '../infra/pagination.js'

export const PERSONAL_API_TYPES = ['openai', 'anthropic', 'gemini'] as const
export type PersonalApiType = (typeof PERSONAL_API_TYPES)[number]

const Name = Type.String({ minLength: 1, maxLength: 100, pattern: NO_LONE_SURROGATES })
// Checked further in the service (scheme, credentials, address), so those errors name 'base_url' clearly.
const BaseUrl = Type.String({ minLength: 1, maxLength: 512, description: 'https origin, optionally with a path prefix; http and private addresses only with PERSONAL_API_ALLOW_PRIVATE' })
// Visible ASCII only: the key travels in a header, where a line break would be header injection.
const Key = Type.String({ minLength: 1, maxLength: 1024, pattern: '^[!-~]+$', description: 'the upstream key; stored encrypted, shown masked' })
const Model = Type.String({ minLength: 1, maxLength: 128, pattern: NO_LONE_SURROGATES })
const ApiType = Type.Union(
  PERSONAL_API_TYPES.map((t) => Type.Literal(t)),
  { description: 'openai (default): any OpenAI-compatible upstream; anthropic; gemini' },
)

const fields = { name: Name, base_url: BaseUrl, key: Key, model: Model, type: ApiType }

export const CreatePersonalApiBody = Type.Object(
  { name: Name, base_url: BaseUrl, key: Key, model: Model, type: Type.Optional(ApiType) },
  { additionalProperties: false },
)
export type CreatePersonalApiBody = Static<typeof CreatePersonalApiBody>

export const UpdatePersonalApiBody = Type.Partial(Type.Object(fields), { additionalProperties: false })
export type UpdatePersonalApiBody = Static<typeof UpdatePersonalApiBody>

export const PersonalApiIdParams = Type.Object({ id: Type.Integer({ minimum: 1, maximum: 2_147_483_647 }) })

export const ListPersonalApisQuery = Type.Object(
  { ...PageFields, name: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'exactly this name' })) },
  { additionalProperties: false },
)

export const TestPersonalApiBody = Type.Union([
  Type.Object({ model: Type.Optional(Model) }, { additionalProperties: false }),
  Type.Null(),
])

export const PersonalApiSchema = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  base_url: Type.String(),
  model: Type.String(),
  type: Type.String({ description: 'openai | anthropic | gemini' }),
  key: Type.String({ description: 'masked: first 5 and last 4 characters' }),
  default: Type.Boolean({ description: "true for the caller's oldest personal API" }),
  created_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' }),
})

export const PersonalApiList = Type.Object({
  data: Type.Array(PersonalApiSchema),
  total: Type.Integer(),
  page: Type.Integer(),
  page_size: Type.Integer(),
})

export const PersonalApiTestResult = Type.Object({
  ok: Type.Boolean(),
  status: Type.Integer({ description: 'the upstream HTTP status; 502 when it could not be reached, 504 on timeout' }),
  latency_ms: Type.Integer(),
  message: Type.String({ description: 'cut to a safe length; never the key or anything key-like' }),
})
