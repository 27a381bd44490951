import type { ConversationRow, MessageRow } from './repository.js'

export interface ConversationView {
  id: number
  title: string
  model: string | null
  api_id: number | null
  system_prompt: string | null
  message_count: number
  token_used: number
  created_at: string
  updated_at: string
}

export interface MessageView {
  id: number
  role: string
  content: string
  model: string | null
  prompt_tokens: number
  completion_tokens: number
  status: string
  clear_context: boolean
  error: string | null
  created_at: string
}

export function conversationView(row: ConversationRow): ConversationView {
  return {
    id: row.id,
    title: row.title,
    model: row.model ?? null,
    api_id: row.apiId ?? null,
    system_prompt: row.systemPrompt ?? null,
    message_count: Number(row.messageCount),
    token_used: Number(row.tokenUsed),
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
  }
}

export function messageView(row: MessageRow): MessageView {
  return {
    id: Number(row.id),
    role: row.role,
    content: row.content,
    model: row.model ?? null,
    prompt_tokens: Number(row.promptTokens),
    completion_tokens: Number(row.completionTokens),
    status: row.status,
    clear_context: Boolean(row.clearContext),
    error: row.error ?? null,
    created_at: row.createdAt.toISOString(),
  }
}
