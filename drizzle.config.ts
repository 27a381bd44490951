import { defineConfig } from 'drizzle-kit'

// One migration history per dialect: `npm run db:generate` runs this twice (DB_DIALECT unset → sqlite,
// DB_DIALECT=mysql → mysql). Generation is offline; no database is needed.
const dialect = process.env.DB_DIALECT === 'mysql' ? 'mysql' : 'sqlite'

export default defineConfig({
  dialect,
  schema: `./src/db/schema/${dialect}.ts`,
  out: `./migrations/${dialect}`,
  casing: undefined,
})
