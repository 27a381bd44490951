import { errors } from '../errors.js'

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/
const DAY_MS = 86_400_000

/**
 * A `from` / `to` filter bound: an ISO date-time, or a bare UTC date. A bare `to` date runs
 * through the end of that day, so `from=2026-01-01&to=2026-01-31` is the whole of January.
 */
export function parseBound(value: string | undefined, param: 'from' | 'to'): Date | undefined {
  if (value === undefined) return undefined
  const dateOnly = DATE_ONLY.test(value)
  const ms = Date.parse(dateOnly ? `${value}T00:00:00Z` : value)
  if (Number.isNaN(ms)) throw errors.invalidRequest(`${param} is not an ISO-8601 date or date-time`, param)
  return new Date(dateOnly && param === 'to' ? ms + DAY_MS - 1 : ms)
}
