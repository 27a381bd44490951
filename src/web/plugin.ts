import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import fastifyStatic from '@fastify/static'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { projectRoot } from '../db/paths.js'

/**
 * The web console (CONTRACT §10): the single-page app that `npm run build` writes to dist/web, served at `/`.
 * It talks to the same public API as everyone else; this plugin only serves files.
 *
 * - `/assets/*` are content-hashed by the build, so they are cached for a year as immutable.
 * - `index.html` answers `/` and every client-side route (history fallback) for a browser asking for HTML;
 *   it is revalidated each time, so a new build reaches browsers at once.
 * - API paths never fall back to the page: an unknown `/v1/...` stays the OpenAI-shaped 404 a client expects.
 */

export interface WebOptions {
  /** The built console; default `<project>/dist/web`. */
  root?: string
}

/** The HTML's policy: nothing inline, nothing from elsewhere; WebSockets to this host for the chat. */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self' ws: wss:",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ')

/** First path segments that belong to the API or operations, never to the console's client-side routes. */
const NOT_CONSOLE = new Set(['v1', 'api', 'ws', 'docs', 'metrics', 'healthz', 'readyz', 'assets'])

const NOT_BUILT = 'The web console is not built. Run `npm run build` (it writes dist/web), then restart the gateway.\n'

function isConsoleRoute(request: FastifyRequest): boolean {
  const path = request.url.split('?')[0] ?? '/'
  const first = path.split('/')[1] ?? ''
  if (NOT_CONSOLE.has(first)) return false
  // A browser navigating asks for text/html; fetch(), curl and SDKs do not, and get the API's 404.
  return (request.headers.accept ?? '').includes('text/html')
}

const web: FastifyPluginAsync<WebOptions> = async (app, opts) => {
  const root = opts.root ?? join(projectRoot(), 'dist', 'web')
  const indexPath = join(root, 'index.html')
  const quotaPerUsd = String(app.config.quotaPerUsd)

  if (existsSync(join(root, 'assets'))) {
    await app.register(fastifyStatic, {
      root: join(root, 'assets'),
      prefix: '/assets/',
      // reply.sendFile would clash with other registrations (the docs UI has its own); nothing here needs it.
      decorateReply: false,
      index: false,
      dotfiles: 'deny',
      cacheControl: true,
      maxAge: 365 * 24 * 3600 * 1000,
      immutable: true,
      setHeaders: (reply) => reply.header('x-content-type-options', 'nosniff'),
    })
  }

  async function sendConsole(reply: FastifyReply): Promise<FastifyReply> {
    let html: string
    try {
      html = await readFile(indexPath, 'utf8')
    } catch {
      return reply.code(503).header('cache-control', 'no-store').type('text/plain; charset=utf-8').send(NOT_BUILT)
    }
    // The page needs QUOTA_PER_USD to show balances in USD; it is handed over in a meta tag, not an inline script.
    html = html.replace(/(<meta name="nexus-quota-per-usd" content=")[^"]*(")/, `$1${quotaPerUsd}$2`)
    return reply
      .header('content-security-policy', CONSOLE_CSP)
      .header('cache-control', 'no-cache')
      .header('x-content-type-options', 'nosniff')
      .header('x-frame-options', 'DENY')
      .header('referrer-policy', 'no-referrer')
      .type('text/html; charset=utf-8')
      .send(html)
  }

  app.get('/', { schema: { hide: true } }, async (_request, reply) => sendConsole(reply))
  // Lowest priority in the router: every registered route wins over it.
  app.get('/*', { schema: { hide: true } }, async (request, reply) => {
    if (!isConsoleRoute(request)) return reply.callNotFound()
    return sendConsole(reply)
  })
}

export default web
