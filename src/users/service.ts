import { randomBytes } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import type { Cache } from '../cache/cache.js'
import type { Clock } from '../clock.js'
import type { Config } from '../config.js'
import { UNIQUE, violatedUnique } from '../db/unique-violation.js'
import { errors } from '../errors.js'
import { hashPassword } from '../auth/passwords.js'
import { INVALIDATE } from '../relay/seams.js'
import type { NewUser, UserRow, UsersRepository } from './repository.js'

export interface RegisterInput {
  username: string
  email?: string
  password: string
}

export interface ProfileChanges {
  username?: string
  email?: string | null
}

export interface AdminChanges {
  role?: 'user' | 'admin'
  status?: 'enabled' | 'disabled'
  group?: string
}

export interface UserPage {
  rows: UserRow[]
  total: number
  page: number
  pageSize: number
}

const usernameTaken = () => errors.conflict('username_taken', 'that username is taken', 'username')
const emailTaken = () => errors.conflict('email_taken', 'that email is already registered', 'email')

/**
 * The unique indexes (case-insensitive: CONTRACT §5) decide when two requests race past the checks
 * for the same name: the loser gets the same 409 as if it had come second.
 */
function conflictOr(err: unknown): unknown {
  if (violatedUnique(err, UNIQUE.username)) return usernameTaken()
  if (violatedUnique(err, UNIQUE.email)) return emailTaken()
  return err
}

const rootProtected = () => errors.forbidden('root_protected', 'the root admin can be neither demoted, disabled nor deleted')
const selfProtected = () =>
  errors.forbidden('self_protected', 'administrators cannot demote, disable or delete their own account')

export function createUsersService(repo: UsersRepository, config: Config, clock: Clock, cache: Cache) {
  /** Relay key caches on every instance drop the user (a disabled user's keys stop within 1 s). */
  const invalidate = (userId: number) => cache.publish(INVALIDATE.user, String(userId))

  async function assertFree(changes: ProfileChanges, exceptId?: number): Promise<void> {
    if (changes.username !== undefined && (await repo.usernameTaken(changes.username, exceptId))) throw usernameTaken()
    if (changes.email && (await repo.emailTaken(changes.email, exceptId))) throw emailTaken()
  }

  async function mustFind(id: number): Promise<UserRow> {
    const user = await repo.findById(id)
    if (!user) throw errors.notFound('user')
    return user
  }

  return {
    async register(input: RegisterInput): Promise<UserRow> {
      if (!config.registrationEnabled) throw errors.forbidden('registration_disabled', 'registration is disabled')
      await assertFree(input)
      const now = new Date(clock.now())
      const values: NewUser = {
        username: input.username,
        email: input.email ?? null,
        passwordHash: await hashPassword(input.password, config.passwordHashCost),
        role: 'user',
        createdAt: now,
        updatedAt: now,
      }
      let id: number
      try {
        id = await repo.create(values, { quota: config.newUserQuota, remark: 'new user quota' })
      } catch (err) {
        throw conflictOr(err)
      }
      const user = await repo.findById(id)
      if (!user) throw errors.internal()
      return user
    },

    /** Self-service profile change; `email: null` removes the address. */
    async updateProfile(user: UserRow, changes: ProfileChanges): Promise<UserRow> {
      await assertFree(changes, user.id)
      const set: Partial<NewUser> = {}
      if (changes.username !== undefined) set.username = changes.username
      if (changes.email !== undefined) set.email = changes.email
      if (Object.keys(set).length > 0) {
        try {
          await repo.update(user.id, { ...set, updatedAt: new Date(clock.now()) })
        } catch (err) {
          throw conflictOr(err)
        }
      }
      return mustFind(user.id)
    },

    async list(query: { keyword?: string; page: number; pageSize: number }): Promise<UserPage> {
      const { rows, total } = await repo.list(query)
      return { rows, total, page: query.page, pageSize: query.pageSize }
    },

    get: mustFind,

    /**
     * Admin change of role, status or group. The root admin cannot be demoted or disabled, and
     * an admin cannot demote or disable themselves (no locking oneself out by accident).
     */
    async adminUpdate(actor: UserRow, id: number, changes: AdminChanges): Promise<UserRow> {
      const user = await mustFind(id)
      const demotes = changes.role !== undefined && changes.role !== 'admin'
      const disables = changes.status !== undefined && changes.status !== 'enabled'
      if (user.isRoot && (demotes || disables)) throw rootProtected()
      if (user.id === actor.id && (demotes || disables)) throw selfProtected()
      const set: Partial<NewUser> = {}
      if (changes.role !== undefined) set.role = changes.role
      if (changes.status !== undefined) set.status = changes.status
      if (changes.group !== undefined) set.group = changes.group
      if (Object.keys(set).length > 0) {
        await repo.update(id, { ...set, updatedAt: new Date(clock.now()) })
        await invalidate(id)
      }
      return mustFind(id)
    },

    /** Soft delete (see the repository): their tokens are disabled, their usage log is kept. */
    async adminDelete(actor: UserRow, id: number): Promise<void> {
      const user = await mustFind(id)
      if (user.isRoot) throw rootProtected()
      if (user.id === actor.id) throw selfProtected()
      const tokenIds = await repo.softDelete(id, new Date(clock.now()))
      await invalidate(id)
      for (const tokenId of tokenIds) await cache.publish(INVALIDATE.token, String(tokenId))
    },

    /**
     * Makes the root admin on first start. A generated password is printed once; it is the only
     * way to learn it, so it goes to the log at warn level.
     */
    async ensureRootAdmin(log: FastifyBaseLogger): Promise<void> {
      if ((await repo.countAdmins()) > 0) return
      const password = config.adminPassword ?? randomBytes(12).toString('base64url')
      const now = new Date(clock.now())
      await repo.create(
        {
          username: config.adminUsername,
          passwordHash: await hashPassword(password, config.passwordHashCost),
          role: 'admin',
          isRoot: true,
          createdAt: now,
          updatedAt: now,
        },
        // ROOT_INITIAL_QUOTA: a fresh install relays at once; recorded as a `grant` in the ledger (CONTRACT §4).
        { quota: config.rootInitialQuota, remark: 'root initial quota' },
      )
      if (config.adminPassword) {
        log.info({ username: config.adminUsername }, 'root admin created with ADMIN_PASSWORD')
      } else {
        // Deliberately logged: the generated password is shown once, here, and never again.
        log.warn(`root admin created: username "${config.adminUsername}", password "${password}" (shown once; change it)`)
      }
    },
  }
}

export type UsersService = ReturnType<typeof createUsersService>
