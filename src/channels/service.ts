import { request } from 'undici'
import type { Dispatcher } from 'undici'
import type { Clock } from '../clock.js'
import { errors } from '../errors.js'
import { getAdapter, probeRequest, type ChannelAdapter } from '../relay/adapters/index.js'
import { upstreamModelOf } from '../relay/model-mapping.js'
import { redactKeys } from '../security/redact-keys.js'
import { maskSecret, type SecretBox } from '../security/secrets.js'
import type { MemoryChannelPool } from './pool.js'
import type { ChannelRow, ChannelsRepository, NewChannel } from './repository.js'
import type { CreateChannelBody, UpdateChannelBody } from './schemas.js'
import { channelView, type ChannelView } from './view.js'

export interface ChannelList {
  data: ChannelView[]
  total: number
  page: number
  page_size: number
}

export interface ChannelTestResult {
  ok: boolean
  status: number
  latency_ms: number
  message: string
}

export interface ChannelsServiceDeps {
  repo: ChannelsRepository
  pool: MemoryChannelPool
  box: SecretBox
  clock: Clock
  upstream: Dispatcher
}

const DEFAULT_TEST_MODEL = 'gpt-4o-mini'
const TEST_TIMEOUT_MS = 30_000
const MESSAGE_LIMIT = 500

function adapterFor(type: string): ChannelAdapter {
  const adapter = getAdapter(type)
  if (!adapter) throw errors.invalidRequest(`unknown channel type '${type}'`, 'type')
  return adapter
}

/** The schema already insists on http(s); this also rejects what only looks like a URL. */
function checkBaseUrl(baseUrl: string): string {
  let url: URL
  try {
    url = new URL(baseUrl)
  } catch {
    throw errors.invalidRequest('base_url must be an http(s) URL', 'base_url')
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw errors.invalidRequest('base_url must be an http(s) URL', 'base_url')
  }
  // Azure takes its API version from the base URL (src/relay/adapters/azure); no other query may ride along.
  if (url.hash || (url.search && !/^\?api-version=[A-Za-z0-9._-]{1,40}$/.test(url.search))) {
    throw errors.invalidRequest('base_url must not carry a fragment or a query other than ?api-version=', 'base_url')
  }
  return baseUrl.replace(/\/+$/, '')
}

function checkModelMapping(mapping: Record<string, string>): Record<string, string> {
  for (const [from, to] of Object.entries(mapping)) {
    if (typeof to !== 'string' || to.length === 0) {
      throw errors.invalidRequest(`model_mapping.${from} must be a model name`, 'model_mapping')
    }
  }
  return mapping
}

/** The upstream's own error message when it sent OpenAI's error shape, else a trimmed body. */
function upstreamMessage(text: string, key: string): string {
  try {
    const parsed = JSON.parse(text) as { error?: { message?: unknown } }
    // Upstreams quote the key they refused ("Incorrect API key provided: sk-…"): never passed on.
    if (typeof parsed.error?.message === 'string') return redactKeys(parsed.error.message, key).slice(0, MESSAGE_LIMIT)
  } catch {
    // not JSON: fall through
  }
  return redactKeys(text.slice(0, MESSAGE_LIMIT), key) || 'upstream answered with an error'
}

