import type { PersonalApiRow } from './repository.js'

/** A personal API as the API shows it (CONTRACT §7); the key is the stored mask, never the key. */
export interface PersonalApiView {
  id: number
  name: string
  base_url: string
  model: string
  type: string
  key: string
  default: boolean
  created_at: string
  updated_at: string
}

/** `firstId`: the owner's oldest personal API, which is their default. */
export function personalApiView(row: PersonalApiRow, firstId: number | undefined): PersonalApiView {
  return {
    id: row.id,
    name: row.name,
    base_url: row.baseUrl,
    model: row.model,
    type: row.type,
    key: row.keyMask,
    default: row.id === firstId,
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
  }
}
