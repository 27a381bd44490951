import fp from 'fastify-plugin'
import { createUsersRepository, type UsersRepository } from './repository.js'
import { createUsersService, type UsersService } from './service.js'

declare module 'fastify' {
  interface FastifyInstance {
    usersRepo: UsersRepository
    users: UsersService
  }
}

export default fp(
  async (app) => {
    const repo = createUsersRepository(app.db)
    app.decorate('usersRepo', repo)
    app.decorate('users', createUsersService(repo, app.config, app.clock, app.cache))
  },
  { name: 'users-repo', dependencies: ['db', 'cache'] },
)
