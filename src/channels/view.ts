import type { CircuitState } from './circuit.js'
import type { ChannelRow } from './repository.js'

/** A channel as the management API shows it (CONTRACT §5 "Channel output"); the key is the stored mask. */
export interface ChannelView {
  id: number
  type: string
  name: string
  base_url: string
  key: string
  models: string[]
  model_mapping: Record<string, string>
  groups: string[]
  priority: number
  weight: number
  status: string
  status_reason: string | null
  /** The circuit breaker's state (src/channels/circuit.ts). */
  circuit: CircuitState
  response_time_ms: number | null
  used_quota: number
  created_at: string
  updated_at: string
}

export function channelView(row: ChannelRow, circuit: CircuitState = 'closed'): ChannelView {
  return {
    id: row.id,
    type: row.type,
    name: row.name,
    base_url: row.baseUrl,
    key: row.keyMask,
    models: row.models,
    model_mapping: row.modelMapping,
    groups: row.groups,
    priority: row.priority,
    weight: row.weight,
    status: row.status,
    status_reason: row.statusReason ?? null,
    circuit,
    response_time_ms: row.responseTimeMs ?? null,
    used_quota: Number(row.usedQuota),
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
  }
}
