import type { Cache } from '../cache/cache.js'
import type { Clock } from '../clock.js'
import { errors } from '../errors.js'
import { INVALIDATE } from '../relay/seams.js'
import type { UserRow, UsersRepository } from '../users/repository.js'
import type { CodesService } from './codes/service.js'
import { hashPassword, burnPasswordCheck, verifyPassword, type PasswordHashCost } from './passwords.js'
import { assertUnder } from './rate-limit.js'
import type { SessionClaims, Sessions } from './sessions.js'

const MAX_FAILURES = 10
const FAILURE_WINDOW_MS = 15 * 60 * 1000

export interface AuthDeps {
  repo: UsersRepository
  sessions: Sessions
  cache: Cache
  clock: Clock
  codes: CodesService
  passwordHashCost?: PasswordHashCost
}

export function createAuthService({ repo, sessions, cache, clock, codes, passwordHashCost }: AuthDeps) {
  const failureKey = (ip: string, login: string) => `login-fail:${ip}:${login.toLowerCase()}`
  const passwordChangeFailures = (userId: number) => ({
    key: `password-change-fail:${userId}`,
    max: MAX_FAILURES,
    windowMs: FAILURE_WINDOW_MS,
  })

  /**
   * Stores a new password and records the change: every session issued up to now is refused
   * from the next request on (guards compare the session's issue time with
   * `password_changed_at`), and relay caches drop the user.
   */
  async function setPassword(user: UserRow, newPassword: string): Promise<void> {
    const passwordHash = await hashPassword(newPassword, passwordHashCost)
    const now = new Date(clock.now())
    await repo.update(user.id, { passwordHash, passwordChangedAt: now, updatedAt: now })
    await cache.publish(INVALIDATE.user, String(user.id))
  }

  return {
    /**
     * One answer for an unknown user and a wrong password (same code, same work), and a
     * per IP + username limit on failures so passwords cannot be guessed at speed.
     */
    async login(login: string, password: string, ip: string): Promise<{ token: string; expiresIn: number; user: UserRow }> {
      const key = failureKey(ip, login)
      const failures = Number((await cache.get(key)) ?? 0)
      if (failures >= MAX_FAILURES) {
        const ttl = await cache.ttl(key)
        throw errors.rateLimited('too_many_attempts', 'too many failed logins; try again later', ttl > 0 ? ttl / 1000 : 60)
      }
      const user = await repo.findByLogin(login)
      let ok = false
      if (user) ok = await verifyPassword(user.passwordHash, password)
      else await burnPasswordCheck(password, passwordHashCost)
      if (!ok || !user) {
        await cache.incr(key, 1, FAILURE_WINDOW_MS)
        throw errors.unauthorized('invalid_credentials', 'wrong username or password')
      }
      if (user.status !== 'enabled') throw errors.forbidden('user_disabled', 'this account is disabled')
      await cache.del(key)
      const now = new Date(clock.now())
      await repo.update(user.id, { lastLoginAt: now })
      const notBefore = user.passwordChangedAt ? user.passwordChangedAt.getTime() + 1 : 0
      const session = await sessions.issue(user.id, notBefore)
      return { ...session, user: { ...user, lastLoginAt: now } }
    },

    logout(session: SessionClaims): Promise<void> {
      return sessions.revoke(session)
    },

    /**
     * Self-service change. Every session issued before — the caller's own included — is refused
     * afterwards: the client logs in again with the new password. Wrong old passwords are
     * limited per user (10 per 15 min) so a stolen session cannot guess its way to the password.
     */
    async changePassword(user: UserRow, oldPassword: string, newPassword: string): Promise<void> {
      const limit = passwordChangeFailures(user.id)
      await assertUnder(cache, limit)
      if (!(await verifyPassword(user.passwordHash, oldPassword))) {
        await cache.incr(limit.key, 1, limit.windowMs)
        throw errors.unauthorized('invalid_credentials', 'the old password is wrong')
      }
      await setPassword(user, newPassword)
    },

    /**
     * Password reset with a `password_reset` code: the code is used up, the password replaced,
     * every earlier session refused, and this IP's failed-login counter for the account cleared
     * (counters of other IPs run out by themselves within 15 min).
     */
    async resetPassword(login: string, code: string, newPassword: string, ip: string): Promise<void> {
      const verified = await codes.check(login, 'password_reset', code, ip)
      await codes.useUp(verified)
      await setPassword(verified.user, newPassword)
      const { user } = verified
      await cache.del(...[login, user.username, user.email].filter((l): l is string => !!l).map((l) => failureKey(ip, l)))
    },
  }
}

export type AuthService = ReturnType<typeof createAuthService>
