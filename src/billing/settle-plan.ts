import type { SettleUnit } from './repository.js'

/** What one settlement batch changes on one row: summed over every unit touching it. */
export interface BalanceChange {
  /** Given back to the balance: reserved − cost (negative when the cost exceeded the reservation). */
  refund: number
  /** Added to used_quota. */
  cost: number
  /** Added to request_count. */
  served: number
}

export interface SettlePlan {
  /** Sorted by id, so concurrent transactions lock rows in one order (no deadlocks). */
  tokens: [number, BalanceChange][]
  users: [number, BalanceChange][]
  channels: [number, number][]
}

/**
 * Folds a batch of settlements into one change per token, user and channel, so a group commit of
 * N requests costs one UPDATE per distinct row rather than three per request. A token's refund
 * counts only for limited tokens (an unlimited token's remain_quota was never taken).
 */
export function planSettlement(units: readonly SettleUnit[]): SettlePlan {
  const tokens = new Map<number, BalanceChange>()
  const users = new Map<number, BalanceChange>()
  const channels = new Map<number, number>()
  const add = (map: Map<number, BalanceChange>, id: number, refund: number, cost: number, served: number) => {
    const change = map.get(id)
    if (change) {
      change.refund += refund
      change.cost += cost
      change.served += served
    } else {
      map.set(id, { refund, cost, served })
    }
  }
  for (const unit of units) {
    const { log } = unit
    const refund = unit.reserved - log.quota
    const served = unit.delivered ? 1 : 0
    add(tokens, log.tokenId, unit.tokenLimited ? refund : 0, log.quota, served)
    add(users, log.userId, refund, log.quota, served)
    if (log.channelId !== null && log.quota > 0) channels.set(log.channelId, (channels.get(log.channelId) ?? 0) + log.quota)
  }
  const byId = <V>(map: Map<number, V>) => [...map].sort((a, b) => a[0] - b[0])
  return { tokens: byId(tokens), users: byId(users), channels: byId(channels) }
}
