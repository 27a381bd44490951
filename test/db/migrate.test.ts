import { sql } from 'drizzle-orm'
import t from 'tap'
import { openDatabase, runMigrations } from '../../src/db/client.js'
import { backends } from '../support/backends.js'

const TABLES = ['channels', 'group_ratios', 'prices', 'tokens', 'topups', 'usage_logs', 'users', 'verification_codes']

for (const backend of backends()) {
  t.test(`${backend.name}: migrating an empty database creates every table, and is idempotent`, async (t) => {
    const p = await backend.provision()
    t.teardown(() => p.drop())
    const database = await openDatabase(p.databaseUrl)
    t.teardown(() => database.close())
    await runMigrations(database)
    await runMigrations(database)
    let names: string[]
    if (database.dialect === 'sqlite') {
      names = database.sqlite.all<{ name: string }>(sql`select name from sqlite_master where type = 'table'`).map((r) => r.name)
    } else {
      const [rows] = (await database.mysql.execute(sql`select table_name as name from information_schema.tables where table_schema = database()`)) as unknown as [{ name: string }[]]
      names = rows.map((r) => r.name)
    }
    for (const table of TABLES) t.ok(names.includes(table), `${table} exists`)
    t.ok(await database.ping())
  })
}
