import { formatMicros } from '../billing/usd.js'
import type { RedemptionCodeListRow } from './repository.js'

/** A recharge code as the admin list shows it: never the code itself, only its mask. */
export interface RedemptionCodeView {
  id: number
  name: string
  code: string
  amount_usd: string
  quota: number
  /** `expired`: never redeemed and past `expires_at` (stored as unused; computed at read time). */
  status: 'unused' | 'used' | 'expired'
  created_by: number
  redeemed_by: number | null
  redeemed_by_username: string | null
  redeemed_at: string | null
  expires_at: string | null
  created_at: string
}

export function redemptionCodeView({ code, redeemedByUsername }: RedemptionCodeListRow, nowMs: number): RedemptionCodeView {
  const expired = code.status === 'unused' && code.expiresAt !== null && code.expiresAt.getTime() <= nowMs
  return {
    id: code.id,
    name: code.name,
    code: code.codeMask,
    amount_usd: formatMicros(BigInt(code.amountMicros)),
    quota: Number(code.quota),
    status: code.status === 'used' ? 'used' : expired ? 'expired' : 'unused',
    created_by: code.createdBy,
    redeemed_by: code.redeemedBy ?? null,
    redeemed_by_username: redeemedByUsername,
    redeemed_at: code.redeemedAt ? code.redeemedAt.toISOString() : null,
    expires_at: code.expiresAt ? code.expiresAt.toISOString() : null,
    created_at: code.createdAt.toISOString(),
  }
}
