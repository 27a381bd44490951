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
  /** Taken from this instance's leases, per user and per limited token: each lease row shrinks by it. */
  leaseUsers: [number, number][]
  leaseTokens: [number, number][]
  /** The highest journal entry in the batch (0 = none): the instance's committed watermark. */
  journalSeq: number
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
  const leaseUsers = new Map<number, number>()
  const leaseTokens = new Map<number, number>()
  let journalSeq = 0
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
    // What was prepaid from a lease is not the balance's to get back: the lease row shrinks by it instead.
    const refund = unit.reserved - (log.quota - unit.prepaid)
    const served = unit.delivered ? 1 : 0
    add(tokens, log.tokenId, unit.tokenLimited ? refund : 0, log.quota, served)
    add(users, log.userId, refund, log.quota, served)
    if (log.channelId !== null && log.channelId > 0 && log.quota > 0) channels.set(log.channelId, (channels.get(log.channelId) ?? 0) + log.quota)
    if (unit.prepaid > 0) {
      leaseUsers.set(log.userId, (leaseUsers.get(log.userId) ?? 0) + unit.prepaid)
      if (unit.tokenLimited) leaseTokens.set(log.tokenId, (leaseTokens.get(log.tokenId) ?? 0) + unit.prepaid)
    }
    if (unit.journalSeq > journalSeq) journalSeq = unit.journalSeq
  }
  const byId = <V>(map: Map<number, V>) => [...map].sort((a, b) => a[0] - b[0])
  return {
    tokens: byId(tokens),
    users: byId(users),
    channels: byId(channels),
    leaseUsers: byId(leaseUsers),
    leaseTokens: byId(leaseTokens),
    journalSeq,
  }
}

/** The users and tokens whose balances a batch needs: those of units whose cost passed their reservation. */
export function needsBalances(units: readonly SettleUnit[]): { users: number[]; tokens: number[] } {
  const users = new Set<number>()
  const tokens = new Set<number>()
  for (const unit of units) {
    if (unit.cost <= unit.reserved) continue
    users.add(unit.log.userId)
    if (unit.tokenLimited) tokens.add(unit.log.tokenId)
  }
  const sorted = (set: Set<number>) => [...set].sort((a, b) => a - b)
  return { users: sorted(users), tokens: sorted(tokens) }
}

/**
 * Decides what each unit is charged (`log.quota`), in order, given the balances (after every open reservation)
 * of the users and tokens `needsBalances` named. A cost within its reservation is charged in full. A cost beyond
 * it takes the excess only as far as the balance can go down to minus the unit's overdraft (one increment); the
 * rest is `forgiven`. So no settlement, however many run together, leaves a balance lower than that.
 */
export function chargeUnits(units: readonly SettleUnit[], users: Map<number, number>, tokens: Map<number, number>): void {
  for (const unit of units) {
    const { userId, tokenId } = unit.log
    let charged = unit.cost
    unit.forgiven = 0
    const excess = unit.cost - unit.reserved
    if (excess > 0) {
      let room = Math.max(0, (users.get(userId) ?? 0) + unit.overdraft)
      if (unit.tokenLimited) room = Math.min(room, Math.max(0, (tokens.get(tokenId) ?? 0) + unit.overdraft))
      const taken = Math.min(excess, room)
      charged = unit.reserved + taken
      unit.forgiven = excess - taken
    }
    unit.log.quota = unit.prepaid + charged
    // Later units of the same user or token see this one's effect.
    const refund = unit.reserved - charged
    const user = users.get(userId)
    if (user !== undefined) users.set(userId, user + refund)
    const token = tokens.get(tokenId)
    if (unit.tokenLimited && token !== undefined) tokens.set(tokenId, token + refund)
  }
}
