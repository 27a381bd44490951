import argon2 from 'argon2'

// argon2id with the library's defaults (64 MiB, t=3, p=4), which match OWASP's guidance.
export function hashPassword(password: string): Promise<string> {
  return argon2.hash(password, { type: argon2.argon2id })
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
export async function burnPasswordCheck(password: string): Promise<void> {
  dummyHash ??= hashPassword('nexus-dummy-password-for-timing')
  await verifyPassword(await dummyHash, password)
}
