import { sql } from 'drizzle-orm'
import { bigint, boolean, customType, datetime, index, int, json, mediumtext, mysqlTable, varchar, uniqueIndex, text } from 'drizzle-orm/mysql-core'

/**
 * MySQL schema. `sqlite.ts` has the same export names and column keys (checked by
 * test/db/schema-parity.test.ts); change both together and run `npm run db:generate`.
 * Times are DATETIME(3) in UTC; quota values are BIGINT.
 */
const now = sql`CURRENT_TIMESTAMP(3)`
const time = (name: string) => datetime(name, { mode: 'date', fsp: 3 })
/**
 * Partner-supplied ids (payment ids, external user ids) compare byte for byte, as they do on SQLite:
 * under MySQL's default case-insensitive collation `PAY_1` and `pay_1` would be one payment.
 */
const exactId = customType<{ data: string; config: { length: number } }>({
  dataType: (config) => `varchar(${config?.length ?? 128}) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`,
})
/**
 * Usernames and emails compare case-insensitively (CONTRACT §5: `Root` cannot sign up next to `root`), whatever
 * the database's default collation: pinned here, so the unique indexes and lookups ignore case on every server.
 */
const caseInsensitiveText = customType<{ data: string; config: { length: number } }>({
  dataType: (config) => `varchar(${config?.length ?? 255}) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`,
})
const createdAt = () => time('created_at').notNull().default(now)
const updatedAt = () => time('updated_at').notNull().default(now)

export const users = mysqlTable(
  'users',
  {
    id: int('id').primaryKey().autoincrement(),
    username: caseInsensitiveText('username', { length: 50 }).notNull(),
    email: caseInsensitiveText('email', { length: 254 }),
    passwordHash: varchar('password_hash', { length: 255 }),
    role: varchar('role', { length: 16 }).notNull().default('user'),
    isRoot: boolean('is_root').notNull().default(false),
    group: varchar('group_name', { length: 64 }).notNull().default('default'),
    status: varchar('status', { length: 16 }).notNull().default('enabled'),
    quota: bigint('quota', { mode: 'number' }).notNull().default(0),
    usedQuota: bigint('used_quota', { mode: 'number' }).notNull().default(0),
    requestCount: bigint('request_count', { mode: 'number' }).notNull().default(0),
    passwordChangedAt: time('password_changed_at'),
    lastLoginAt: time('last_login_at'),
    deletedAt: time('deleted_at'),
    externalUserId: exactId('external_user_id', { length: 100 }),
    phone: varchar('phone', { length: 32 }),
    wechatOpenid: varchar('wechat_openid', { length: 100 }),
    wechatUnionid: varchar('wechat_unionid', { length: 100 }),
    alipayUserid: varchar('alipay_userid', { length: 100 }),
    loginType: varchar('login_type', { length: 16 }),
    isExternal: boolean('is_external').notNull().default(false),
    externalData: json('external_data').$type<Record<string, unknown>>(),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex('users_username_uq').on(t.username),
    uniqueIndex('users_email_uq').on(t.email),
    uniqueIndex('users_external_user_id_uq').on(t.externalUserId),
  ],
)

