import { Type, type Static } from '@sinclair/typebox'
import { NO_LONE_SURROGATES } from '../infra/json-body.js'
import { PageFields } from '../infra/pagination.js'

const Id = Type.Integer({ minimum: 1, maximum: 2_147_483_647 })
const Title = Type.String({ minLength: 1, maxLength: 200, pattern: NO_LONE_SURROGATES })
// The relay checks the name's shape (assertModelName) when a turn uses it; here only its size.
const Model = Type.String({ minLength: 1, maxLength: 128 })
const SystemPrompt = Type.String({ maxLength: 200_000, pattern: NO_LONE_SURROGATES })
/** A chat message: up to 1 MiB of text (the body limit bounds it further). */
export const MAX_CONTENT_CHARS = 1_048_576
const Content = Type.String({ minLength: 1, maxLength: MAX_CONTENT_CHARS })

const nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()])

export const ConversationIdParams = Type.Object({ id: Id })

export const CreateConversationBody = Type.Object(
  {
    title: Type.Optional(Title),
    model: Type.Optional(nullable(Model)),
    api_id: Type.Optional(nullable(Id)),
    system_prompt: Type.Optional(nullable(SystemPrompt)),
  },
  { additionalProperties: false },
)
export type CreateConversationBody = Static<typeof CreateConversationBody>

/** PATCH takes the same fields; null clears `model`, `api_id` and `system_prompt`. */
export const UpdateConversationBody = CreateConversationBody
export type UpdateConversationBody = CreateConversationBody

export const ListConversationsQuery = Type.Object(
  {
    ...PageFields,
    keyword: Type.Optional(Type.String({ maxLength: 200, description: 'part of the title (% and _ match themselves)' })),
  },
  { additionalProperties: false },
)

export const MAX_MESSAGES_PAGE = 200
export const ListMessagesQuery = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: MAX_MESSAGES_PAGE, default: 50 }),
    before_id: Type.Optional(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'messages older than this one' })),
  },
  { additionalProperties: false },
)

/** One chat turn's fields, shared by the HTTP route and the WebSocket's `message` frame. */
export const turnFields = {
  content: Content,
  model: Type.Optional(Model),
  api_id: Type.Optional(Id),
  use_context: Type.Optional(Type.Boolean({ description: 'send earlier messages (default true)' })),
  clear_context: Type.Optional(Type.Boolean({ description: 'start the context afresh with this message (default false)' })),
}

export const PostMessageBody = Type.Object(
  { ...turnFields, stream: Type.Optional(Type.Boolean({ description: 'answer as an SSE stream (default false)' })) },
  { additionalProperties: false },
)
export type PostMessageBody = Static<typeof PostMessageBody>

/** The WebSocket's `message` frame (CONTRACT §8); other frames are `cancel`. */
export const WsMessageFrame = Type.Object(
  { type: Type.Literal('message'), conversation_id: Type.Optional(Id), ...turnFields },
  { additionalProperties: false },
)
export type WsMessageFrame = Static<typeof WsMessageFrame>

export const ConversationSchema = Type.Object({
  id: Type.Integer(),
  title: Type.String(),
  model: nullable(Type.String()),
  api_id: nullable(Type.Integer()),
  system_prompt: nullable(Type.String()),
  message_count: Type.Integer(),
  token_used: Type.Integer(),
  created_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' }),
})

export const ConversationList = Type.Object({
  data: Type.Array(ConversationSchema),
  total: Type.Integer(),
  page: Type.Integer(),
  page_size: Type.Integer(),
})

export const MessageSchema = Type.Object({
  id: Type.Integer(),
  role: Type.String({ description: 'user | assistant' }),
  content: Type.String(),
  model: nullable(Type.String()),
  prompt_tokens: Type.Integer(),
  completion_tokens: Type.Integer(),
  status: Type.String({ description: 'complete | incomplete | error' }),
  clear_context: Type.Boolean(),
  error: nullable(Type.String({ description: 'why the answer failed or stopped early' })),
  created_at: Type.String({ format: 'date-time' }),
})

export const MessagePage = Type.Object({ data: Type.Array(MessageSchema), has_more: Type.Boolean() })

export const TurnResult = Type.Object({ user_message: MessageSchema, assistant_message: MessageSchema })

export const ChatModels = Type.Object({
  data: Type.Array(
    Type.Object({
      id: Type.String(),
      source: Type.String({ description: 'gateway | personal' }),
      api_id: Type.Optional(Type.Integer()),
    }),
  ),
})
