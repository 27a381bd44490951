import type { IncomingMessage } from 'node:http'
import { LogController, type FastifyServerOptions } from 'fastify'
import fp from 'fastify-plugin'
import authGuards from './auth/guards.js'
import authPlugin from './auth/plugin.js'
import authRoutes from './auth/routes.js'
import type { Cache } from './cache/cache.js'
import { systemClock, type Clock } from './clock.js'
import type { Config } from './config.js'
import { clientErrorHandler, frameworkErrorHandler, installErrorHandling } from './errors.js'
import cachePlugin from './infra/cache.js'
import dbPlugin from './infra/db.js'
import docsPlugin from './infra/docs.js'
import health from './infra/health.js'
import metricsPlugin from './infra/metrics.js'
import upstreamPlugin from './infra/upstream.js'
import { installJsonBodyParser } from './infra/json-body.js'
import { requestForLog } from './infra/log-url.js'
import { installValidation } from './infra/validation.js'
import { uuidv7 } from './infra/request-id.js'
import type { LeaseOptions } from './billing/leases.js'
import billingPlugin from './billing/plugin.js'
import billingRoutes from './billing/routes.js'
import channelsPlugin from './channels/plugin.js'
import channelRoutes from './channels/routes.js'
import chatPlugin from './chat/plugin.js'
import chatRoutes from './chat/routes.js'
import chatSocket from './chat/ws.js'
import externalRoutes from './external/routes.js'
import logRoutes from './logs/routes.js'
import personalApisPlugin from './personal-apis/plugin.js'
import personalApiRoutes from './personal-apis/routes.js'
import pricingRoutes from './pricing/routes.js'
import redemptionPlugin from './redemption/plugin.js'
import redemptionRoutes, { redeemRoutes } from './redemption/routes.js'
import relayRoutes from './relay/routes.js'
import { upgradesBesideRealtime } from './relay/realtime/upgrades.js'
import tokensPlugin from './tokens/plugin.js'
import tokenRoutes from './tokens/routes.js'
import adminUserRoutes from './users/admin-routes.js'
import usersPlugin from './users/plugin.js'
import userRoutes from './users/routes.js'
import webConsole from './web/plugin.js'

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
    clock: Clock
  }
}

export interface AppOptions {
  config: Config
  clock?: Clock
  /** A cache key prefix, so instances or test runs can share one Redis without seeing each other. */
  cachePrefix?: string
  /** Credit lease tuning (src/billing/leases.ts); `false` = exact reservations only. */
  leases?: Partial<LeaseOptions> | false
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

/** Root server options shared by the process (server.ts) and the tests' app builder. */
export function serverOptions(
  config: Config,
  logger: FastifyServerOptions['logger'] = true,
): FastifyServerOptions & { http: import('node:http').ServerOptions } {
  // Slow clients (issue 9): the whole request must arrive within requestTimeout and its headers within
  // headersTimeout, counted from its first byte. Node stops counting once the request is received, so a
  // long streamed response is never cut. Node refuses headersTimeout > requestTimeout, hence the min.
  const requestTimeout = config.requestTimeoutMs
  const headersTimeout = Math.min(config.headersTimeoutMs, requestTimeout)
  return {
    logger: logger === true ? loggerOptions(config) : logger,
    bodyLimit: config.bodyLimitBytes,
    // Fastify sets server.requestTimeout from its own option (0 = off when absent), after creating the server.
    requestTimeout,
    http: {
      requestTimeout,
      headersTimeout,
      // Node checks those deadlines on this interval (30 s by default, which would stretch a 15 s limit to 45 s).
      connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(headersTimeout / 4))),
    },
    // Idle keep-alive sockets: longer than common load balancers' idle timeout (60 s), so a balancer never
    // reuses a socket the gateway is closing. No connectionTimeout: an idle socket timer would cut quiet streams.
    keepAliveTimeout: 72_000,
    // A timed-out or malformed request is answered in the OpenAI error shape too.
    clientErrorHandler,
    // Fastify's own routing errors (a path that does not decode, an over-long parameter) in the OpenAI shape too.
    frameworkErrors: frameworkErrorHandler,
    logController: new LogController({ requestIdLogLabel: 'request_id' }),
    // A client's own id is echoed when it is a sane token; anything else gets a fresh one, time-ordered
    // (UUIDv7), so the usage log's request_id index grows at its right edge.
    genReqId: (req: IncomingMessage) => {
      const incoming = req.headers['x-request-id']
      return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : uuidv7()
    },
    return503OnClosing: true,
  }
}