export const tokens = mysqlTable(
  'tokens',
  {
    id: int('id').primaryKey().autoincrement(),
    userId: int('user_id').notNull(),
    name: varchar('name', { length: 100 }).notNull(),
    keyHash: varchar('key_hash', { length: 64 }).notNull(),
    keyMask: varchar('key_mask', { length: 32 }).notNull(),
    status: varchar('status', { length: 16 }).notNull().default('enabled'),
    expiresAt: time('expires_at'),
    unlimitedQuota: boolean('unlimited_quota').notNull().default(true),
    remainQuota: bigint('remain_quota', { mode: 'number' }).notNull().default(0),
    usedQuota: bigint('used_quota', { mode: 'number' }).notNull().default(0),
    requestCount: bigint('request_count', { mode: 'number' }).notNull().default(0),
    models: json('models').$type<string[]>().notNull(),
    allowIps: json('allow_ips').$type<string[]>().notNull(),
    group: varchar('group_name', { length: 64 }),
    /** Requests per minute; null = no limit. */
    rateLimitRpm: int('rate_limit_rpm'),
    /** Bound to a personal API (CONTRACT §7): its requests go there at cost 0. */
    personalApiId: int('personal_api_id'),
    accessedAt: time('accessed_at'),
    deletedAt: time('deleted_at'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [uniqueIndex('tokens_key_hash_uq').on(t.keyHash), index('tokens_user_id_idx').on(t.userId)],
)

export const channels = mysqlTable('channels', {
  id: int('id').primaryKey().autoincrement(),
  type: varchar('type', { length: 32 }).notNull().default('openai'),
  name: varchar('name', { length: 100 }).notNull(),
  baseUrl: varchar('base_url', { length: 512 }).notNull(),
  keyEncrypted: text('key_encrypted').notNull(),
  keyMask: varchar('key_mask', { length: 32 }).notNull(),
  models: json('models').$type<string[]>().notNull(),
  modelMapping: json('model_mapping').$type<Record<string, string>>().notNull(),
  groups: json('groups').$type<string[]>().notNull(),
  priority: int('priority').notNull().default(0),
  weight: int('weight').notNull().default(1),
  status: varchar('status', { length: 16 }).notNull().default('enabled'),
  statusReason: varchar('status_reason', { length: 512 }),
  responseTimeMs: int('response_time_ms'),
  usedQuota: bigint('used_quota', { mode: 'number' }).notNull().default(0),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
})

/** Prices in micro-USD (USD × 1e6) so money stays integral; model '*' is the default price. */
export const prices = mysqlTable('prices', {
  model: varchar('model', { length: 128 }).primaryKey(),
  inputMicrosPer1M: bigint('input_micros_per_1m', { mode: 'number' }).notNull().default(0),
  outputMicrosPer1M: bigint('output_micros_per_1m', { mode: 'number' }).notNull().default(0),
  perRequestMicros: bigint('per_request_micros', { mode: 'number' }).notNull().default(0),
  /** Cached input and cache writes (CONTRACT §4); null = the input price. */
  cacheReadMicrosPer1M: bigint('cache_read_micros_per_1m', { mode: 'number' }),
  cacheWriteMicrosPer1M: bigint('cache_write_micros_per_1m', { mode: 'number' }),
  updatedAt: updatedAt(),
})

/** Group ratios in millionths (1.0 = 1000000). */
export const groupRatios = mysqlTable('group_ratios', {
  name: varchar('name', { length: 64 }).primaryKey(),
  ratioMicros: bigint('ratio_micros', { mode: 'number' }).notNull(),
  updatedAt: updatedAt(),
})

/** The usage ledger: one row per relayed request, failed ones included (quota 0). */
export const usageLogs = mysqlTable(
  'usage_logs',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().autoincrement(),
    createdAt: createdAt(),
    requestId: varchar('request_id', { length: 64 }).notNull(),
    userId: int('user_id').notNull(),
    tokenId: int('token_id').notNull(),
    channelId: int('channel_id'),
    model: varchar('model', { length: 128 }).notNull(),
    upstreamModel: varchar('upstream_model', { length: 128 }),
    stream: boolean('stream').notNull().default(false),
    promptTokens: int('prompt_tokens').notNull().default(0),
    completionTokens: int('completion_tokens').notNull().default(0),
    cachedTokens: int('cached_tokens').notNull().default(0),
    cacheWriteTokens: int('cache_write_tokens').notNull().default(0),
    reasoningTokens: int('reasoning_tokens').notNull().default(0),
    /** `relay` (a /v1 request) or `chat` (a chat turn, token_id 0 = none). */
    source: varchar('source', { length: 16 }).notNull().default('relay'),
    quota: bigint('quota', { mode: 'number' }).notNull().default(0),
    latencyMs: int('latency_ms').notNull().default(0),
    firstByteMs: int('first_byte_ms'),
    status: int('status').notNull(),
    error: varchar('error', { length: 1024 }),
  },
  (t) => [
    index('usage_logs_user_created_idx').on(t.userId, t.createdAt),
    index('usage_logs_created_idx').on(t.createdAt),
    index('usage_logs_token_idx').on(t.tokenId),
    index('usage_logs_channel_idx').on(t.channelId),
    index('usage_logs_request_idx').on(t.requestId),
  ],
)

/**
 * Every credit to a user's quota: partner top-ups (`topup`, with a unique payment id), admin
 * adjustments (`adjustment`, may be negative) and sign-up grants (`grant`).
 */
export const topups = mysqlTable(
  'topups',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().autoincrement(),
    userId: int('user_id').notNull(),
    kind: varchar('kind', { length: 16 }).notNull(),
    paymentId: exactId('payment_id', { length: 128 }),
    amountMicros: bigint('amount_micros', { mode: 'number' }),
    quota: bigint('quota', { mode: 'number' }).notNull(),
    remark: varchar('remark', { length: 255 }),
    createdBy: int('created_by'),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex('topups_payment_id_uq').on(t.paymentId), index('topups_user_idx').on(t.userId, t.createdAt)],
)

