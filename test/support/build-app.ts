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
    /** Runs on the bare Fastify instance before the app is registered (e.g. an onRoute hook that lists routes). */
    beforeApp?: (fastify: FastifyInstance) => void
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
  // Every app the suites build logs through the production logger (its redaction included) at info, into the
  // secret scan below, unless a test captures the lines itself or wants them on stdout.
  const scan = secretScan()
  const logger = opts.logStream
    ? { ...loggerOptions(config), level: 'trace', stream: opts.logStream }
    : opts.logger
      ? { level: 'info' }
      : { ...loggerOptions(config), level: 'info', stream: scan.stream }
  const fastify = Fastify(serverOptions(config, logger))
  // …and every error body it answers (a body that issues a secret — a new key, a login — is never an error).
  fastify.addHook('onSend', async (request, reply, payload) => {
    if (reply.statusCode >= 400 && (typeof payload === 'string' || Buffer.isBuffer(payload))) {
      scan.check(`error body of ${request.method} ${request.url.split('?')[0]} (${reply.statusCode})`, String(payload))
    }
    return payload
  })
  t.teardown(() => scan.assertClean())
  opts.beforeApp?.(fastify)
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

/**
 * Issue 13, item 5: secrets never leak. Whatever the test, no log line and no error body of an app built here may
 * hold a relay key, a JWT, a key in a URL, an unredacted Authorization header or password field, or the suite's own
 * secrets (JWT secret, encryption key, admin password). test/security/no-leaks.test.ts adds the channel, personal
 * API and signing secrets of a scenario built for it, which have no recognisable shape of their own.
 */
const SECRET_SHAPES: ReadonlyArray<readonly [string, RegExp]> = [
  ['a relay key', /\bsk-[A-Za-z0-9]{48}\b/],
  ['a JWT', /eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{20,}/],
  ['a key in a URL', /[?&](key|api_key|apikey|token|access_token)=(?!\[redacted\])[^&\s"]{6,}/i],
  ['an Authorization value', /"(authorization|x-api-key)":\s*"(?!\[redacted\])/i],
  ['a password field', /"(password|new_password|old_password)":\s*"(?!\[redacted\])/],
  ['the JWT secret', /test-jwt-secret-0123456789abcdef/],
  ['the encryption key', new RegExp(TEST_ENCRYPTION_KEY.replace(/[+/=]/g, (c) => `\\${c}`))],
  ['the admin password', new RegExp(ADMIN.password)],
]

export function secretScan() {
  const found: string[] = []
  const check = (where: string, text: string): void => {
    for (const [what, shape] of SECRET_SHAPES) {
      const hit = shape.exec(text)
      // The report shows where and what, never the secret itself.
      if (hit) found.push(`${what} in ${where} at offset ${hit.index}`)
    }
  }
  return {
    check,
    stream: { write: (line: string) => check('a log line', line) },
    assertClean(): void {
      if (found.length > 0) throw new Error(`secrets leaked: ${[...new Set(found)].slice(0, 10).join('; ')}`)
    },
  }
}

/** Logs in and returns the bearer token. */
export async function login(app: FastifyInstance, username = ADMIN.username, password = ADMIN.password): Promise<string> {
  const res = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { username, password } })
  if (res.statusCode !== 200) throw new Error(`login failed: ${res.statusCode} ${res.body}`)
  return (res.json() as { access_token: string }).access_token
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` })
