import { isIP } from 'node:net'
import type { FastifyBaseLogger } from 'fastify'
import type { Dispatcher } from 'undici'
import type { Cache } from '../cache/cache.js'
import type { Clock } from '../clock.js'
import { violatedUnique } from '../db/unique-violation.js'
import { ApiError, errors } from '../errors.js'
import { getAdapter, probeRequest } from '../relay/adapters/index.js'
import { INVALIDATE, type PersonalApiTarget } from '../relay/seams.js'
import { callUpstream } from '../relay/upstream-call.js'
import { addressNotAllowed, addressRefusal, isLocalhostName, literalRefused, plainHttpRefused } from '../security/address-guard.js'
import { cutText, redactKeys } from '../security/redact-keys.js'
import { maskSecret, type SecretBox } from '../security/secrets.js'
import { NAME_UNIQUE, type NewPersonalApi, type PersonalApiRow, type PersonalApisRepository } from './repository.js'
import { PERSONAL_API_TYPES, type PersonalApiType } from './schemas.js'
import { personalApiView, type PersonalApiView } from './view.js'

export interface PersonalApiInput {
  name: string
  baseUrl: string
  key: string
  model: string
  type?: PersonalApiType
}

export type PersonalApiChanges = Partial<PersonalApiInput>

export interface PersonalApiList {
  data: PersonalApiView[]
  total: number
  page: number
  page_size: number
}

export interface PersonalApiTestResult {
  ok: boolean
  status: number
  latency_ms: number
  message: string
}

export interface PersonalApisServiceDeps {
  repo: PersonalApisRepository
  box: SecretBox
  cache: Cache
  clock: Clock
  log: FastifyBaseLogger
  /** The address-checked dispatcher (src/infra/safe-upstream.ts). */
  dispatcher: Dispatcher
  /** PERSONAL_API_ALLOW_PRIVATE: plain http and private addresses allowed. */
  allowPrivate: boolean
}

const TEST_TIMEOUT_MS = 30_000
/** A one-token answer is tiny; anything past this is not read. */
const TEST_BODY_LIMIT = 64 * 1024
/** The test's message is for a person to read, and never a way to pull an upstream's page through the gateway. */
const MESSAGE_LIMIT = 300

const notFound = () => errors.notFound('personal API')

function checkName(name: string): string {
  const trimmed = name.trim()
  if (!trimmed) throw errors.invalidRequest('name must not be blank', 'name')
  return trimmed
}

function checkText(value: string, param: 'key' | 'model'): string {
  const trimmed = value.trim()
  if (!trimmed) throw errors.invalidRequest(`${param} must not be blank`, param)
  return trimmed
}

/**
 * What may be saved as a base URL (CONTRACT §7): https (http too with allow-private), no credentials, no query or
 * fragment, and — unless private addresses are allowed — no IP literal or `localhost` name that the connect-time
 * guard would refuse anyway: saying so now is kinder than a failing key later. Host names are not resolved here;
 * the dispatcher checks what they resolve to on every connection.
 */
