// The stack's floor, for reference: Fastify 5 + @fastify/http-proxy (undici) forwarding every request to the
// upstream with no key check, no billing, no log. The gateway cannot be cheaper than this; the distance between
// the two columns is the gateway's own work, the distance to nginx is Node's HTTP server and client.
// Prints its port on stdout; exits on SIGTERM, and with BENCH_CHILD=1 also when its parent closes its stdin.
import proxy from '@fastify/http-proxy'
import Fastify from 'fastify'

const app = Fastify({ logger: false, bodyLimit: 64 * 1024 * 1024 })
// Bodies are forwarded as they are, never parsed.
app.removeAllContentTypeParsers()
app.addContentTypeParser('*', (_request, payload, done) => done(null, payload))
await app.register(proxy, {
  upstream: process.env.UPSTREAM_URL,
  // As the gateway and nginx are set up: keep-alive to the upstream, no cap on connections.
  undici: { connections: null, pipelining: 1, keepAliveTimeout: 60_000 },
})
await app.listen({ port: 0, host: '127.0.0.1', backlog: 4096 })
process.stdout.write(`${app.server.address().port}\n`)

const stop = () => {
  app.close().then(() => process.exit(0))
  setTimeout(() => process.exit(0), 1000).unref()
}
process.on('SIGTERM', stop)
if (process.env.BENCH_CHILD === '1') process.stdin.on('end', stop).on('error', stop).resume()
