import type { Cache } from '../cache/cache.js'
import type { Clock } from '../clock.js'
import { errors } from '../errors.js'
import type { UserRow, UsersRepository } from '../users/repository.js'
import { burnPasswordCheck, verifyPassword } from './passwords.js'
import type { SessionClaims, Sessions } from './sessions.js'

const MAX_FAILURES = 10
const FAILURE_WINDOW_MS = 15 * 60 * 1000

export function createAuthService(repo: UsersRepository, sessions: Sessions, cache: Cache, clock: Clock) {
  const failureKey = (ip: string, login: string) => `login-fail:${ip}:${login.toLowerCase()}`

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
      else await burnPasswordCheck(password)
      if (!ok || !user) {
        await cache.incr(key, 1, FAILURE_WINDOW_MS)
        throw errors.unauthorized('invalid_credentials', 'wrong username or password')
      }
      if (user.status !== 'enabled') throw errors.forbidden('user_disabled', 'this account is disabled')
      await cache.del(key)
      const now = new Date(clock.now())
      await repo.update(user.id, { lastLoginAt: now })
      const session = await sessions.issue(user.id)
      return { ...session, user: { ...user, lastLoginAt: now } }
    },

    logout(session: SessionClaims): Promise<void> {
      return sessions.revoke(session)
    },
  }
}

export type AuthService = ReturnType<typeof createAuthService>