export function checkBaseUrl(raw: string, allowPrivate: boolean): string {
  let url: URL
  try {
    url = new URL(raw.trim())
  } catch {
    throw errors.invalidRequest('base_url must be an https URL', 'base_url')
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw errors.invalidRequest('base_url must be an https URL', 'base_url')
  if (url.username || url.password) throw errors.invalidRequest('base_url must not carry credentials: put the key in `key`', 'base_url')
  if (url.search || url.hash) throw errors.invalidRequest('base_url must not carry a query or fragment', 'base_url')
  if (!allowPrivate) {
    // URL has already normalised the host: `http://2130706433`, `0x7f.1` and `[::ffff:127.0.0.1]` arrive as literals.
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1')
    const reason = isIP(host) ? addressRefusal(host) : null
    if (reason !== null) throw literalRefused(host, reason, 'base_url')
    if (isLocalhostName(host)) throw addressNotAllowed(`'${host}' names this machine: not allowed unless PERSONAL_API_ALLOW_PRIVATE=true`, 'base_url')
    if (url.protocol !== 'https:') throw plainHttpRefused('base_url')
  }
  return url.href.replace(/\/+$/, '')
}

function typeOf(row: PersonalApiRow): PersonalApiType {
  return (PERSONAL_API_TYPES as readonly string[]).includes(row.type) ? (row.type as PersonalApiType) : 'openai'
}

/** The upstream's own error message when it sent OpenAI's error shape, else its text; redacted and cut. */
function upstreamMessage(text: string, key: string, status: number): string {
  let message = text.trim()
  try {
    const parsed = JSON.parse(text) as { error?: { message?: unknown } | string; message?: unknown }
    if (typeof parsed.error === 'object' && typeof parsed.error?.message === 'string') message = parsed.error.message
    else if (typeof parsed.error === 'string') message = parsed.error
    else if (typeof parsed.message === 'string') message = parsed.message
  } catch {
    // not JSON: the text itself
  }
  return cutText(redactKeys(message, key), MESSAGE_LIMIT) || `upstream answered ${status}`
}

function errorCode(err: unknown): string {
  return typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : ''
}

export function createPersonalApisService(deps: PersonalApisServiceDeps) {
  const { repo, box, cache, clock, log } = deps

  async function mustFind(userId: number, id: number): Promise<PersonalApiRow> {
    const row = await repo.findOwned(userId, id)
    if (!row) throw notFound()
    return row
  }

  async function view(row: PersonalApiRow): Promise<PersonalApiView> {
    return personalApiView(row, await repo.firstId(row.userId))
  }

  /** Relay keys bound to it drop their cached copy (with the decrypted key) on every instance. */
  async function publish(id: number): Promise<void> {
    try {
      await cache.publish(INVALIDATE.personalApi, String(id))
    } catch (err) {
      // Other instances fall back on their cache TTL.
      log.error({ err, personal_api_id: id }, 'cannot publish personal API invalidation')
    }
  }

  async function unique<T>(write: () => Promise<T>): Promise<T> {
    try {
      return await write()
    } catch (err) {
      if (violatedUnique(err, NAME_UNIQUE)) throw errors.conflict('name_taken', 'you already have a personal API with this name', 'name')
      throw err
    }
  }

  function target(row: PersonalApiRow): PersonalApiTarget {
    return { id: row.id, type: typeOf(row), baseUrl: row.baseUrl, key: box.decrypt(row.keyEncrypted), model: row.model }
  }

  return {
    async create(userId: number, input: PersonalApiInput): Promise<PersonalApiView> {
      const key = checkText(input.key, 'key')
      const now = new Date(clock.now())
      const row: NewPersonalApi = {
        userId,
        name: checkName(input.name),
        type: input.type ?? 'openai',
        baseUrl: checkBaseUrl(input.baseUrl, deps.allowPrivate),
        keyEncrypted: box.encrypt(key),
        keyMask: maskSecret(key),
        model: checkText(input.model, 'model'),
        createdAt: now,
        updatedAt: now,
      }
      const id = await unique(() => repo.create(row))
      return view(await mustFind(userId, id))
    },

    async list(userId: number, query: { name?: string; page: number; pageSize: number }): Promise<PersonalApiList> {
      const { rows, total } = await repo.list(userId, { name: query.name }, query.page, query.pageSize)
      const firstId = await repo.firstId(userId)
      return { data: rows.map((r) => personalApiView(r, firstId)), total, page: query.page, page_size: query.pageSize }
    },

    async get(userId: number, id: number): Promise<PersonalApiView> {
      return view(await mustFind(userId, id))
    },

    async update(userId: number, id: number, input: PersonalApiChanges): Promise<PersonalApiView> {
      await mustFind(userId, id)
      const changes: Partial<NewPersonalApi> = { updatedAt: new Date(clock.now()) }
      if (input.name !== undefined) changes.name = checkName(input.name)
      if (input.baseUrl !== undefined) changes.baseUrl = checkBaseUrl(input.baseUrl, deps.allowPrivate)
      if (input.key !== undefined) {
        const key = checkText(input.key, 'key')
        changes.keyEncrypted = box.encrypt(key)
        changes.keyMask = maskSecret(key)
      }
      if (input.model !== undefined) changes.model = checkText(input.model, 'model')
      if (input.type !== undefined) changes.type = input.type
      await unique(() => repo.update(userId, id, changes))
      await publish(id)
      return view(await mustFind(userId, id))
    },

    async remove(userId: number, id: number): Promise<void> {
      if (!(await repo.remove(userId, id))) throw notFound()
      await publish(id)
    },

    /** 404 (naming `param`) unless the personal API exists and belongs to `userId`. */
    async assertOwned(userId: number, id: number, param = 'personal_api_id'): Promise<void> {
      if (!(await repo.findOwned(userId, id))) throw new ApiError(404, 'not_found', 'personal API not found', { param })
    },

    /** The decrypted target of one of the user's personal APIs, or null when it is not theirs or gone. */
    async resolveTarget(userId: number, id: number): Promise<PersonalApiTarget | null> {
      const row = await repo.findOwned(userId, id)
      return row ? target(row) : null
    },

    /** As `resolveTarget`, for callers that answer a missing one with 404 (the chat's `api_id`). */
    async targetFor(userId: number, id: number): Promise<PersonalApiTarget> {
      return target(await mustFind(userId, id))
    },

    /**
     * A one-token chat completion through the address-checked dispatcher (CONTRACT §7). An address refusal is
     * the caller's 400 `address_not_allowed`; any other failure is reported in the result, never thrown.
     */
    async test(userId: number, id: number, requestedModel?: string): Promise<PersonalApiTestResult> {
      const row = await mustFind(userId, id)
      const adapter = getAdapter(row.type)
      if (!adapter) return { ok: false, status: 502, latency_ms: 0, message: `personal API type '${row.type}' is not supported yet` }
      const key = box.decrypt(row.keyEncrypted)
      const model = requestedModel ?? row.model
      // The one-token ping in the API's own format, at its own URL (src/relay/adapters).
      const probe = probeRequest(adapter, row.baseUrl, key, model)
      const started = performance.now()
      const elapsed = () => Math.round(performance.now() - started)
      let status: number
      let text: string
      try {
        const response = await callUpstream(
          deps.dispatcher,
          {
            url: new URL(probe.url),
            method: 'POST',
            headers: probe.headers,
            body: Buffer.from(probe.body, 'utf8'),
            headersTimeoutMs: TEST_TIMEOUT_MS,
          },
          AbortSignal.timeout(TEST_TIMEOUT_MS),
        )
        status = response.status
        text = await response.read(TEST_BODY_LIMIT).then(
          (buf) => buf.toString('utf8'),
          () => '',
        )
      } catch (err) {
        if (err instanceof ApiError) throw err
        const code = errorCode(err)
        const timedOut = (err instanceof Error && err.name === 'TimeoutError') || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT'
        const reason = timedOut ? 'timed out' : err instanceof Error ? err.message : 'request failed'
        return { ok: false, status: timedOut ? 504 : 502, latency_ms: elapsed(), message: cutText(`upstream unreachable: ${redactKeys(reason, key)}`, MESSAGE_LIMIT) }
      }
      const latency = elapsed()
      if (status >= 300 && status < 400) {
        return { ok: false, status, latency_ms: latency, message: `upstream answered ${status} (a redirect); redirects are not followed` }
      }
      if (status < 200 || status >= 400) return { ok: false, status, latency_ms: latency, message: upstreamMessage(text, key, status) }
      return { ok: true, status, latency_ms: latency, message: cutText(`ok (model ${model})`, MESSAGE_LIMIT) }
    },
  }
}

export type PersonalApisService = ReturnType<typeof createPersonalApisService>