export function loggerOptions(config: Config) {
  return {
    level: config.logLevel,
    // Every request line: the URL's query secrets (`?key=`, `?token=`, …) are redacted (src/infra/log-url.ts).
    serializers: { req: requestForLog },
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers["x-api-key"]',
        'req.headers.cookie',
        'req.headers["x-signature"]',
        'headers.authorization',
        '*.password',
        '*.new_password',
        '*.old_password',
        '*.key',
        '*.api_key',
        '*.access_token',
      ],
      censor: '[redacted]',
    },
  }
}

/** The whole gateway as one plugin: infrastructure first, then each domain's routes. Never listens. */
export default fp<AppOptions>(
  async (app, opts) => {
    app.decorate('config', opts.config)
    app.decorate('clock', opts.clock ?? systemClock)
    installErrorHandling(app)
    installValidation(app)
    installJsonBodyParser(app)
    app.addHook('onRequest', async (request, reply) => {
      reply.header('x-request-id', request.id)
    })

    await app.register(metricsPlugin)
    await app.register(dbPlugin, { url: opts.config.databaseUrl })
    await app.register(cachePlugin, { url: opts.config.redisUrl, prefix: opts.cachePrefix })
    await app.register(upstreamPlugin)
    await app.register(docsPlugin)

    await app.register(usersPlugin)
    await app.register(authPlugin)
    await app.register(authGuards)
    await app.register(channelsPlugin)
    await app.register(personalApisPlugin)
    await app.register(tokensPlugin)
    await app.register(redemptionPlugin)
    await app.register(billingPlugin, { leases: opts.leases })
    await app.register(chatPlugin)

    await app.register(health)
    await app.register(relayRoutes, { prefix: '/v1' })
    await app.register(authRoutes, { prefix: '/api/auth' })
    await app.register(userRoutes, { prefix: '/api/user' })
    await app.register(adminUserRoutes, { prefix: '/api/user' })
    await app.register(billingRoutes, { prefix: '/api/user' })
    await app.register(externalRoutes, { prefix: '/api/user/external' })
    await app.register(tokenRoutes, { prefix: '/api/token' })
    await app.register(personalApiRoutes, { prefix: '/api/user/self/apis' })
    await app.register(channelRoutes, { prefix: '/api/channel' })
    await app.register(pricingRoutes, { prefix: '/api/pricing' })
    await app.register(logRoutes, { prefix: '/api/log' })
    await app.register(chatRoutes, { prefix: '/api' })
    // @fastify/websocket hears every upgrade but the realtime relay's, which its proxy answers (see upgrades.ts).
    const upgrades = upgradesBesideRealtime(app.server)
    app.addHook('onClose', async () => upgrades.detach())
    await app.register(chatSocket, { prefix: '/ws', upgrades: upgrades.emitter })
    await app.register(redemptionRoutes, { prefix: '/api/redemption' })
    await app.register(redeemRoutes, { prefix: '/api/user' })
    // The web console at `/`; its history fallback `GET /*` is a wildcard, so every route above wins over it.
    await app.register(webConsole)

    app.addHook('onReady', async () => {
      await app.users.ensureRootAdmin(app.log)
    })
  },
  { name: 'nexus-app' },
)
