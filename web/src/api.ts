// The typed client of the gateway's public API. Types are written by hand from the route schemas
// (src/*/schemas.ts); the routes themselves come from endpoints.ts, checked against /docs/json by a test.
import { CHAT_SOCKET_PATH, endpoints, type Endpoint, type EndpointName } from './endpoints'

// ---- shapes (CONTRACT §2, §5, §7, §8) ----

export interface Page<T> {
  data: T[]
  total: number
  page: number
  page_size: number
}

export interface User {
  id: number
  username: string
  email: string | null
  role: string
  group: string
  status: string
  quota: number
  used_quota: number
  request_count: number
  created_at: string
  last_login_at: string | null
}

export interface AdminUser extends User {
  is_root: boolean
  is_external: boolean
  external_user_id: string | null
  login_type: string | null
  updated_at: string
}

export interface LoginResult {
  access_token: string
  token_type: 'Bearer'
  expires_in: number
  user: User
}

export interface Token {
  id: number
  user_id: number
  name: string
  /** Masked, except in the creation response (shown once). */
  key: string
  status: string
  expired: boolean
  expires_at: string | null
  unlimited_quota: boolean
  remain_quota: number
  used_quota: number
  request_count: number
  models: string[]
  allow_ips: string[]
  group: string | null
  rate_limit_rpm: number | null
  personal_api_id: number | null
  created_at: string
  accessed_at: string | null
}

export interface TokenInput {
  name?: string
  expires_at?: string | null
  unlimited_quota?: boolean
  remain_quota?: number
  models?: string[]
  allow_ips?: string[]
  rate_limit_rpm?: number | null
  personal_api_id?: number | null
  status?: 'enabled' | 'disabled'
}

export interface UsageLog {
  id: number
  created_at: string
  request_id: string
  user_id: number
  token_id: number
  channel_id: number | null
  model: string
  upstream_model: string | null
  stream: boolean
  prompt_tokens: number
  completion_tokens: number
  quota: number
  latency_ms: number
  first_byte_ms: number | null
  status: number
  error: string | null
}

export interface ModelStat {
  model: string
  requests: number
  quota: number
  prompt_tokens: number
  completion_tokens: number
}

export interface DayStat {
  date: string
  requests: number
  prompt_tokens: number
  completion_tokens: number
  quota: number
}

export interface Stats {
  requests: number
  quota: number
  prompt_tokens: number
  completion_tokens: number
  by_model: ModelStat[]
  by_day: DayStat[]
}

export interface TestResult {
  ok: boolean
  status: number
  latency_ms: number
  message: string
}

export interface Channel {
  id: number
  type: string
  name: string
  base_url: string
  key: string
  models: string[]
  model_mapping: Record<string, string>
  groups: string[]
  priority: number
  weight: number
  status: string
  status_reason: string | null
  response_time_ms: number | null
  used_quota: number
  created_at: string
  updated_at: string
  /** Circuit-breaker state, when the gateway reports it (CONTRACT §6). */
  circuit?: string
}

export interface ChannelInput {
  type?: string
  name?: string
  key?: string
  base_url?: string
  models?: string[]
  model_mapping?: Record<string, string>
  groups?: string[]
  priority?: number
  weight?: number
  status?: 'enabled' | 'disabled'
}

export interface PersonalApi {
  id: number
  name: string
  base_url: string
  model: string
  type: string
  key: string
  default: boolean
  created_at: string
  updated_at: string
}

export interface PersonalApiInput {
  name?: string
  base_url?: string
  key?: string
  model?: string
  type?: string
}

export interface Price {
  model: string
  input_per_1m: number
  output_per_1m: number
  per_request: number
  cache_read_per_1m: number | null
  cache_write_per_1m: number | null
  source: 'admin' | 'catalogue'
  catalogue_model?: string
}

/** USD as decimal strings (exact), or null for "the input price" on the cache prices. */
export interface PriceInput {
  input_per_1m?: string
  output_per_1m?: string
  per_request?: string
  cache_read_per_1m?: string | null
  cache_write_per_1m?: string | null
}

export interface Conversation {
  id: number
  title: string
  model: string | null
  api_id: number | null
  system_prompt: string | null
  message_count: number
  token_used: number
  created_at: string
  updated_at: string
}

export interface Message {
  id: number
  role: string
  content: string
  model: string | null
  prompt_tokens: number
  completion_tokens: number
  status: string
  error?: string | null
  created_at: string
}

export interface ChatModel {
  id: string
  source: string
  api_id?: number
}

