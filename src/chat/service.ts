import type { Clock } from '../clock.js'
import { errors } from '../errors.js'
import { MAX_PAGE_SIZE } from '../infra/pagination.js'
import type { PricingService } from '../pricing/service.js'
import type { ChannelPool } from '../relay/seams.js'
import type { UserRow } from '../users/repository.js'
import type { PersonalApisService } from '../personal-apis/service.js'
import type { ChatRepository, ConversationRow, NewConversation } from './repository.js'
import { conversationView, messageView, type ConversationView, type MessageView } from './view.js'

export const NEW_CHAT_TITLE = 'New chat'
/** The first message names a conversation with this many of its characters. */
const TITLE_CHARS = 30

/** What a conversation is made of, in domain terms; null clears a field. */
export interface ConversationInput {
  title?: string
  model?: string | null
  apiId?: number | null
  systemPrompt?: string | null
}

export interface ChatModel {
  id: string
  source: 'gateway' | 'personal'
  api_id?: number
}

export interface ChatServiceDeps {
  repo: ChatRepository
  clock: Clock
  channelPool: ChannelPool
  pricing: PricingService
  personalApis: Pick<PersonalApisService, 'assertOwned' | 'list'>
}

/** A conversation's title from its first message: the first 30 characters (code points), on one line. */
export function titleFrom(content: string): string {
  const line = content.replace(/\s+/g, ' ').trim()
  return line ? Array.from(line).slice(0, TITLE_CHARS).join('') : NEW_CHAT_TITLE
}

function checkTitle(title: string): string {
  const trimmed = title.trim()
  if (!trimmed) throw errors.invalidRequest('title must not be blank', 'title')
  return trimmed
}

/** Conversations and their messages (CONTRACT §8), always the caller's own: anyone else's is a 404. */
export function createChatService(deps: ChatServiceDeps) {
  const { repo, clock } = deps

  async function owned(user: UserRow, id: number): Promise<ConversationRow> {
    const row = await repo.findConversation(id, user.id)
    if (!row) throw errors.notFound('conversation')
    return row
  }

  /** A personal API named on a conversation must be the caller's own. */
  async function checkApi(user: UserRow, apiId: number | null | undefined): Promise<void> {
    if (apiId !== undefined && apiId !== null) await deps.personalApis.assertOwned(user.id, apiId, 'api_id')
  }

  /** All of the user's personal APIs, oldest first. */
  async function personalApisOf(user: UserRow) {
    const all = []
    for (let page = 1; ; page++) {
      const { data, total } = await deps.personalApis.list(user.id, { page, pageSize: MAX_PAGE_SIZE })
      all.push(...data)
      if (data.length === 0 || all.length >= total) return all
    }
  }

  return {
    owned,

    async create(user: UserRow, input: ConversationInput): Promise<ConversationView> {
      await checkApi(user, input.apiId)
      const now = new Date(clock.now())
      const named = input.title !== undefined
      const row: NewConversation = {
        userId: user.id,
        title: named ? checkTitle(input.title as string) : NEW_CHAT_TITLE,
        titlePending: !named,
        model: input.model ?? null,
        apiId: input.apiId ?? null,
        systemPrompt: input.systemPrompt ?? null,
        createdAt: now,
        updatedAt: now,
      }
      const id = await repo.createConversation(row)
      return conversationView(await owned(user, id))
    },

    async list(user: UserRow, query: { keyword?: string; page: number; pageSize: number }) {
      const { rows, total } = await repo.listConversations({ userId: user.id, ...query })
      return { data: rows.map(conversationView), total, page: query.page, page_size: query.pageSize }
    },

    async get(user: UserRow, id: number): Promise<ConversationView> {
      return conversationView(await owned(user, id))
    },

    async update(user: UserRow, id: number, input: ConversationInput): Promise<ConversationView> {
      await owned(user, id)
      await checkApi(user, input.apiId)
      const changes: Partial<NewConversation> = { updatedAt: new Date(clock.now()) }
      if (input.title !== undefined) {
        changes.title = checkTitle(input.title)
        changes.titlePending = false
      }
      if (input.model !== undefined) changes.model = input.model
      if (input.apiId !== undefined) changes.apiId = input.apiId
      if (input.systemPrompt !== undefined) changes.systemPrompt = input.systemPrompt
      if (!(await repo.updateConversation(id, user.id, changes))) throw errors.notFound('conversation')
      return conversationView(await owned(user, id))
    },

    async remove(user: UserRow, id: number): Promise<void> {
      if (!(await repo.deleteConversation(id, user.id))) throw errors.notFound('conversation')
    },

    async messages(user: UserRow, id: number, query: { limit: number; beforeId?: number }): Promise<{ data: MessageView[]; has_more: boolean }> {
      await owned(user, id)
      const { rows, hasMore } = await repo.listMessages(id, query)
      // Fetched newest first (the page ends at `before_id`); shown oldest first.
      return { data: rows.reverse().map(messageView), has_more: hasMore }
    },

    /** What the user can chat with: priced models an enabled channel of their group serves, and their own APIs. */
    async models(user: UserRow): Promise<{ data: ChatModel[] }> {
      const gateway: ChatModel[] = deps.channelPool
        .modelsForGroup(user.group)
        .filter((id) => deps.pricing.priceOf(id) !== undefined)
        .map((id) => ({ id, source: 'gateway' }))
      const personal: ChatModel[] = (await personalApisOf(user)).map((api) => ({ id: api.model, source: 'personal', api_id: api.id }))
      return { data: [...gateway, ...personal] }
    },
  }
}

export type ChatService = ReturnType<typeof createChatService>
