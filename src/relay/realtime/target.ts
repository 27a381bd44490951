// Where one realtime session goes (CONTRACT §3 `GET /v1/realtime`): the channel, chosen like the HTTP relay's
// (the token's group, the model, priority then weight), the upstream model after the channel's mapping, the
// upstream WebSocket URL, and the headers that carry the channel's key. Decided while the upgrade is still an HTTP
// request, so every refusal is an HTTP answer in OpenAI's error shape before any handshake.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { ApiError, errors } from '../../errors.js'
import { modelPriceUnset } from '../../pricing/service.js'
import { getAdapter, type ChannelAdapter } from '../adapters/index.js'
import { pickChannel } from '../channel-picker.js'
import { noChannel } from '../failover.js'
import { upstreamModelOf } from '../model-mapping.js'
import { assertModelName } from '../request.js'
import type { RelayChannel, RelayPrincipal } from '../seams.js'

/** The browser form of the key: a subprotocol, since browsers cannot set headers on a WebSocket. */
export const KEY_PROTOCOL_PREFIX = 'openai-insecure-api-key.'
/** The browser form of `OpenAI-Beta: realtime=v1`. */
const BETA_PROTOCOL = 'openai-beta.realtime-v1'
/** The path the upstream serves realtime at, under its `/v1` (OpenAI) or `/openai/v1` (Azure's v1 API). */
const UPSTREAM_PATH = '/v1/realtime'

export interface RealtimeTarget {
  principal: RelayPrincipal
  /** The client's model (what is priced and logged). */
  model: string
  channel: RelayChannel
  upstreamModel: string
  /** The upstream's directory URL (http/https, ending in `/`); the proxy resolves `realtime` against it. */
  upstreamDir: string
  /** The upstream's query: the mapped model, and any query of the channel's base URL (Azure's api-version). */
  upstreamQuery: string
  /** The channel's key in the adapter's header, plus what the client asked of OpenAI's beta. Never logged. */
  upstreamHeaders: Record<string, string>
}

/** The client's `Sec-WebSocket-Protocol` values, trimmed. */
export function offeredProtocols(request: FastifyRequest): string[] {
  const header = request.headers['sec-websocket-protocol']
  if (typeof header !== 'string') return []
  return header.split(',').map((p) => p.trim()).filter((p) => p.length > 0)
}

/** `Authorization: Bearer sk-…`, else the key a browser put in its subprotocols. */
export function realtimeCredential(request: FastifyRequest): string | undefined {
  if (request.headers.authorization) return request.headers.authorization
  const keyed = offeredProtocols(request).find((p) => p.startsWith(KEY_PROTOCOL_PREFIX))
  return keyed ? `Bearer ${keyed.slice(KEY_PROTOCOL_PREFIX.length)}` : undefined
}

/**
 * The subprotocol the gateway answers with: `realtime` when offered (OpenAI's browser form), else the first one
 * that is not a key; never the key, which would echo it back and forward it upstream.
 */
export function chooseProtocol(protocols: ReadonlySet<string>): string | false {
  if (protocols.has('realtime')) return 'realtime'
  for (const protocol of protocols) if (!protocol.startsWith(KEY_PROTOCOL_PREFIX) && protocol !== BETA_PROTOCOL) return protocol
  return false
}

/** Adapters that speak OpenAI's Realtime protocol as it is: OpenAI-compatible channels and Azure's v1 API. */
function realtimeUrl(adapter: ChannelAdapter, channel: RelayChannel, upstreamModel: string): URL | null {
  if (adapter.format !== 'openai') return null
  const baseUrl = channel.baseUrl || adapter.defaultBaseUrl
  if (!baseUrl) return null
  let url: URL
  try {
    url = new URL(adapter.url({ baseUrl, path: UPSTREAM_PATH, model: upstreamModel, stream: true }))
  } catch {
    return null
  }
  // Azure's deployment API (`/openai/deployments/…`) has a realtime endpoint of another shape: not relayed.
  if (!url.pathname.endsWith('/realtime') || (url.protocol !== 'http:' && url.protocol !== 'https:')) return null
  return url
}

/** 400 for what the realtime relay cannot do; the message says what would work. */
function unsupported(message: string): ApiError {
  return new ApiError(400, 'realtime_unsupported', message, { retry: false })
}

/**
 * Every check the HTTP relay makes that the upgrade can make (the key's were made by the onRequest hook), then
 * the channel. Throws the ApiError the client gets instead of a handshake.
 */
export function resolveRealtimeTarget(app: FastifyInstance, request: FastifyRequest, principal: RelayPrincipal): RealtimeTarget {
  const query = request.query as Record<string, unknown> | undefined
  const model = query?.model
  assertModelName(model)
  app.relayKeys.assertModelAllowed(principal, model)
  if (principal.personalApi) {
    throw unsupported('realtime sessions go through the gateway\'s channels only: use a key that is not bound to a personal API')
  }
  if (app.hasDecorator('pricing') && !app.pricing.priceOf(model)) throw modelPriceUnset(model)

  const all = principal.pinnedChannelId === null ? app.channelPool.candidates(principal.group, model) : pinned(app, principal.pinnedChannelId)
  if (all.length === 0) throw noChannel(model)
  const usable = all.filter((channel) => {
    const adapter = getAdapter(channel.type)
    return adapter !== undefined && realtimeUrl(adapter, channel, upstreamModelOf(channel.modelMapping, model)) !== null
  })
  const channel = pickChannel(usable, new Set())
  if (!channel) {
    throw unsupported(
      `no channel serving '${model}' speaks OpenAI's Realtime protocol: realtime needs an 'openai' channel, or an 'azure' channel whose base_url ends in /openai/v1`,
    )
  }
  const adapter = getAdapter(channel.type) as ChannelAdapter
  const upstreamModel = upstreamModelOf(channel.modelMapping, model)
  const url = realtimeUrl(adapter, channel, upstreamModel) as URL
  url.searchParams.set('model', upstreamModel)
  const upstreamQuery = url.search.slice(1)
  url.search = ''
  const headers: Record<string, string> = { ...adapter.authHeaders(channel.key, request.headers), 'x-request-id': request.id }
  const beta = request.headers['openai-beta']
  if (typeof beta === 'string' && beta) headers['openai-beta'] = beta
  else if (offeredProtocols(request).includes(BETA_PROTOCOL)) headers['openai-beta'] = 'realtime=v1'
  return {
    principal,
    model,
    channel,
    upstreamModel,
    upstreamDir: new URL('./', url).href,
    upstreamQuery,
    upstreamHeaders: headers,
  }
}

function pinned(app: FastifyInstance, id: number): readonly RelayChannel[] {
  const channel = app.channelPool.byId(id)
  return channel && channel.status === 'enabled' ? [channel] : []
}

/** Refuses a plain HTTP request to the realtime route: it must be a WebSocket upgrade. */
export function assertUpgrade(request: FastifyRequest): void {
  const upgrade = request.headers.upgrade
  if (typeof upgrade !== 'string' || upgrade.toLowerCase() !== 'websocket') {
    throw new ApiError(426, 'upgrade_required', "GET /v1/realtime is a WebSocket: connect with 'Upgrade: websocket'", { retry: false })
  }
}