export interface RedemptionCode {
  id: number
  name: string
  code: string
  amount_usd: string
  quota: number
  status: 'unused' | 'used' | 'expired'
  created_by: number
  redeemed_by: number | null
  redeemed_by_username: string | null
  redeemed_at: string | null
  expires_at: string | null
  created_at: string
}

export interface CreatedCodes {
  codes: string[]
  name: string
  amount_usd: string
  quota: number
  expires_at: string | null
}

// ---- errors ----

/** An OpenAI-shaped error answer (CONTRACT §2); `message` is shown to the user as is. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string | null,
    message: string,
    readonly param: string | null = null,
  ) {
    super(message)
    this.name = 'ApiError'
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof ApiError) return err.message
  if (err instanceof Error) return err.message
  return String(err)
}

// ---- session: the JWT lives in memory and sessionStorage (this tab only), nowhere else ----

const SESSION_KEY = 'nexus.session'
let sessionToken: string | null = readStoredSession()
let onSessionLost: (reason: string) => void = () => {}

function readStoredSession(): string | null {
  try {
    return sessionStorage.getItem(SESSION_KEY)
  } catch {
    return null
  }
}

export const session = {
  get token(): string | null {
    return sessionToken
  },
  set(token: string): void {
    sessionToken = token
    try {
      sessionStorage.setItem(SESSION_KEY, token)
    } catch {
      // Private modes may refuse storage: the session then lasts as long as the page.
    }
  },
  clear(): void {
    sessionToken = null
    try {
      sessionStorage.removeItem(SESSION_KEY)
    } catch {
      // nothing stored
    }
  },
  /** Called when the gateway refuses the session (expired, revoked, password changed). */
  onLost(handler: (reason: string) => void): void {
    onSessionLost = handler
  },
}

// ---- transport ----

type Query = Record<string, string | number | boolean | undefined | null>

interface CallOptions {
  params?: Record<string, string | number>
  query?: Query
  body?: unknown
}

function pathOf(endpoint: Endpoint, params: Record<string, string | number> = {}): string {
  return endpoint.path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = params[name]
    if (value === undefined) throw new Error(`missing path parameter ${name} for ${endpoint.path}`)
    return encodeURIComponent(String(value))
  })
}

function queryString(query: Query = {}): string {
  const search = new URLSearchParams()
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') search.set(name, String(value))
  }
  const text = search.toString()
  return text ? `?${text}` : ''
}

async function errorFrom(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => '')
  try {
    const body = JSON.parse(text) as { error?: { message?: string; code?: string | null; param?: string | null } }
    if (body.error?.message) return new ApiError(res.status, body.error.code ?? null, body.error.message, body.error.param ?? null)
  } catch {
    // not JSON: a proxy's page or a plain-text answer
  }
  const fallback = text && text.length < 300 && !text.trimStart().startsWith('<') ? text.trim() : `${res.status} ${res.statusText}`
  return new ApiError(res.status, null, fallback)
}

export async function call<T>(name: EndpointName, opts: CallOptions = {}): Promise<T> {
  const endpoint = endpoints[name]
  const headers: Record<string, string> = { accept: 'application/json' }
  if (sessionToken) headers.authorization = `Bearer ${sessionToken}`
  if (opts.body !== undefined) headers['content-type'] = 'application/json'
  let res: Response
  try {
    res = await fetch(pathOf(endpoint, opts.params) + queryString(opts.query), {
      method: endpoint.method,
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      credentials: 'omit',
    })
  } catch {
    throw new ApiError(0, 'network_error', 'The gateway could not be reached. Check your connection and try again.')
  }
  if (!res.ok) {
    const error = await errorFrom(res)
    // A refused session ends it here. Other 401s (a wrong password at sign-in or in the password form) are just
    // errors for their form.
    if (res.status === 401 && (error.code === 'invalid_session' || error.code === 'unauthorized') && sessionToken) {
      session.clear()
      onSessionLost(error.message)
    }
    throw error
  }
  if (res.status === 204) return undefined as T
  return (await res.json()) as T
}

/** The chat WebSocket's URL: same host, ws(s) by the page's scheme, the session in `?token=` (browsers cannot set headers). */
export function chatSocketUrl(): string {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:'
  return `${scheme}//${location.host}${CHAT_SOCKET_PATH}?token=${encodeURIComponent(sessionToken ?? '')}`
}

/** Ends a session server-side (CONTRACT §5 logout); best effort, the page has already forgotten the token. */
export async function revokeSession(token: string): Promise<void> {
  try {
    await fetch(endpoints.logout.path, { method: endpoints.logout.method, headers: { authorization: `Bearer ${token}` }, credentials: 'omit' })
  } catch {
    // offline: the token expires on its own
  }
}