export const verificationCodes = mysqlTable(
  'verification_codes',
  {
    id: int('id').primaryKey().autoincrement(),
    userId: int('user_id').notNull(),
    purpose: varchar('purpose', { length: 32 }).notNull(),
    codeHash: varchar('code_hash', { length: 128 }).notNull(),
    attempts: int('attempts').notNull().default(0),
    expiresAt: time('expires_at').notNull(),
    usedAt: time('used_at'),
    createdAt: createdAt(),
  },
  (t) => [index('verification_codes_user_purpose_idx').on(t.userId, t.purpose)],
)

/** A user's own upstream (CONTRACT §7). The key is AES-256-GCM encrypted like a channel's. */
export const personalApis = mysqlTable(
  'personal_apis',
  {
    id: int('id').primaryKey().autoincrement(),
    userId: int('user_id').notNull(),
    name: exactId('name', { length: 100 }).notNull(),
    type: varchar('type', { length: 16 }).notNull().default('openai'),
    baseUrl: varchar('base_url', { length: 512 }).notNull(),
    keyEncrypted: text('key_encrypted').notNull(),
    keyMask: varchar('key_mask', { length: 32 }).notNull(),
    model: varchar('model', { length: 128 }).notNull(),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [uniqueIndex('personal_apis_user_name_uq').on(t.userId, t.name)],
)

/** Chat conversations (CONTRACT §8). */
export const conversations = mysqlTable(
  'conversations',
  {
    id: int('id').primaryKey().autoincrement(),
    userId: int('user_id').notNull(),
    title: varchar('title', { length: 200 }).notNull(),
    /** Still "New chat": the first message names it. */
    titlePending: boolean('title_pending').notNull().default(true),
    model: varchar('model', { length: 128 }),
    apiId: int('api_id'),
    systemPrompt: mediumtext('system_prompt'),
    messageCount: int('message_count').notNull().default(0),
    tokenUsed: bigint('token_used', { mode: 'number' }).notNull().default(0),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [index('conversations_user_updated_idx').on(t.userId, t.updatedAt)],
)

export const messages = mysqlTable(
  'messages',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().autoincrement(),
    conversationId: int('conversation_id').notNull(),
    userId: int('user_id').notNull(),
    role: varchar('role', { length: 16 }).notNull(),
    content: mediumtext('content').notNull(),
    model: varchar('model', { length: 128 }),
    promptTokens: int('prompt_tokens').notNull().default(0),
    completionTokens: int('completion_tokens').notNull().default(0),
    status: varchar('status', { length: 16 }).notNull().default('complete'),
    /** The turn that asked for a clean context: earlier messages are not sent again. */
    clearContext: boolean('clear_context').notNull().default(false),
    error: varchar('error', { length: 1024 }),
    createdAt: createdAt(),
  },
  (t) => [index('messages_conversation_idx').on(t.conversationId, t.id)],
)

/** Recharge codes (CONTRACT §8): stored as SHA-256 hashes, shown whole once. */
export const redemptionCodes = mysqlTable(
  'redemption_codes',
  {
    id: int('id').primaryKey().autoincrement(),
    name: varchar('name', { length: 100 }).notNull(),
    codeHash: varchar('code_hash', { length: 64 }).notNull(),
    codeMask: varchar('code_mask', { length: 32 }).notNull(),
    amountMicros: bigint('amount_micros', { mode: 'number' }).notNull(),
    quota: bigint('quota', { mode: 'number' }).notNull(),
    status: varchar('status', { length: 16 }).notNull().default('unused'),
    createdBy: int('created_by').notNull(),
    redeemedBy: int('redeemed_by'),
    redeemedAt: time('redeemed_at'),
    expiresAt: time('expires_at'),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex('redemption_codes_hash_uq').on(t.codeHash)],
)

/**
 * Credit leases (README "Billing without a round trip"): quota an instance took from a user's balance
 * (`kind` user) or a limited token's (`kind` token) to reserve against in memory. Shown as held in the ledger;
 * returned on idle, on shutdown, and by the reconciliation after a crash (stale `heartbeat_at`).
 */
export const quotaLeases = mysqlTable(
  'quota_leases',
  {
    id: int('id').primaryKey().autoincrement(),
    instanceId: varchar('instance_id', { length: 64 }).notNull(),
    kind: varchar('kind', { length: 8 }).notNull(),
    subjectId: int('subject_id').notNull(),
    amount: bigint('amount', { mode: 'number' }).notNull().default(0),
    heartbeatAt: time('heartbeat_at').notNull(),
  },
  (t) => [uniqueIndex('quota_leases_owner_uq').on(t.instanceId, t.kind, t.subjectId), index('quota_leases_subject_idx').on(t.kind, t.subjectId)],
)
