import type { FastifyBaseLogger } from 'fastify'
import type { Cache } from '../../cache/cache.js'
import type { Clock } from '../../clock.js'
import { ApiError } from '../../errors.js'
import type { UserRow, UsersRepository } from '../../users/repository.js'
import { countHit, tryHit } from '../rate-limit.js'
import { generateCode, type CodeHasher, type CodePurpose } from './code.js'
import type { CodesRepository } from './repository.js'
import type { CodeSender } from './sender.js'

export const CODE_TTL_MS = 10 * 60 * 1000
export const RESEND_INTERVAL_MS = 60 * 1000

const WINDOW_MS = 15 * 60 * 1000
/** send-code per client IP (answered with 429: it says nothing about any account). */
const SEND_PER_IP = 10
/** Codes per account per hour, on top of one per 60 s; dropped silently (a 429 would enumerate). */
const SEND_PER_ACCOUNT_PER_HOUR = 10
/** Code checks (verify-code + reset-password) per IP, and per submitted login whether or not it exists. */
const CHECK_PER_IP = 30
const CHECK_PER_LOGIN = 10

export interface VerifiedCode {
  user: UserRow
  codeId: number
}

export interface CodesDeps {
  codes: CodesRepository
  users: UsersRepository
  hasher: CodeHasher
  cache: Cache
  clock: Clock
  log: FastifyBaseLogger
  sender: CodeSender
}

const invalidCode = () => new ApiError(400, 'invalid_code', 'the code is invalid, expired or used up', { param: 'code', retry: false })
const normalise = (login: string) => login.trim().toLowerCase()

/**
 * Verification codes: issue (rate-limited, one per 60 s per user and purpose), check (5 wrong
 * tries burn a code) and use up.
 */
export function createCodesService(deps: CodesDeps) {
  const { codes, users, hasher, cache, clock } = deps
  let sender = deps.sender
  const pending = new Set<Promise<void>>()

  async function issue(login: string, purpose: CodePurpose): Promise<void> {
    const user = await users.findByLogin(login)
    if (!user || user.status !== 'enabled') return
    const now = clock.now()
    const last = await codes.lastIssuedAt(user.id, purpose)
    if (last && now - last.getTime() < RESEND_INTERVAL_MS) return
    if (!(await tryHit(cache, { key: `code-send:user:${user.id}`, max: SEND_PER_ACCOUNT_PER_HOUR, windowMs: 3600_000 }))) return
    const code = generateCode()
    await codes.replace(user.id, purpose, hasher.hash(user.id, purpose, code), new Date(now), new Date(now + CODE_TTL_MS))
    await sender.send({ user, purpose, code })
  }

  return {
    /**
     * Asks for a code. The per-IP limit is checked before answering; everything that depends on
     * the account runs after the answer, so known and unknown accounts look alike, by status
     * and by timing.
     */
    async request(login: string, purpose: CodePurpose, ip: string): Promise<void> {
      await countHit(cache, { key: `code-send:ip:${ip}`, max: SEND_PER_IP, windowMs: WINDOW_MS })
      const work = issue(login, purpose).catch((err: unknown) => deps.log.error({ err, purpose }, 'issuing a verification code failed'))
      pending.add(work)
      void work.finally(() => pending.delete(work))
    },

    /** Checks a code without using it up; throws 400 `invalid_code` (or 429 past the limits). */
    async check(login: string, purpose: CodePurpose, code: string, ip: string): Promise<VerifiedCode> {
      await countHit(cache, { key: `code-check:ip:${ip}`, max: CHECK_PER_IP, windowMs: WINDOW_MS })
      await countHit(cache, { key: `code-check:login:${normalise(login)}`, max: CHECK_PER_LOGIN, windowMs: WINDOW_MS })
      const user = await users.findByLogin(login)
      if (!user || user.status !== 'enabled') throw invalidCode()
      const row = await codes.findActive(user.id, purpose, new Date(clock.now()))
      if (!row || !(await codes.claimAttempt(row.id))) throw invalidCode()
      if (!hasher.matches(row.codeHash, user.id, purpose, code)) throw invalidCode()
      await codes.releaseAttempt(row.id)
      return { user, codeId: row.id }
    },

    /** Uses a checked code up; throws `invalid_code` when a concurrent request used it first. */
    async useUp(verified: VerifiedCode): Promise<void> {
      if (!(await codes.markUsed(verified.codeId, new Date(clock.now())))) throw invalidCode()
    },

    /** Installs another delivery (SMTP, SMS, or a test's capture). */
    useSender(next: CodeSender): void {
      sender = next
    },

    /** Resolves when every code requested so far has been issued (or dropped). */
    async idle(): Promise<void> {
      while (pending.size > 0) await Promise.allSettled([...pending])
    },

    deleteStale(): Promise<number> {
      return codes.deleteStale(new Date(clock.now()))
    },
  }
}

export type CodesService = ReturnType<typeof createCodesService>
