import fp from 'fastify-plugin'
import { openDatabase, runMigrations, type Database } from '../db/client.js'

declare module 'fastify' {
  interface FastifyInstance {
    db: Database
  }
}

export interface DbPluginOptions {
  url: string
  /** Apply pending migrations before serving (start-up does; `npm run migrate` does it alone). */
  migrate?: boolean
}

export default fp<DbPluginOptions>(
  async (app, opts) => {
    const database = await openDatabase(opts.url)
    if (opts.migrate !== false) await runMigrations(database)
    // A getter: decorate() cannot take the Database union as a plain value in its typing.
    app.decorate('db', { getter: () => database })
    app.addHook('onClose', async () => {
      await database.close()
    })
  },
  { name: 'db' },
)
