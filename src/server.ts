import Fastify from 'fastify'
import type { Server } from 'node:http'
import app, { loggerOptions, serverOptions } from './app.js'
import { ConfigError, loadConfig, type Config } from './config.js'
import { withGeneratedSecrets } from './generated-secrets.js'

const DRAIN_TIMEOUT_MS = 30_000

function configOrExit(): Config {
  try {
    return loadConfig()
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`nexus-api: ${err.message}\n`)
      process.exit(1)
    }
    throw err
  }
}

async function main(): Promise<void> {
  const base = configOrExit()
  const server = Fastify(serverOptions(base, loggerOptions(base)))
  const log = server.log
  const config = withGeneratedSecrets(base, log)
  await server.register(app, { config })
  await server.listen({ port: config.port, host: config.host })

  // SIGTERM: stop accepting, let in-flight requests and streams finish (bounded), flush, exit 0.
  let stopping = false
  const stop = (signal: string) => {
    if (stopping) return
    stopping = true
    log.info({ signal }, 'shutting down: draining in-flight requests')
    const http = server.server as Server
    // close() only drops the sockets idle at that moment; a keep-alive socket whose request finishes later
    // would hold the process until its timeout, so idle ones are swept while draining.
    const sweep = setInterval(() => http.closeIdleConnections(), 250)
    const force = setTimeout(() => {
      log.warn('drain timeout reached; closing remaining connections')
      http.closeAllConnections()
    }, DRAIN_TIMEOUT_MS)
    force.unref()
    sweep.unref()
    server.close().then(
      () => {
        clearInterval(sweep)
        log.info('shut down cleanly')
        process.exit(0)
      },
      (err: unknown) => {
        log.error({ err }, 'error during shutdown')
        process.exit(1)
      },
    )
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
}

main().catch((err: unknown) => {
  process.stderr.write(`nexus-api: failed to start: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
})
