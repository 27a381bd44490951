import Fastify, { type FastifyInstance } from 'fastify'
import app, { loggerOptions, serverOptions } from '../../src/app.js'
import type { LeaseOptions } from '../../src/billing/leases.js'
import type { Clock } from '../../src/clock.js'
import { loadConfig, type Config } from '../../src/config.js'
import type { Backend, Provisioned } from './backends.js'

export const ADMIN = { username: 'root', password: 'root-test-password' }
export const TEST_ENCRYPTION_KEY = Buffer.alloc(32, 7).toString('base64')

export interface TestApp {
  app: FastifyInstance
  config: Config
  provisioned: Provisioned
  close(): Promise<void>
}

interface Teardown {
  teardown(fn: () => unknown): void
}

/**
 * Builds the whole gateway on a fresh database of the given backend, ready (root admin made).
 * `env` overrides the environment as a user would set it. `share` reuses another app's
 * database and cache prefix — two instances of one deployment.
 */
export async function buildApp(
  t: Teardown,
  backend: Backend,
  opts: {
    env?: Record<string, string>
    clock?: Clock
    share?: TestApp
    logger?: boolean
    leases?: Partial<LeaseOptions> | false
    /** The production logger (its redaction included) at `trace`, writing every line here. */
    logStream?: { write(line: string): void }
  } = {},
): Promise<TestApp> {
  const provisioned = opts.share?.provisioned ?? (await backend.provision())
  const config = loadConfig({
    DATABASE_URL: provisioned.databaseUrl,
    REDIS_URL: provisioned.redisUrl,
    JWT_SECRET: 'test-jwt-secret-0123456789abcdef',
    ENCRYPTION_KEY: TEST_ENCRYPTION_KEY,
    ADMIN_USERNAME: ADMIN.username,
    ADMIN_PASSWORD: ADMIN.password,
    LOG_LEVEL: 'silent',
    // The suites count root's balance from 0; the ROOT_INITIAL_QUOTA tests set it themselves.
    ROOT_INITIAL_QUOTA: '0',
    ...opts.env,
  })
  // The suites make hundreds of throw-away accounts: argon2id at a test cost (the hash records it, so verifying is
  // unchanged). The security tests that look at the production cost build their config themselves.
  config.passwordHashCost = { memoryCost: 1024, timeCost: 1, parallelism: 1 }
  const logger = opts.logStream ? { ...loggerOptions(config), level: 'trace', stream: opts.logStream } : opts.logger ? { level: 'info' } : false
  const fastify = Fastify(serverOptions(config, logger))
  await fastify.register(app, { config, clock: opts.clock, cachePrefix: provisioned.cachePrefix, leases: opts.leases })
  await fastify.ready()
  let closed = false
  const close = async () => {
    if (closed) return
    closed = true
    await fastify.close()
    if (!opts.share) await provisioned.drop()
  }
  t.teardown(close)
  return { app: fastify, config, provisioned, close }
}

/** Logs in and returns the bearer token. */
export async function login(app: FastifyInstance, username = ADMIN.username, password = ADMIN.password): Promise<string> {
  const res = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { username, password } })
  if (res.statusCode !== 200) throw new Error(`login failed: ${res.statusCode} ${res.body}`)
  return (res.json() as { access_token: string }).access_token
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` })
