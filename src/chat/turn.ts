// One chat turn (CONTRACT §8): the user's message is stored, the conversation's context assembled, and the turn
// relayed through the relay's own journey (src/relay/relay.ts: reserve → channel choice with failover → forward →
// stream with budget extension → settle → usage log with source "chat") as a `/v1/chat/completions` request of
// that user; the answer is stored as it ends — complete, incomplete (cancelled, cut, client gone) or error.
import type { FastifyInstance } from 'fastify'
import { ApiError, errors, toApiError } from '../errors.js'
import { noChannel } from '../relay/failover.js'
import { relay } from '../relay/relay.js'
import { assertModelName, ENDPOINTS, readJsonBody, upstreamJsonBody } from '../relay/request.js'
import type { MeterOutcome, PersonalApiTarget, RelayPrincipal, Usage } from '../relay/seams.js'
import type { UserRow } from '../users/repository.js'
import { MIN_MESSAGE_TOKENS, selectContext, type ContextMessage } from './context.js'
import type { PersonalApisService } from '../personal-apis/service.js'
import { ChatRelayClient } from './relay-client.js'
import type { ChatRepository, ConversationRow, MessageRow } from './repository.js'
import { NEW_CHAT_TITLE, titleFrom } from './service.js'
import { messageView, type MessageView } from './view.js'

export interface TurnInput {
  /** Absent: a new conversation (the WebSocket's first message). */
  conversationId?: number
  content: string
  model?: string
  apiId?: number
  useContext?: boolean
  clearContext?: boolean
}

/** A turn checked and ready to run: nothing of it is stored yet (except a new conversation). */
export interface PreparedTurn {
  user: UserRow
  conversation: ConversationRow
  model: string
  target: PersonalApiTarget | null
  content: string
  useContext: boolean
  clearContext: boolean
}

export interface TurnHooks {
  /** The usage log's and the upstream's request id. */
  requestId: string
  /** Aborted when the turn is cancelled or its client left: the upstream is aborted, what streamed is kept. */
  signal: AbortSignal
  /** Each piece of the answer's text as it arrives. */
  onText(piece: string): void
}

export interface TurnOutcome {
  conversationId: number
  userMessage: MessageView
  assistantMessage: MessageView
  usage: Usage
  /** The answer failed (the assistant message has status `error`): what the client is told. */
  failure: ApiError | null
}

const INT32_MAX = 2_147_483_647
const ERROR_CHARS = 1024

/** A chat turn has no relay key: a synthetic unlimited token with id 0 ("none" in the usage log) stands in. */
function chatPrincipal(user: UserRow, personalApi: PersonalApiTarget | null): RelayPrincipal {
  return {
    token: {
      id: 0,
      userId: user.id,
      name: 'chat',
      status: 'enabled',
      expiresAt: null,
      unlimitedQuota: true,
      remainQuota: 0,
      models: [],
      allowIps: [],
      group: null,
      rateLimitRpm: null,
    },
    user: { id: user.id, role: user.role, status: user.status, group: user.group, quota: Number(user.quota) },
    personalApi,
    group: user.group,
    pinnedChannelId: null,
  }
}

const tokens = (n: number) => Math.min(INT32_MAX, Math.max(0, Math.trunc(n)))

