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
    // SQLite files checkpoint their WAL from a worker thread, off the request path (src/db/wal-checkpointer.ts).
    const database = await openDatabase(opts.url, {
      walCheckpoint: { onError: (err) => app.log.warn({ err }, 'sqlite WAL checkpointer') },
    })
    if (opts.migrate !== false) {
      try {
        await runMigrations(database)
      } catch (err) {
        // Nothing will call onClose for a plugin that failed to load: release the pool / worker here.
        await database.close()
        throw err
      }
    }
    // A getter: decorate() cannot take the Database union as a plain value in its typing.
    app.decorate('db', { getter: () => database })
    app.addHook('onClose', async () => {
      await database.close()
    })
  },
  { name: 'db' },
)
