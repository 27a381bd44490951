import { randomBytes } from 'node:crypto'

const MAX = 50
const PREFIX = 'ext_'

/**
 * The username an external user gets when the partner gives none: `ext_` + the partner id with
 * every character outside [A-Za-z0-9_.-] turned into '_', cut to fit 50 characters.
 */
export function baseUsername(externalUserId: string): string {
  const stem = externalUserId.replace(/[^A-Za-z0-9_.-]/g, '_')
  return (PREFIX + stem).slice(0, MAX)
}

/** The base, then numbered variants (`_2` … `_9`), each still within 50 characters. */
export function usernameCandidates(externalUserId: string): string[] {
  const base = baseUsername(externalUserId)
  const numbered = Array.from({ length: 8 }, (_, i) => withSuffix(base, `_${i + 2}`))
  return [base, ...numbered]
}

/** Last resort when every candidate is taken (or a race took the chosen one): a random suffix. */
export function randomUsername(externalUserId: string): string {
  return withSuffix(baseUsername(externalUserId), `_${randomBytes(4).toString('hex')}`)
}

function withSuffix(base: string, suffix: string): string {
  return base.slice(0, MAX - suffix.length) + suffix
}