export function createTurnRunner(app: FastifyInstance, repo: ChatRepository, personalApis: Pick<PersonalApisService, 'targetFor'>) {
  const budget = app.config.chatContextTokens
  const countMessage = (message: ContextMessage) => app.promptCounter.count({ messages: [message] }, message.content.length)

  /**
   * Resolves the conversation (the caller's own, else 404), the personal API and the model, and refuses a model the
   * gateway cannot serve before anything is stored. `model` falls back to the turn's personal API's model, then the
   * conversation's.
   */
  async function prepare(user: UserRow, input: TurnInput): Promise<PreparedTurn> {
    const existing = input.conversationId === undefined ? null : await repo.findConversation(input.conversationId, user.id)
    if (input.conversationId !== undefined && !existing) throw errors.notFound('conversation')
    const apiId = input.apiId ?? existing?.apiId ?? null
    const target = apiId === null ? null : await personalApis.targetFor(user.id, apiId)
    const model = input.model ?? (input.apiId !== undefined ? target?.model : (existing?.model ?? target?.model)) ?? null
    if (model === null) {
      throw errors.invalidRequest("no model for this turn: send 'model' or 'api_id', or set one on the conversation", 'model')
    }
    assertModelName(model)
    if (!target) {
      // The relay refuses these too; checked here so a turn that cannot be answered stores nothing.
      if (app.pricing.priceOf(model) === undefined) {
        throw new ApiError(400, 'model_price_unset', `model '${model}' has no price and there is no default price`, { param: 'model', retry: false })
      }
      if (app.channelPool.candidates(user.group, model).length === 0) throw noChannel(model)
    }
    const conversation = existing ?? (await newConversation(user, input))
    return {
      user,
      conversation,
      model,
      target,
      content: input.content,
      useContext: input.useContext ?? true,
      clearContext: input.clearContext ?? false,
    }
  }

  async function newConversation(user: UserRow, input: TurnInput): Promise<ConversationRow> {
    const now = new Date(app.clock.now())
    const id = await repo.createConversation({
      userId: user.id,
      title: NEW_CHAT_TITLE,
      titlePending: true,
      model: input.model ?? null,
      apiId: input.apiId ?? null,
      createdAt: now,
      updatedAt: now,
    })
    const row = await repo.findConversation(id, user.id)
    if (!row) throw errors.internal()
    return row
  }

  /** The messages sent upstream: system prompt, the context that fits, the new message. */
  async function promptOf(turn: PreparedTurn): Promise<ContextMessage[]> {
    const system: ContextMessage | null = turn.conversation.systemPrompt ? { role: 'system', content: turn.conversation.systemPrompt } : null
    const current: ContextMessage = { role: 'user', content: turn.content }
    const fixed = system ? [system, current] : [current]
    let context: ContextMessage[] = []
    if (turn.useContext && !turn.clearContext) {
      const history = await repo.contextMessages(turn.conversation.id, Math.floor(budget / MIN_MESSAGE_TOKENS) + 1)
      context = await selectContext(
        history.map((m) => ({ role: m.role, content: m.content })),
        fixed,
        budget,
        countMessage,
      )
    }
    return [...(system ? [system] : []), ...context, current]
  }

  async function store(turn: PreparedTurn, message: Omit<MessageRow, 'id' | 'conversationId' | 'userId' | 'createdAt'>, title?: string, spent = 0): Promise<MessageView> {
    const at = new Date(app.clock.now())
    const row = { ...message, conversationId: turn.conversation.id, userId: turn.user.id, createdAt: at }
    const id = await repo.appendMessage(row, { at, title, tokens: spent })
    // Deleted while the turn ran: nothing was written.
    if (id === null) throw errors.notFound('conversation')
    return messageView({ ...row, id })
  }

  async function run(turn: PreparedTurn, hooks: TurnHooks): Promise<TurnOutcome> {
    const messages = await promptOf(turn)
    const userMessage = await store(
      turn,
      { role: 'user', content: turn.content, model: turn.model, promptTokens: 0, completionTokens: 0, status: 'complete', clearContext: turn.clearContext, error: null },
      titleFrom(turn.content),
    )

    const json = { model: turn.model, messages, stream: true, stream_options: { include_usage: true } }
    const text = JSON.stringify(json)
    const body = readJsonBody(ENDPOINTS.chat, json, text)
    const client = new ChatRelayClient(hooks.requestId, hooks.signal, hooks.onText)
    let outcome: MeterOutcome | null = null
    let failure: ApiError | null = null
    try {
      outcome = await relay(app, client, {
        endpoint: ENDPOINTS.chat,
        principal: chatPrincipal(turn.user, turn.target),
        model: body.model,
        stream: true,
        clientWantsUsage: body.clientWantsUsage,
        promptTokensBound: body.promptTokensBound,
        countPromptTokens: () => app.promptCounter.count(json, text.length),
        maxCompletionTokens: null,
        choices: 1,
        generates: true,
        replayable: true,
        body: (_channel, adapter, upstreamModel, reservation) => upstreamJsonBody(ENDPOINTS.chat, body, upstreamModel, adapter, reservation.completionCap),
        source: 'chat',
      })
    } catch (err) {
      failure = toApiError(err)
      if (failure.statusCode >= 500 && failure.type !== 'upstream_error' && failure.code !== 'no_available_channel') {
        app.log.error({ err, request_id: hooks.requestId }, 'chat turn failed')
      }
    }

    let status: 'complete' | 'incomplete' | 'error' = 'complete'
    let reason: string | null = null
    const refused = client.upstreamFailure
    if (failure) {
      status = 'error'
      reason = failure.message
    } else if (refused) {
      failure = new ApiError(refused.status, refused.code ?? 'upstream_error', refused.message, { type: 'upstream_error' })
      status = 'error'
      reason = refused.message
    } else if (outcome?.error || client.streamError) {
      status = 'incomplete'
      reason = client.streamError?.message ?? outcome?.error ?? null
    }
    const usage: Usage = { prompt_tokens: tokens(outcome?.usage?.prompt_tokens ?? 0), completion_tokens: tokens(outcome?.usage?.completion_tokens ?? 0) }
    const assistantMessage = await store(
      turn,
      {
        role: 'assistant',
        content: client.text,
        model: turn.model,
        promptTokens: usage.prompt_tokens,
        completionTokens: usage.completion_tokens,
        status,
        clearContext: false,
        error: reason === null ? null : reason.slice(0, ERROR_CHARS),
      },
      undefined,
      usage.prompt_tokens + usage.completion_tokens,
    )
    return { conversationId: turn.conversation.id, userMessage, assistantMessage, usage, failure }
  }

  return { prepare, run }
}

export type TurnRunner = ReturnType<typeof createTurnRunner>
