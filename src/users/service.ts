import { randomBytes } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import type { Clock } from '../clock.js'
import type { Config } from '../config.js'
import { errors } from '../errors.js'
import { hashPassword } from '../auth/passwords.js'
import type { UserRow, UsersRepository } from './repository.js'

export interface RegisterInput {
  username: string
  email?: string
  password: string
}

export function createUsersService(repo: UsersRepository, config: Config, clock: Clock) {
  return {
    async register(input: RegisterInput): Promise<UserRow> {
      if (!config.registrationEnabled) throw errors.forbidden('registration_disabled', 'registration is disabled')
      if (await repo.usernameTaken(input.username)) {
        throw errors.conflict('username_taken', 'that username is taken', 'username')
      }
      if (input.email && (await repo.emailTaken(input.email))) {
        throw errors.conflict('email_taken', 'that email is already registered', 'email')
      }
      const now = new Date(clock.now())
      const id = await repo.create(
        {
          username: input.username,
          email: input.email ?? null,
          passwordHash: await hashPassword(input.password),
          role: 'user',
          createdAt: now,
          updatedAt: now,
        },
        { quota: config.newUserQuota, remark: 'new user quota' },
      )
      const user = await repo.findById(id)
      if (!user) throw errors.internal()
      return user
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
          passwordHash: await hashPassword(password),
          role: 'admin',
          isRoot: true,
          createdAt: now,
          updatedAt: now,
        },
        { quota: 0, remark: 'root admin' },
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
