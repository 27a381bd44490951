import t from 'tap'
import { ConfigError, loadConfig } from '../src/config.js'

t.test('an empty environment gives the documented defaults', async (t) => {
  const c = loadConfig({})
  t.match(c, {
    port: 3000,
    host: '0.0.0.0',
    databaseUrl: 'sqlite:./data/nexus.db',
    redisUrl: undefined,
    dataDir: './data',
    adminUsername: 'root',
    externalMaxSkewS: 300,
    quotaPerUsd: 500000,
    newUserQuota: 0,
    relayRetries: 2,
    upstreamFirstByteTimeoutMs: 120000,
    bodyLimitBytes: 20971520,
    registrationEnabled: true,
    logLevel: 'info',
    production: false,
  })
})

t.test('values are converted from strings', async (t) => {
  const c = loadConfig({ PORT: '8080', REGISTRATION_ENABLED: 'false', QUOTA_PER_USD: '1000', DATABASE_URL: 'mysql://u:p@db:3306/nexus', REDIS_URL: 'redis://r:6379/0' })
  t.equal(c.port, 8080)
  t.equal(c.registrationEnabled, false)
  t.equal(c.quotaPerUsd, 1000)
  t.equal(c.databaseUrl, 'mysql://u:p@db:3306/nexus')
  t.equal(c.redisUrl, 'redis://r:6379/0')
})

t.test('the data folder follows the SQLite path', async (t) => {
  t.equal(loadConfig({ DATABASE_URL: 'sqlite:/var/lib/nexus/app.db' }).dataDir, '/var/lib/nexus')
  t.equal(loadConfig({ DATABASE_URL: 'sqlite:app.db' }).dataDir, '.')
})

t.test('an invalid value stops start-up with one line naming the variable', async (t) => {
  const cases: Record<string, string> = {
    PORT: 'eighty',
    DATABASE_URL: 'postgres://x',
    RELAY_RETRIES: '-1',
    LOG_LEVEL: 'loud',
    REGISTRATION_ENABLED: 'maybe',
    REDIS_URL: 'localhost:6379',
    // Quota amounts are exact integers (CONTRACT §4): a setting that would leave that range is refused at start.
    QUOTA_PER_USD: '1000000001',
    NEW_USER_QUOTA: '9007199254740992',
  }
  for (const [name, value] of Object.entries(cases)) {
    let caught: unknown
    try {
      loadConfig({ [name]: value })
    } catch (err) {
      caught = err
    }
    t.ok(caught instanceof ConfigError, `${name}: ConfigError`)
    const message = (caught as Error).message
    t.ok(message.includes(name) && !message.includes('\n'), `${name}: one line naming it (${message})`)
  }
})

t.test('production requires JWT_SECRET and ENCRYPTION_KEY', async (t) => {
  t.throws(() => loadConfig({ NODE_ENV: 'production' }), /JWT_SECRET is required/)
  t.throws(() => loadConfig({ NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(32) }), /ENCRYPTION_KEY is required/)
  const ok = loadConfig({ NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(32), ENCRYPTION_KEY: Buffer.alloc(32).toString('base64') })
  t.equal(ok.production, true)
})

t.test('ENCRYPTION_KEY must be 32 bytes of base64', async (t) => {
  t.throws(() => loadConfig({ ENCRYPTION_KEY: Buffer.alloc(16).toString('base64') }), /32 bytes/)
})

t.test('empty variables count as unset', async (t) => {
  t.equal(loadConfig({ PORT: '', REDIS_URL: '' }).port, 3000)
})
