import { sql } from 'drizzle-orm'
import { index, integer, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core'

/**
 * SQLite schema. `mysql.ts` has the same export names and column keys (checked by
 * test/db/schema-parity.test.ts); change both together and run `npm run db:generate`.
 * Times are stored as epoch milliseconds; quota values are 64-bit integers.
 */
const now = sql`(cast(unixepoch('subsecond') * 1000 as integer))`
const createdAt = () => integer('created_at', { mode: 'timestamp_ms' }).notNull().default(now)
const updatedAt = () => integer('updated_at', { mode: 'timestamp_ms' }).notNull().default(now)

export const users = sqliteTable(
  'users',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    username: text('username', { length: 50 }).notNull(),
    email: text('email', { length: 254 }),
    passwordHash: text('password_hash', { length: 255 }),
    role: text('role', { length: 16 }).notNull().default('user'),
    isRoot: integer('is_root', { mode: 'boolean' }).notNull().default(false),
    group: text('group_name', { length: 64 }).notNull().default('default'),
    status: text('status', { length: 16 }).notNull().default('enabled'),
    quota: integer('quota').notNull().default(0),
    usedQuota: integer('used_quota').notNull().default(0),
    requestCount: integer('request_count').notNull().default(0),
    passwordChangedAt: integer('password_changed_at', { mode: 'timestamp_ms' }),
    lastLoginAt: integer('last_login_at', { mode: 'timestamp_ms' }),
    deletedAt: integer('deleted_at', { mode: 'timestamp_ms' }),
    externalUserId: text('external_user_id', { length: 100 }),
    phone: text('phone', { length: 32 }),
    wechatOpenid: text('wechat_openid', { length: 100 }),
    wechatUnionid: text('wechat_unionid', { length: 100 }),
    alipayUserid: text('alipay_userid', { length: 100 }),
    loginType: text('login_type', { length: 16 }),
    isExternal: integer('is_external', { mode: 'boolean' }).notNull().default(false),
    externalData: text('external_data', { mode: 'json' }).$type<Record<string, unknown>>(),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    // Usernames and emails are unique case-insensitively (CONTRACT §5); lookups compare lower(…) too, to use these.
    uniqueIndex('users_username_uq').on(sql`lower(${t.username})`),
    uniqueIndex('users_email_uq').on(sql`lower(${t.email})`),
    uniqueIndex('users_external_user_id_uq').on(t.externalUserId),
  ],
)

export const tokens = sqliteTable(
  'tokens',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    userId: integer('user_id').notNull(),
    name: text('name', { length: 100 }).notNull(),
    keyHash: text('key_hash', { length: 64 }).notNull(),
    keyMask: text('key_mask', { length: 32 }).notNull(),
    status: text('status', { length: 16 }).notNull().default('enabled'),
    expiresAt: integer('expires_at', { mode: 'timestamp_ms' }),
    unlimitedQuota: integer('unlimited_quota', { mode: 'boolean' }).notNull().default(true),
    remainQuota: integer('remain_quota').notNull().default(0),
    usedQuota: integer('used_quota').notNull().default(0),
    requestCount: integer('request_count').notNull().default(0),
    models: text('models', { mode: 'json' }).$type<string[]>().notNull(),
    allowIps: text('allow_ips', { mode: 'json' }).$type<string[]>().notNull(),
    group: text('group_name', { length: 64 }),
    /** Requests per minute; null = no limit. */
    rateLimitRpm: integer('rate_limit_rpm'),
    /** Bound to a personal API (CONTRACT §7): its requests go there at cost 0. */
    personalApiId: integer('personal_api_id'),
    accessedAt: integer('accessed_at', { mode: 'timestamp_ms' }),
    deletedAt: integer('deleted_at', { mode: 'timestamp_ms' }),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [uniqueIndex('tokens_key_hash_uq').on(t.keyHash), index('tokens_user_id_idx').on(t.userId)],
)

