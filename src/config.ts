import { Type, type Static } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import type { PasswordHashCost } from './auth/passwords.js'

/**
 * Environment → typed config, validated once (CONTRACT §1). Every variable is a string in the
 * environment; the schema converts and bounds it, and the first problem found stops start-up
 * with one line naming the variable.
 */
const Env = Type.Object({
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000 }),
  HOST: Type.String({ minLength: 1, default: '0.0.0.0' }),
  NODE_ENV: Type.String({ default: 'development' }),
  DATABASE_URL: Type.String({ pattern: '^(sqlite:.+|mysql://.+)$', default: 'sqlite:./data/nexus.db' }),
  REDIS_URL: Type.Optional(Type.String({ pattern: '^rediss?://.+' })),
  JWT_SECRET: Type.Optional(Type.String({ minLength: 16 })),
  ENCRYPTION_KEY: Type.Optional(Type.String({ minLength: 1 })),
  ADMIN_USERNAME: Type.String({ pattern: '^[A-Za-z0-9_.-]{3,50}$', default: 'root' }),
  ADMIN_PASSWORD: Type.Optional(Type.String({ minLength: 8, maxLength: 128 })),
  EXTERNAL_API_SECRET: Type.Optional(Type.String({ minLength: 1 })),
  EXTERNAL_MAX_SKEW_S: Type.Integer({ minimum: 1, default: 300 }),
  // At most 1e9 quota per USD (a quota unit of a billionth of a dollar, finer than any price), so that balances up
  // to 2^53−1 quota still hold millions of USD; a larger setting would leave little room before the exact range ends.
  QUOTA_PER_USD: Type.Integer({ minimum: 1, maximum: 1_000_000_000, default: 500000 }),
  NEW_USER_QUOTA: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, default: 0 }),
  RELAY_RETRIES: Type.Integer({ minimum: 0, maximum: 10, default: 2 }),
  UPSTREAM_FIRST_BYTE_TIMEOUT_MS: Type.Integer({ minimum: 1, default: 120000 }),
  BODY_LIMIT_BYTES: Type.Integer({ minimum: 1, default: 20971520 }),
  REGISTRATION_ENABLED: Type.Boolean({ default: true }),
  DEFAULT_COMPLETION_RESERVE: Type.Integer({ minimum: 1, maximum: 10_000_000, default: 4096 }),
  METRICS_TOKEN: Type.Optional(Type.String({ minLength: 1 })),
  REQUEST_TIMEOUT_MS: Type.Integer({ minimum: 1, default: 60000 }),
  HEADERS_TIMEOUT_MS: Type.Integer({ minimum: 1, default: 15000 }),
  UPSTREAM_MAX_CONNECTIONS: Type.Optional(Type.Integer({ minimum: 1 })),
  UPSTREAM_IDLE_TIMEOUT_MS: Type.Integer({ minimum: 1, default: 300000 }),
  LOG_RETENTION_DAYS: Type.Optional(Type.Integer({ minimum: 1, maximum: 36500 })),
  PERSONAL_API_ALLOW_PRIVATE: Type.Boolean({ default: false }),
  CHAT_CONTEXT_TOKENS: Type.Integer({ minimum: 1, maximum: 10_000_000, default: 16000 }),
  CHAT_RATE_LIMIT_PER_MIN: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 60 }),
  CHANNEL_FAILURE_THRESHOLD: Type.Integer({ minimum: 1, maximum: 1000, default: 5 }),
  CHANNEL_FAILURE_WINDOW_S: Type.Integer({ minimum: 1, maximum: 86400, default: 60 }),
  CHANNEL_COOLDOWN_S: Type.Integer({ minimum: 1, maximum: 86400, default: 30 }),
  CHANNEL_PROBE_INTERVAL_S: Type.Integer({ minimum: 0, maximum: 86400, default: 300 }),
  CLIENT_SIGNING_SECRET: Type.Optional(Type.String({ minLength: 1 })),
  ROOT_INITIAL_QUOTA: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, default: 500_000_000 }),
  LOG_LEVEL: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
    { default: 'info' },
  ),
})
type Env = Static<typeof Env>

export interface Config {
  /**
   * Never read from the environment: production hashes passwords at argon2's defaults (OWASP). The tests' app
   * builder lowers it, since hundreds of throw-away accounts at 64 MiB × 3 passes cost minutes of CI.
   */
  passwordHashCost?: PasswordHashCost
  port: number
  host: string
  production: boolean
  databaseUrl: string
  redisUrl: string | undefined
  /** Folder for the SQLite file and the generated secrets. */
  dataDir: string
  jwtSecret: string | undefined
  encryptionKey: string | undefined
  adminUsername: string
  adminPassword: string | undefined
  externalApiSecret: string | undefined
  externalMaxSkewS: number
  quotaPerUsd: number
  newUserQuota: number
  relayRetries: number
  upstreamFirstByteTimeoutMs: number
  bodyLimitBytes: number
  registrationEnabled: boolean
  logLevel: string
  /** Completion tokens reserved for a request that names no `max_tokens` (CONTRACT §4). */
  defaultCompletionReserve: number
  /** When set, `/metrics` needs `Authorization: Bearer <metricsToken>`. */
  metricsToken: string | undefined
  /** A client must have sent its whole request within this (never applied to a streamed response). */
  requestTimeoutMs: number
  /** A client must have sent its request headers within this. */
  headersTimeoutMs: number
  /** Concurrent connections per upstream origin; undefined = no cap. */
  upstreamMaxConnections: number | undefined
  /** No bytes from a streaming upstream for this long → the stream is ended. */
  upstreamIdleTimeoutMs: number
  /** Usage-log rows older than this many days are deleted; undefined = kept. */
  logRetentionDays: number | undefined
  /** Personal APIs may reach private addresses and plain http (CONTRACT §7). */
  personalApiAllowPrivate: boolean
  chatContextTokens: number
  chatRateLimitPerMin: number
  channelFailureThreshold: number
  channelFailureWindowS: number
  channelCooldownS: number
  /** 0 = auto-disabled channels are never re-tested. */
  channelProbeIntervalS: number
  /** When set, session-authenticated /api calls and the chat WebSocket must be signed (CONTRACT §1). */
  clientSigningSecret: string | undefined
  /** The root admin's balance on the first start (a grant). */
  rootInitialQuota: number
}

