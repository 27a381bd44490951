import { sql, type AnyColumn, type SQL } from 'drizzle-orm'
import type { Database } from './client.js'

/**
 * Comparisons of usernames and emails, which are unique case-insensitively (CONTRACT §5), each in the
 * form its dialect's unique index serves: SQLite indexes `lower(column)` (schema/sqlite.ts); MySQL's
 * columns carry a case-insensitive collation (schema/mysql.ts), so a plain `=` already ignores case.
 * Both fold ASCII only, which is all a username or an email may hold.
 */
export function equalsIgnoringCase(database: Database, column: AnyColumn, value: string): SQL {
  return database.dialect === 'sqlite' ? sql`lower(${column}) = lower(${value})` : sql`${column} = ${value}`
}

/** `column IN (values)`, ignoring case; `values` must not be empty. */
export function inIgnoringCase(database: Database, column: AnyColumn, values: readonly string[]): SQL {
  if (database.dialect === 'mysql') return sql`${column} in (${sql.join(values.map((v) => sql`${v}`), sql`, `)})`
  return sql`lower(${column}) in (${sql.join(values.map((v) => sql`lower(${v})`), sql`, `)})`
}
