import { randomUUID } from 'node:crypto'
import { jwtVerify, SignJWT } from 'jose'
import type { Cache } from '../cache/cache.js'
import type { Clock } from '../clock.js'

export const SESSION_TTL_S = 24 * 3600

export interface SessionClaims {
  userId: number
  jti: string
  /** Issue time in ms: password changes refuse sessions issued before them, to the millisecond. */
  issuedAtMs: number
  expiresAtS: number
}

/**
 * User sessions: HS256 JWTs (jose) with a `jti`, so logout can revoke one. Revoked ids live in
 * the shared cache until the token would have expired anyway.
 */
export function createSessions(secret: string, cache: Cache, clock: Clock) {
  const key = new TextEncoder().encode(secret)
  const revokedKey = (jti: string) => `session:revoked:${jti}`

  return {
    /**
     * `notBeforeMs`: the issue time recorded is at least this (the user's last password change
     * + 1 ms), so a session made in the same millisecond as a password change still counts as
     * issued after it, while every session issued before or at the change is refused.
     */
    async issue(userId: number, notBeforeMs = 0): Promise<{ token: string; expiresIn: number }> {
      const nowMs = clock.now()
      const iat = Math.floor(nowMs / 1000)
      const token = await new SignJWT({ ims: Math.max(nowMs, notBeforeMs) })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setSubject(String(userId))
        .setJti(randomUUID())
        .setIssuedAt(iat)
        .setExpirationTime(iat + SESSION_TTL_S)
        .sign(key)
      return { token, expiresIn: SESSION_TTL_S }
    },

    /** The claims of a valid, unrevoked token, or null. */
    async verify(token: string): Promise<SessionClaims | null> {
      let payload
      try {
        ;({ payload } = await jwtVerify(token, key, {
          algorithms: ['HS256'],
          currentDate: new Date(clock.now()),
        }))
      } catch {
        return null
      }
      const userId = Number(payload.sub)
      if (!Number.isInteger(userId) || !payload.jti || typeof payload.exp !== 'number') return null
      if ((await cache.get(revokedKey(payload.jti))) !== null) return null
      const issuedAtMs = typeof payload.ims === 'number' ? payload.ims : (payload.iat ?? 0) * 1000
      return { userId, jti: payload.jti, issuedAtMs, expiresAtS: payload.exp }
    },

    async revoke(claims: SessionClaims): Promise<void> {
      const ttlMs = claims.expiresAtS * 1000 - clock.now()
      if (ttlMs > 0) await cache.set(revokedKey(claims.jti), '1', ttlMs)
    },
  }
}

export type Sessions = ReturnType<typeof createSessions>
