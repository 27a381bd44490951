/**
 * Which unique index a failed INSERT/UPDATE hit, from either driver's error (drizzle wraps the
 * driver's error as `cause`): better-sqlite3 says `UNIQUE constraint failed: topups.payment_id`
 * (or `… failed: index 'users_username_uq'` for an index on an expression such as lower(username)),
 * mysql2 says `Duplicate entry '…' for key 'topups_payment_id_uq'` (MySQL 8: `'topups.topups_payment_id_uq'`).
 * Exactly-once and uniqueness under races rest on these: write, and classify what the index refused.
 */
export interface UniqueIndex {
  /** index name, as MySQL (and SQLite, for an index on an expression) reports it */
  name: string
  /** `table.column`, as SQLite reports it for an index on plain columns */
  column: string
}

export function violatedUnique(err: unknown, index: UniqueIndex): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code
    if (code === 'ER_DUP_ENTRY' && new RegExp(`for key '(?:[^']*\\.)?${index.name}'`).test(e.message)) return true
    if (code === 'SQLITE_CONSTRAINT_UNIQUE' && (e.message.includes(index.column) || e.message.includes(`index '${index.name}'`))) {
      return true
    }
  }
  return false
}

export const UNIQUE = {
  paymentId: { name: 'topups_payment_id_uq', column: 'topups.payment_id' },
  externalUserId: { name: 'users_external_user_id_uq', column: 'users.external_user_id' },
  username: { name: 'users_username_uq', column: 'users.username' },
  email: { name: 'users_email_uq', column: 'users.email' },
} satisfies Record<string, UniqueIndex>
