import { ConfigError, loadConfig } from '../config.js'
import { openDatabase, runMigrations } from './client.js'

// `npm run migrate`: apply the pending migrations of DATABASE_URL's dialect, then exit.
try {
  const config = loadConfig()
  const database = await openDatabase(config.databaseUrl)
  await runMigrations(database)
  await database.close()
  process.stdout.write(`migrations applied (${database.dialect})\n`)
} catch (err) {
  process.stderr.write(`nexus-api migrate: ${err instanceof ConfigError || err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
}
