// Display helpers. Quota is the gateway's integer money unit; QUOTA_PER_USD comes from the page's meta tag,
// which the server fills from its configuration when it serves index.html.

function readQuotaPerUsd(): number {
  const content = document.querySelector('meta[name="nexus-quota-per-usd"]')?.getAttribute('content')
  const value = Number(content)
  return Number.isSafeInteger(value) && value > 0 ? value : 500_000
}

export const QUOTA_PER_USD = readQuotaPerUsd()

export function quotaToUsd(quota: number): number {
  return quota / QUOTA_PER_USD
}

/** Whole USD amount → quota units, rounded half up (as the gateway converts top-ups). */
export function usdToQuota(usd: number): number {
  return Math.sign(usd) * Math.round(Math.abs(usd) * QUOTA_PER_USD)
}

export function usd(quota: number): string {
  const value = quotaToUsd(quota)
  const abs = Math.abs(value)
  const digits = abs === 0 ? 2 : abs < 0.01 ? 6 : abs < 1 ? 4 : 2
  return `${value < 0 ? '−' : ''}$${abs.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: digits })}`
}

export function count(n: number): string {
  return n.toLocaleString('en-US')
}

/** A compact count for chart axes: 1.2k, 3.4M. */
export function compact(n: number): string {
  return Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 }).format(n)
}

export function dateTime(iso: string | null | undefined): string {
  if (!iso) return '—'
  const d = new Date(iso)
  if (Number.isNaN(d.getTime())) return iso
  return d.toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' })
}

export function date(iso: string | null | undefined): string {
  if (!iso) return '—'
  const d = new Date(iso)
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric' })
}

/** YYYY-MM-DD of a UTC day, `daysAgo` days before today. */
export function utcDay(daysAgo = 0): string {
  const d = new Date(Date.now() - daysAgo * 86_400_000)
  return d.toISOString().slice(0, 10)
}

/** A comma- or line-separated list typed in a field → trimmed, non-empty items. */
export function splitList(text: string): string[] {
  return text
    .split(/[\n,]/)
    .map((item) => item.trim())
    .filter(Boolean)
}