export function createChannelsService(deps: ChannelsServiceDeps) {
  const { repo, pool, box, clock } = deps

  /** The admin's view, with the circuit state as this instance knows it. */
  const view = (row: ChannelRow): ChannelView => channelView(row, pool.circuitState(row.id))

  async function mustFind(id: number): Promise<ChannelRow> {
    const row = await repo.findById(id)
    if (!row) throw errors.notFound('channel')
    return row
  }

  return {
    async create(input: CreateChannelBody): Promise<ChannelView> {
      const type = input.type ?? 'openai'
      const adapter = adapterFor(type)
      if (!input.name.trim()) throw errors.invalidRequest('name must not be blank', 'name')
      if (!input.key.trim()) throw errors.invalidRequest('key must not be blank', 'key')
      const now = new Date(clock.now())
      const id = await repo.create({
        type,
        name: input.name,
        baseUrl: checkBaseUrl(input.base_url ?? adapter.defaultBaseUrl),
        keyEncrypted: box.encrypt(input.key),
        keyMask: maskSecret(input.key),
        models: input.models ?? [],
        modelMapping: checkModelMapping(input.model_mapping ?? {}),
        groups: input.groups ?? ['default'],
        priority: input.priority ?? 0,
        weight: input.weight ?? 1,
        status: 'enabled',
        createdAt: now,
        updatedAt: now,
      })
      await pool.changed(id)
      return view(await mustFind(id))
    },

    async list(page: number, pageSize: number): Promise<ChannelList> {
      const { rows, total } = await repo.list(page, pageSize)
      return { data: rows.map(view), total, page, page_size: pageSize }
    },

    async get(id: number): Promise<ChannelView> {
      return view(await mustFind(id))
    },

    async update(id: number, input: UpdateChannelBody): Promise<ChannelView> {
      await mustFind(id)
      const changes: Partial<NewChannel> = { updatedAt: new Date(clock.now()) }
      if (input.type !== undefined) {
        adapterFor(input.type)
        changes.type = input.type
      }
      if (input.name !== undefined) {
        if (!input.name.trim()) throw errors.invalidRequest('name must not be blank', 'name')
        changes.name = input.name
      }
      if (input.key !== undefined) {
        if (!input.key.trim()) throw errors.invalidRequest('key must not be blank', 'key')
        changes.keyEncrypted = box.encrypt(input.key)
        changes.keyMask = maskSecret(input.key)
      }
      if (input.base_url !== undefined) changes.baseUrl = checkBaseUrl(input.base_url)
      if (input.models !== undefined) changes.models = input.models
      if (input.model_mapping !== undefined) changes.modelMapping = checkModelMapping(input.model_mapping)
      if (input.groups !== undefined) changes.groups = input.groups
      if (input.priority !== undefined) changes.priority = input.priority
      if (input.weight !== undefined) changes.weight = input.weight
      if (input.status !== undefined) {
        changes.status = input.status
        changes.statusReason = null
      }
      await repo.update(id, changes)
      await pool.changed(id)
      return view(await mustFind(id))
    },

    async remove(id: number): Promise<void> {
      if (!(await repo.remove(id))) throw errors.notFound('channel')
      await pool.changed(id)
    },

    /**
     * A one-token chat completion through the shared Agent. A pass re-enables an auto-disabled channel;
     * a failure only reports (an admin's manual test must not disable a channel the relay still trusts).
     */
    async test(id: number, requestedModel: string | undefined, signal?: AbortSignal): Promise<ChannelTestResult> {
      const row = await mustFind(id)
      const adapter = adapterFor(row.type)
      const model = requestedModel ?? row.models[0] ?? DEFAULT_TEST_MODEL
      const upstreamModel = upstreamModelOf(row.modelMapping, model)
      const key = box.decrypt(row.keyEncrypted)
      const started = performance.now()
      let status: number
      let text: string
      try {
        // The one-token ping in the channel's own format, at its own URL (src/relay/adapters).
        const probe = probeRequest(adapter, row.baseUrl, key, upstreamModel)
        const res = await request(probe.url, {
          dispatcher: deps.upstream,
          method: 'POST',
          headers: probe.headers,
          body: probe.body,
          signal: signal ? AbortSignal.any([signal, AbortSignal.timeout(TEST_TIMEOUT_MS)]) : AbortSignal.timeout(TEST_TIMEOUT_MS),
        })
        status = res.statusCode
        text = await res.body.text()
      } catch (err) {
        const latency = Math.round(performance.now() - started)
        const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'HeadersTimeoutError')
        const reason = redactKeys(err instanceof Error ? err.message : 'request failed')
        return { ok: false, status: timedOut ? 504 : 502, latency_ms: latency, message: `upstream unreachable: ${reason}`.slice(0, MESSAGE_LIMIT) }
      }
      const latency = Math.round(performance.now() - started)
      const ok = status >= 200 && status < 300
      if (!ok) return { ok, status, latency_ms: latency, message: upstreamMessage(text, key) }

      // A passing test is as good as a probe: an open circuit closes.
      pool.recordOutcome(id, 'success')
      const changes: Partial<NewChannel> = { responseTimeMs: latency }
      const reEnable = row.status === 'auto_disabled'
      if (reEnable) {
        changes.status = 'enabled'
        changes.statusReason = null
        changes.updatedAt = new Date(clock.now())
      }
      await repo.update(id, changes)
      if (reEnable) await pool.changed(id)
      return { ok, status, latency_ms: latency, message: reEnable ? `ok (model ${upstreamModel}); channel re-enabled` : `ok (model ${upstreamModel})` }
    },
  }
}

export type ChannelsService = ReturnType<typeof createChannelsService>
