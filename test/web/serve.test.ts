// Serving the web console (CONTRACT §10): `/` and client-side routes answer the built page with a strict CSP and no
// inline script; hashed assets are cached as immutable; API paths keep their OpenAI-shaped 404; an unbuilt
// console answers a clear 503.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify from 'fastify'
import t from 'tap'
import type { Config } from '../../src/config.js'
import web, { CONSOLE_CSP } from '../../src/web/plugin.js'
import { backends } from '../support/backends.js'
import { buildApp } from '../support/build-app.js'
import { ensureConsoleBuilt } from './support.js'

const html = { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' }

t.before(ensureConsoleBuilt)

for (const backend of backends()) {
  t.test(backend.name, async (t) => {
    const { app } = await buildApp(t, backend, { env: { QUOTA_PER_USD: '1000000' } })

    t.test('GET / answers the page with the strict CSP and no inline script', async (t) => {
      const res = await app.inject({ method: 'GET', url: '/', headers: html })
      t.equal(res.statusCode, 200)
      t.match(res.headers['content-type'], /^text\/html/)
      t.equal(
        res.headers['content-security-policy'],
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
      )
      t.equal(res.headers['content-security-policy'], CONSOLE_CSP)
      t.notMatch(CONSOLE_CSP, /unsafe-/, 'nothing unsafe allowed')
      t.equal(res.headers['cache-control'], 'no-cache', 'the page is revalidated, so a new build reaches browsers at once')
      t.equal(res.headers['x-frame-options'], 'DENY')
      t.equal(res.headers['x-content-type-options'], 'nosniff')
      t.ok(res.headers['x-request-id'], 'the usual request id')

      const body = res.body
      const scripts = [...body.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)]
      t.ok(scripts.length >= 1, 'the page loads its bundle')
      for (const [, attrs, inside] of scripts) {
        t.match(attrs, /\bsrc="\/assets\/[^"]+\.js"/, 'every script comes from /assets')
        t.equal(inside!.trim(), '', 'no inline script')
      }
      t.notMatch(body, /\son[a-z]+\s*=/i, 'no inline event handlers')
      t.notMatch(body, /<style\b/i, 'no inline style element')
      t.notMatch(body, /\sstyle\s*=/i, 'no style attributes')
      t.notMatch(body, /https?:\/\//, 'nothing fetched from another origin')
      t.match(body, /<meta name="nexus-quota-per-usd" content="1000000"/, 'QUOTA_PER_USD handed to the page in a meta tag')
    })

    t.test('client-side routes fall back to the page; API and operations paths do not', async (t) => {
      const page = (await app.inject({ method: 'GET', url: '/', headers: html })).body
      for (const url of ['/keys', '/admin/channels', '/chat/12', '/personal-apis?x=1', '/signin']) {
        const res = await app.inject({ method: 'GET', url, headers: html })
        t.equal(res.statusCode, 200, url)
        t.equal(res.body, page, `${url} is the console`)
        t.equal(res.headers['content-security-policy'], CONSOLE_CSP)
      }
      for (const url of ['/v1/nope', '/api/nope', '/ws/nope', '/docs/nope', '/metrics/x', '/healthz/x', '/readyz/x', '/assets/nope.js']) {
        const res = await app.inject({ method: 'GET', url, headers: html })
        t.equal(res.statusCode, 404, url)
        t.match(res.json(), { error: { type: 'invalid_request_error', code: 'not_found' } }, `${url}: the API's 404`)
        t.notOk(res.headers['content-security-policy'])
      }
      // Without text/html (fetch, curl, SDKs) an unknown path is the API's 404, not the page.
      const api = await app.inject({ method: 'GET', url: '/keys', headers: { accept: 'application/json' } })
      t.equal(api.statusCode, 404)
      t.match(api.json(), { error: { code: 'not_found' } })
      const post = await app.inject({ method: 'POST', url: '/keys', headers: html, payload: {} })
      t.equal(post.statusCode, 404, 'only GET falls back')
      // The routes the console does not own still work.
      t.equal((await app.inject({ method: 'GET', url: '/healthz', headers: html })).statusCode, 200)
      t.equal((await app.inject({ method: 'GET', url: '/docs/json' })).statusCode, 200)
      t.equal((await app.inject({ method: 'GET', url: '/api/pricing', headers: html })).statusCode, 200)
    })

    t.test('hashed assets are served with immutable caching', async (t) => {
      const page = (await app.inject({ method: 'GET', url: '/', headers: html })).body
      const assets = [...page.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]!)
      t.ok(assets.some((a) => a.endsWith('.js')) && assets.some((a) => a.endsWith('.css')), 'script and stylesheet')
      for (const url of assets) {
        const res = await app.inject({ method: 'GET', url })
        t.equal(res.statusCode, 200, url)
        t.match(res.headers['cache-control'], /max-age=31536000/, `${url} cached a year`)
        t.match(res.headers['cache-control'], /immutable/, `${url} immutable`)
        t.equal(res.headers['x-content-type-options'], 'nosniff')
        t.ok(Number(res.headers['content-length']) > 0)
      }
      const js = await app.inject({ method: 'GET', url: assets.find((a) => a.endsWith('.js'))! })
      t.match(js.headers['content-type'], /javascript/)
      // Every absolute URL in the bundles is an XML namespace or a form placeholder: nothing is fetched from elsewhere.
      const scripts = await Promise.all(
        assets.filter((a) => a.endsWith('.js')).map(async (url) => (await app.inject({ method: 'GET', url })).body),
      )
      const urls = new Set(scripts.flatMap((body) => body.match(/https?:\/\/[a-z0-9.-]+/gi) ?? []))
      t.same([...urls].filter((u) => !/^http:\/\/www\.w3\.org$|^https:\/\/api\.openai\.com$/.test(u)), [], 'no other origin in the bundle')
    })
  })
}

t.test('an unbuilt console answers 503 saying how to build it', async (t) => {
  const empty = mkdtempSync(join(tmpdir(), 'nexus-web-'))
  t.teardown(() => rmSync(empty, { recursive: true, force: true }))
  const app = Fastify()
  app.decorate('config', { quotaPerUsd: 500_000 } as Config)
  await app.register(web, { root: empty })
  t.teardown(() => app.close())
  for (const url of ['/', '/keys']) {
    const res = await app.inject({ method: 'GET', url, headers: html })
    t.equal(res.statusCode, 503, url)
    t.match(res.headers['content-type'], /^text\/plain/)
    t.match(res.body, /npm run build/)
    t.equal(res.headers['cache-control'], 'no-store')
  }
  t.equal((await app.inject({ method: 'GET', url: '/v1/models', headers: html })).statusCode, 404, 'API paths are not the console')
})
