import type { TokenRow } from './repository.js'

/** A relay token as the management API shows it; `key` is the mask except in the creation response. */
export interface TokenView {
  id: number
  user_id: number
  name: string
  key: string
  /** The stored status; `expired` says separately whether `expires_at` has passed. */
  status: string
  expired: boolean
  expires_at: string | null
  unlimited_quota: boolean
  remain_quota: number
  used_quota: number
  request_count: number
  models: string[]
  allow_ips: string[]
  group: string | null
  rate_limit_rpm: number | null
  /** The personal API the key is bound to (CONTRACT §7), or null. */
  personal_api_id: number | null
  created_at: string
  accessed_at: string | null
}

export function tokenView(row: TokenRow, nowMs: number): TokenView {
  return {
    id: row.id,
    user_id: row.userId,
    name: row.name,
    key: row.keyMask,
    status: row.status,
    expired: row.expiresAt !== null && row.expiresAt.getTime() <= nowMs,
    expires_at: row.expiresAt ? row.expiresAt.toISOString() : null,
    unlimited_quota: Boolean(row.unlimitedQuota),
    remain_quota: Number(row.remainQuota),
    used_quota: Number(row.usedQuota),
    request_count: Number(row.requestCount),
    models: row.models,
    allow_ips: row.allowIps,
    group: row.group ?? null,
    rate_limit_rpm: row.rateLimitRpm ?? null,
    personal_api_id: row.personalApiId ?? null,
    created_at: row.createdAt.toISOString(),
    accessed_at: row.accessedAt ? row.accessedAt.toISOString() : null,
  }
}
