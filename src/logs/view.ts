import type { UsageLogRow } from './repository.js'

/** A usage-log row as the API shows it (CONTRACT §5). */
export interface UsageLogView {
  id: number
  created_at: string
  request_id: string
  user_id: number
  token_id: number
  channel_id: number | null
  model: string
  upstream_model: string | null
  stream: boolean
  prompt_tokens: number
  completion_tokens: number
  cached_tokens: number
  cache_write_tokens: number
  reasoning_tokens: number
  source: string
  quota: number
  latency_ms: number
  first_byte_ms: number | null
  status: number
  error: string | null
}

export function usageLogView(row: UsageLogRow): UsageLogView {
  return {
    id: Number(row.id),
    created_at: row.createdAt.toISOString(),
    request_id: row.requestId,
    user_id: row.userId,
    token_id: row.tokenId,
    channel_id: row.channelId ?? null,
    model: row.model,
    upstream_model: row.upstreamModel ?? null,
    stream: Boolean(row.stream),
    prompt_tokens: Number(row.promptTokens),
    completion_tokens: Number(row.completionTokens),
    cached_tokens: Number(row.cachedTokens),
    cache_write_tokens: Number(row.cacheWriteTokens),
    reasoning_tokens: Number(row.reasoningTokens),
    source: row.source,
    quota: Number(row.quota),
    latency_ms: Number(row.latencyMs),
    first_byte_ms: row.firstByteMs === null ? null : Number(row.firstByteMs),
    status: Number(row.status),
    error: row.error ?? null,
  }
}