export const channels = sqliteTable('channels', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  type: text('type', { length: 32 }).notNull().default('openai'),
  name: text('name', { length: 100 }).notNull(),
  baseUrl: text('base_url', { length: 512 }).notNull(),
  keyEncrypted: text('key_encrypted').notNull(),
  keyMask: text('key_mask', { length: 32 }).notNull(),
  models: text('models', { mode: 'json' }).$type<string[]>().notNull(),
  modelMapping: text('model_mapping', { mode: 'json' }).$type<Record<string, string>>().notNull(),
  groups: text('groups', { mode: 'json' }).$type<string[]>().notNull(),
  priority: integer('priority').notNull().default(0),
  weight: integer('weight').notNull().default(1),
  status: text('status', { length: 16 }).notNull().default('enabled'),
  statusReason: text('status_reason', { length: 512 }),
  responseTimeMs: integer('response_time_ms'),
  usedQuota: integer('used_quota').notNull().default(0),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
})

/** Prices in micro-USD (USD × 1e6) so money stays integral; model '*' is the default price. */
export const prices = sqliteTable('prices', {
  model: text('model', { length: 128 }).primaryKey(),
  inputMicrosPer1M: integer('input_micros_per_1m').notNull().default(0),
  outputMicrosPer1M: integer('output_micros_per_1m').notNull().default(0),
  perRequestMicros: integer('per_request_micros').notNull().default(0),
  /** Cached input and cache writes (CONTRACT §4); null = the input price. */
  cacheReadMicrosPer1M: integer('cache_read_micros_per_1m'),
  cacheWriteMicrosPer1M: integer('cache_write_micros_per_1m'),
  updatedAt: updatedAt(),
})

/** Group ratios in millionths (1.0 = 1000000). */
export const groupRatios = sqliteTable('group_ratios', {
  name: text('name', { length: 64 }).primaryKey(),
  ratioMicros: integer('ratio_micros').notNull(),
  updatedAt: updatedAt(),
})

/** The usage ledger: one row per relayed request, failed ones included (quota 0). */
export const usageLogs = sqliteTable(
  'usage_logs',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    createdAt: createdAt(),
    requestId: text('request_id', { length: 64 }).notNull(),
    userId: integer('user_id').notNull(),
    tokenId: integer('token_id').notNull(),
    channelId: integer('channel_id'),
    model: text('model', { length: 128 }).notNull(),
    upstreamModel: text('upstream_model', { length: 128 }),
    stream: integer('stream', { mode: 'boolean' }).notNull().default(false),
    promptTokens: integer('prompt_tokens').notNull().default(0),
    completionTokens: integer('completion_tokens').notNull().default(0),
    cachedTokens: integer('cached_tokens').notNull().default(0),
    cacheWriteTokens: integer('cache_write_tokens').notNull().default(0),
    reasoningTokens: integer('reasoning_tokens').notNull().default(0),
    /** `relay` (a /v1 request) or `chat` (a chat turn, token_id 0 = none). */
    source: text('source', { length: 16 }).notNull().default('relay'),
    quota: integer('quota').notNull().default(0),
    latencyMs: integer('latency_ms').notNull().default(0),
    firstByteMs: integer('first_byte_ms'),
    status: integer('status').notNull(),
    error: text('error', { length: 1024 }),
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
export const topups = sqliteTable(
  'topups',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    userId: integer('user_id').notNull(),
    kind: text('kind', { length: 16 }).notNull(),
    paymentId: text('payment_id', { length: 128 }),
    amountMicros: integer('amount_micros'),
    quota: integer('quota').notNull(),
    remark: text('remark', { length: 255 }),
    createdBy: integer('created_by'),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex('topups_payment_id_uq').on(t.paymentId), index('topups_user_idx').on(t.userId, t.createdAt)],
)

export const verificationCodes = sqliteTable(
  'verification_codes',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    userId: integer('user_id').notNull(),
    purpose: text('purpose', { length: 32 }).notNull(),
    codeHash: text('code_hash', { length: 128 }).notNull(),
    attempts: integer('attempts').notNull().default(0),
    expiresAt: integer('expires_at', { mode: 'timestamp_ms' }).notNull(),
    usedAt: integer('used_at', { mode: 'timestamp_ms' }),
    createdAt: createdAt(),
  },
  (t) => [index('verification_codes_user_purpose_idx').on(t.userId, t.purpose)],
)