export class ConfigError extends Error {}

/** Parses an environment (defaults to process.env). Throws ConfigError with a one-line reason. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const raw: Record<string, unknown> = {}
  for (const key of Object.keys(Env.properties)) {
    const value = env[key]
    // An empty variable means "unset", as shells and compose files commonly leave them.
    if (value !== undefined && value !== '') raw[key] = value
  }
  const converted = Value.Convert(Env, Value.Default(Env, raw))
  const firstError = Value.Errors(Env, converted).First()
  if (firstError) {
    const name = firstError.path.replace(/^\//, '') || 'environment'
    throw new ConfigError(`invalid ${name}: ${firstError.message} (got ${JSON.stringify(raw[name] ?? null)})`)
  }
  const e = converted as Env
  const production = e.NODE_ENV === 'production'
  if (production && !e.JWT_SECRET) throw new ConfigError('JWT_SECRET is required when NODE_ENV=production')
  if (production && !e.ENCRYPTION_KEY) throw new ConfigError('ENCRYPTION_KEY is required when NODE_ENV=production')
  if (e.ENCRYPTION_KEY && Buffer.from(e.ENCRYPTION_KEY, 'base64').length !== 32) {
    throw new ConfigError('invalid ENCRYPTION_KEY: must be 32 bytes, base64-encoded (openssl rand -base64 32)')
  }
  return {
    port: e.PORT,
    host: e.HOST,
    production,
    databaseUrl: e.DATABASE_URL,
    redisUrl: e.REDIS_URL,
    dataDir: dataDirOf(e.DATABASE_URL),
    jwtSecret: e.JWT_SECRET,
    encryptionKey: e.ENCRYPTION_KEY,
    adminUsername: e.ADMIN_USERNAME,
    adminPassword: e.ADMIN_PASSWORD,
    externalApiSecret: e.EXTERNAL_API_SECRET,
    externalMaxSkewS: e.EXTERNAL_MAX_SKEW_S,
    quotaPerUsd: e.QUOTA_PER_USD,
    newUserQuota: e.NEW_USER_QUOTA,
    relayRetries: e.RELAY_RETRIES,
    upstreamFirstByteTimeoutMs: e.UPSTREAM_FIRST_BYTE_TIMEOUT_MS,
    bodyLimitBytes: e.BODY_LIMIT_BYTES,
    registrationEnabled: e.REGISTRATION_ENABLED,
    logLevel: e.LOG_LEVEL,
    defaultCompletionReserve: e.DEFAULT_COMPLETION_RESERVE,
    metricsToken: e.METRICS_TOKEN,
    requestTimeoutMs: e.REQUEST_TIMEOUT_MS,
    headersTimeoutMs: e.HEADERS_TIMEOUT_MS,
    upstreamMaxConnections: e.UPSTREAM_MAX_CONNECTIONS,
    upstreamIdleTimeoutMs: e.UPSTREAM_IDLE_TIMEOUT_MS,
    logRetentionDays: e.LOG_RETENTION_DAYS,
    personalApiAllowPrivate: e.PERSONAL_API_ALLOW_PRIVATE,
    chatContextTokens: e.CHAT_CONTEXT_TOKENS,
    chatRateLimitPerMin: e.CHAT_RATE_LIMIT_PER_MIN,
    channelFailureThreshold: e.CHANNEL_FAILURE_THRESHOLD,
    channelFailureWindowS: e.CHANNEL_FAILURE_WINDOW_S,
    channelCooldownS: e.CHANNEL_COOLDOWN_S,
    channelProbeIntervalS: e.CHANNEL_PROBE_INTERVAL_S,
    clientSigningSecret: e.CLIENT_SIGNING_SECRET,
    rootInitialQuota: e.ROOT_INITIAL_QUOTA,
  }
}

/** The SQLite file's folder; with MySQL the generated secrets still live in ./data. */
function dataDirOf(databaseUrl: string): string {
  if (!databaseUrl.startsWith('sqlite:')) return './data'
  const file = databaseUrl.slice('sqlite:'.length)
  if (file === ':memory:') return './data'
  const slash = file.lastIndexOf('/')
  return slash > 0 ? file.slice(0, slash) : slash === 0 ? '/' : '.'
}
