// `GET /v1/realtime?model=…` (CONTRACT §3): OpenAI's Realtime API over a WebSocket, relayed both ways by
// @fastify/http-proxy's WebSocket support. The upgrade is an HTTP request until the proxy answers it, so the key,
// the model and the channel are checked in hooks first and a refusal is an HTTP error in OpenAI's shape (no
// handshake). Then the client's socket is accepted, a socket to the channel is opened with the channel's key in
// place of the client's, and every upstream event passes through the session's meter (session.ts) on its way.
import httpProxy from '@fastify/http-proxy'
import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import type { ClientRequest } from 'node:http'
import type { ClientOptions, WebSocket } from 'ws'
import { ApiError } from '../../errors.js'
import { installKeyAuth, principalOf } from '../principal.js'
import type { Meter } from '../seams.js'
import { balanceUsedUp, DRAIN_MS, quotaUsedUp, RealtimeSession } from './session.js'
import { assertUpgrade, chooseProtocol, realtimeCredential, resolveRealtimeTarget, type RealtimeTarget } from './target.js'
import { REALTIME_PATH } from './upgrades.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** Where this realtime upgrade goes, decided in preHandler. */
    realtimeTarget: RealtimeTarget | null
  }
}

/**
 * Carries a session from the headers hook to the upstream socket it belongs to (the proxy hands neither the
 * other); taken off the handshake request in `finishRequest`, before any byte of it is sent.
 */
const SESSION_HEADER = 'x-nexus-realtime-session'

/** Until billing is installed, a session is free (as the HTTP relay's requests are). */
const FREE: Meter = {
  reserve: async () => ({ quota: 0, coveredCompletionTokens: Infinity, completionCap: null }),
  extend: async () => true,
  settle: async () => {},
}

function targetOf(request: FastifyRequest): RealtimeTarget {
  const target = request.realtimeTarget
  if (!target) throw new ApiError(500, 'internal_error', 'realtime upgrade without a target')
  return target
}

const realtimeRoutes: FastifyPluginAsync = async (app) => {
  installKeyAuth(app, realtimeCredential)
  app.decorateRequest('realtimeTarget', null)
  app.addHook('preHandler', async (request) => {
    assertUpgrade(request)
    const principal = principalOf(request)
    const target = resolveRealtimeTarget(app, request, principal)
    // A session outlives the key cache's view of the balance; it starts only on a balance read now.
    if (await balanceUsedUp(app, principal.user.id)) throw quotaUsedUp()
    request.realtimeTarget = target
  })

  const meter = app.hasDecorator('meter') ? app.meter : FREE
  /** Sessions whose upstream handshake is being written, by their marker. */
  const connecting = new Map<string, RealtimeSession>()
  /** Sessions by their upstream socket (the proxy's hooks name the sockets only). */
  const byUpstream = new WeakMap<WebSocket, RealtimeSession>()
  const live = new Set<RealtimeSession>()
  let nextId = 0

  const wsClientOptions = {
    handshakeTimeout: app.config.upstreamFirstByteTimeoutMs,
    maxPayload: app.config.bodyLimitBytes,
    // Only these reach the upstream: the channel's key, the client's OpenAI-Beta, the request id. Never the
    // client's Authorization, cookies or subprotocol key.
    rewriteRequestHeaders: (_headers: Record<string, string>, request: FastifyRequest) => {
      const target = targetOf(request)
      const id = String(++nextId)
      const session = new RealtimeSession(app, meter, target, request.id, request.log)
      connecting.set(id, session)
      // Dropped if the handshake is never written (the proxy failed before opening the upstream socket).
      request.raw.socket.once('close', () => connecting.delete(id))
      return { ...target.upstreamHeaders, [SESSION_HEADER]: id }
    },
    queryString: (_search: string | undefined, _url: string, request: FastifyRequest) => targetOf(request).upstreamQuery,
    finishRequest: (req: ClientRequest, upstream: WebSocket) => {
      const id = String(req.getHeader(SESSION_HEADER) ?? '')
      req.removeHeader(SESSION_HEADER)
      const session = connecting.get(id)
      connecting.delete(id)
      if (session) {
        byUpstream.set(upstream, session)
        live.add(session)
        watchHandshake(session, upstream)
      }
      req.end()
    },
  }

  /** An upstream that refuses the handshake: its key is bad (the channel is disabled, as the HTTP relay does) or it is down. */
  function watchHandshake(session: RealtimeSession, upstream: WebSocket): void {
    upstream.once('unexpected-response', (_req, res) => {
      const status = res.statusCode ?? 0
      session.log.warn({ channel_id: session.target.channel.id, status }, 'realtime upstream refused the handshake')
      if ((status === 401 || status === 403) && session.target.channel.id > 0) {
        void app.channelPool.autoDisable(session.target.channel.id, `upstream answered ${status} to a realtime handshake`).catch(() => {})
      }
      // With a listener here, ws leaves the refused handshake open: end it, which closes the client too.
      upstream.terminate()
    })
    upstream.once('close', () => {
      live.delete(session)
      void session.end('upstream closed the session mid-response')
    })
  }

  await app.register(httpProxy, {
    prefix: '/realtime',
    upstream: '',
    websocket: true,
    // Relative: resolved against each channel's own base directory (`https://host/v1/` → `…/v1/realtime`).
    rewritePrefix: 'realtime',
    routes: ['/'],
    httpMethods: ['GET'],
    proxyPayloads: false,
    // Never reached for an upgrade; a plain GET was refused in preHandler.
    handler: () => {
      throw new ApiError(426, 'upgrade_required', `GET ${REALTIME_PATH} is a WebSocket`)
    },
    replyOptions: { getUpstream: (request) => targetOf(request as FastifyRequest).upstreamDir },
    wsServerOptions: {
      maxPayload: app.config.bodyLimitBytes,
      handleProtocols: (protocols) => chooseProtocol(protocols),
    },
    wsClientOptions: wsClientOptions as ClientOptions,
    wsHooks: {
      onConnect: (_context, source, upstream) => {
        const session = byUpstream.get(upstream)
        if (!session) {
          source.close(1011, 'session not found')
          return
        }
        // The proxy closes the upstream as soon as the client's socket closes; a response still running would then
        // end without its response.done, unbilled. For that case the upstream's close waits until the session has
        // cancelled what runs and billed each response.done (at most DRAIN_MS); every other close goes at once.
        const closeUpstream = upstream.close.bind(upstream)
        upstream.close = ((code?: number, reason?: string | Buffer) => {
          if (source.readyState !== source.CLOSED) return closeUpstream(code, reason)
          void session.drain(DRAIN_MS).finally(() => closeUpstream(code, reason))
        }) as WebSocket['close']
        source.once('close', () => {
          void session.drain(DRAIN_MS).then(() => session.end('client closed the session mid-response'))
        })
        session.attach(source, upstream)
      },
      onOutgoingMessage: (_context, _source, upstream, message) => {
        byUpstream.get(upstream)?.onUpstreamEvent(message.data, message.binary)
      },
    },
  })

  // Open sessions end with the gateway: each client is told (1001, before the proxy's own close of the server
  // would close it without a code) and its running responses are settled before billing and the database close.
  let ending: Promise<unknown> = Promise.resolve()
  app.addHook('preClose', async () => {
    ending = Promise.all([...live].map((session) => session.shutdown()))
  })
  app.addHook('onClose', async () => {
    await ending
  })
}

export default realtimeRoutes