/** A user's own upstream (CONTRACT §7). The key is AES-256-GCM encrypted like a channel's. */
export const personalApis = sqliteTable(
  'personal_apis',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    userId: integer('user_id').notNull(),
    name: text('name', { length: 100 }).notNull(),
    type: text('type', { length: 16 }).notNull().default('openai'),
    baseUrl: text('base_url', { length: 512 }).notNull(),
    keyEncrypted: text('key_encrypted').notNull(),
    keyMask: text('key_mask', { length: 32 }).notNull(),
    model: text('model', { length: 128 }).notNull(),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [uniqueIndex('personal_apis_user_name_uq').on(t.userId, t.name)],
)

/** Chat conversations (CONTRACT §8). */
export const conversations = sqliteTable(
  'conversations',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    userId: integer('user_id').notNull(),
    title: text('title', { length: 200 }).notNull(),
    /** Still "New chat": the first message names it. */
    titlePending: integer('title_pending', { mode: 'boolean' }).notNull().default(true),
    model: text('model', { length: 128 }),
    apiId: integer('api_id'),
    systemPrompt: text('system_prompt'),
    messageCount: integer('message_count').notNull().default(0),
    tokenUsed: integer('token_used').notNull().default(0),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [index('conversations_user_updated_idx').on(t.userId, t.updatedAt)],
)

export const messages = sqliteTable(
  'messages',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    conversationId: integer('conversation_id').notNull(),
    userId: integer('user_id').notNull(),
    role: text('role', { length: 16 }).notNull(),
    content: text('content').notNull(),
    model: text('model', { length: 128 }),
    promptTokens: integer('prompt_tokens').notNull().default(0),
    completionTokens: integer('completion_tokens').notNull().default(0),
    status: text('status', { length: 16 }).notNull().default('complete'),
    /** The turn that asked for a clean context: earlier messages are not sent again. */
    clearContext: integer('clear_context', { mode: 'boolean' }).notNull().default(false),
    error: text('error', { length: 1024 }),
    createdAt: createdAt(),
  },
  (t) => [index('messages_conversation_idx').on(t.conversationId, t.id)],
)

/** Recharge codes (CONTRACT §8): stored as SHA-256 hashes, shown whole once. */
export const redemptionCodes = sqliteTable(
  'redemption_codes',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    name: text('name', { length: 100 }).notNull(),
    codeHash: text('code_hash', { length: 64 }).notNull(),
    codeMask: text('code_mask', { length: 32 }).notNull(),
    amountMicros: integer('amount_micros').notNull(),
    quota: integer('quota').notNull(),
    status: text('status', { length: 16 }).notNull().default('unused'),
    createdBy: integer('created_by').notNull(),
    redeemedBy: integer('redeemed_by'),
    redeemedAt: integer('redeemed_at', { mode: 'timestamp_ms' }),
    expiresAt: integer('expires_at', { mode: 'timestamp_ms' }),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex('redemption_codes_hash_uq').on(t.codeHash)],
)

/**
 * Credit leases (README "Billing without a round trip"): quota an instance took from a user's balance
 * (`kind` user) or a limited token's (`kind` token) to reserve against in memory. Shown as held in the ledger;
 * returned on idle, on shutdown, and by the reconciliation after a crash (stale `heartbeat_at`).
 */
export const quotaLeases = sqliteTable(
  'quota_leases',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    instanceId: text('instance_id', { length: 64 }).notNull(),
    kind: text('kind', { length: 8 }).notNull(),
    subjectId: integer('subject_id').notNull(),
    amount: integer('amount').notNull().default(0),
    heartbeatAt: integer('heartbeat_at', { mode: 'timestamp_ms' }).notNull(),
  },
  (t) => [uniqueIndex('quota_leases_owner_uq').on(t.instanceId, t.kind, t.subjectId), index('quota_leases_subject_idx').on(t.kind, t.subjectId)],
)
