import { getTableColumns, getTableName, type Table } from 'drizzle-orm'
import t from 'tap'
import * as mysqlSchema from '../../src/db/schema/mysql.js'
import * as sqliteSchema from '../../src/db/schema/sqlite.js'

// Type-level: both schemas export the same tables with the same column keys.
type Keys<S> = { [K in keyof S]: S[K] extends Table ? keyof S[K]['_']['columns'] : never }
const sameShape: Keys<typeof sqliteSchema> = {} as Keys<typeof mysqlSchema>
const sameShapeBack: Keys<typeof mysqlSchema> = {} as Keys<typeof sqliteSchema>
void sameShape
void sameShapeBack

t.test('both dialects export the same tables, columns and SQL names', async (t) => {
  t.same(Object.keys(mysqlSchema).sort(), Object.keys(sqliteSchema).sort())
  for (const name of Object.keys(sqliteSchema) as (keyof typeof sqliteSchema)[]) {
    const lite = sqliteSchema[name] as Table
    const my = mysqlSchema[name] as Table
    t.equal(getTableName(my), getTableName(lite), `${name}: table name`)
    const liteCols = getTableColumns(lite)
    const myCols = getTableColumns(my)
    t.same(Object.keys(myCols).sort(), Object.keys(liteCols).sort(), `${name}: column keys`)
    for (const [key, col] of Object.entries(liteCols)) {
      const other = myCols[key]!
      t.equal(other.name, col.name, `${name}.${key}: SQL name`)
      t.equal(other.notNull, col.notNull, `${name}.${key}: nullability`)
      t.equal(other.primary, col.primary, `${name}.${key}: primary key`)
    }
  }
})
