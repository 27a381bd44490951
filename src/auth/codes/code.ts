import { createHmac, randomInt, timingSafeEqual } from 'node:crypto'

export const CODE_PURPOSES = ['password_reset', 'verify_email'] as const
export type CodePurpose = (typeof CODE_PURPOSES)[number]

/** A 6-digit code from the CSPRNG, leading zeros kept. */
export function generateCode(): string {
  return randomInt(0, 1_000_000).toString().padStart(6, '0')
}

/**
 * Codes are stored as HMAC-SHA256 under a key derived from the server's JWT secret (a pepper
 * kept outside the database). Six digits are only 10^6 possibilities, so a slow hash (argon2)
 * would not stop an offline search anyway — it would only make each verification cost 64 MiB
 * and invite a denial of service. What protects a code is the pepper (a database dump alone
 * cannot be searched), the 10-minute life, single use and the 5-try limit. The user id and the
 * purpose are bound into the MAC so a hash cannot be replayed across users or purposes.
 */
export function createCodeHasher(serverSecret: string) {
  const key = createHmac('sha256', serverSecret).update('nexus verification codes v1').digest()
  const hash = (userId: number, purpose: CodePurpose, code: string) =>
    createHmac('sha256', key).update(`${userId}:${purpose}:${code}`).digest('hex')

  return {
    hash,
    matches(stored: string, userId: number, purpose: CodePurpose, code: string): boolean {
      const expected = Buffer.from(stored, 'hex')
      const actual = Buffer.from(hash(userId, purpose, code), 'hex')
      return expected.length === actual.length && timingSafeEqual(expected, actual)
    },
  }
}

export type CodeHasher = ReturnType<typeof createCodeHasher>
