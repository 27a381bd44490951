import argon2 from 'argon2'

/** argon2id's cost. The hash records it, so a verify never needs it. */
export interface PasswordHashCost {
  memoryCost: number
  timeCost: number
  parallelism: number
}

/**
 * argon2id with `cost`, or the library's defaults (64 MiB, t=3, p=4), which match OWASP's guidance. Production
 * always uses the defaults: only the test suite passes a lower cost (see Config.passwordHashCost).
 */
export function hashPassword(password: string, cost?: PasswordHashCost): Promise<string> {
  return argon2.hash(password, { type: argon2.argon2id, ...cost })
}

export async function verifyPassword(hash: string | null, password: string): Promise<boolean> {
  if (!hash) return false
  try {
    return await argon2.verify(hash, password)
  } catch {
    return false
  }
}

/**
 * Verifies against a fixed dummy hash so an unknown username costs the same time as a wrong
 * password and login answers cannot be told apart by timing.
 */
let dummyHash: Promise<string> | undefined
export async function burnPasswordCheck(password: string, cost?: PasswordHashCost): Promise<void> {
  dummyHash ??= hashPassword('nexus-dummy-password-for-timing', cost)
  await verifyPassword(await dummyHash, password)
}
