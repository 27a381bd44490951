import Fastify from 'fastify'
import type { Server } from 'node:http'
import app, { loggerOptions, serverOptions } from './app.js'
import { ConfigError, loadConfig, type Config } from './config.js'
import { withGeneratedSecrets } from './generated-secrets.js'
import { stdoutDestination } from './infra/stdout-log.js'

/** In-flight requests and streams get this long after SIGTERM; then their connections are closed. */
const DRAIN_TIMEOUT_MS = 30_000
/** Whatever still hangs by then (a close hook, a flush), the process exits: CONTRACT §6 allows 35 s in all. */
const EXIT_DEADLINE_MS = 33_000
/** Log lines still queued for stdout get at most this long before the process exits. */
const LOG_FLUSH_MS = 1_000
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
  const logs = stdoutDestination()
  const server = Fastify(serverOptions(base, { ...loggerOptions(base), stream: logs }))
  const log = server.log
  const config = withGeneratedSecrets(base, log)
  await server.register(app, { config })
  await server.listen({ port: config.port, host: config.host })

  let exiting = false
  const exit = async (code: number) => {
    if (exiting) return
    exiting = true
    await logs.drained(LOG_FLUSH_MS)
    process.exit(code)
  }

  // SIGTERM: stop accepting, let in-flight requests and streams finish (bounded), flush, exit 0 — within 35 s.
  let stopping = false
  const stop = (signal: string) => {
    if (stopping) return
    stopping = true
    // Kept referenced: it must fire even if a close hook hangs on something that holds no handle.
    setTimeout(() => {
      log.error({ deadline_ms: EXIT_DEADLINE_MS }, 'shutdown deadline reached; exiting before close finished')
      void exit(1)
    }, EXIT_DEADLINE_MS)
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
    // close() resolves after the app's onClose hooks: usage flushed, pools and the database closed.
    server.close().then(
      () => {
        clearInterval(sweep)
        log.info('shut down cleanly')
        return exit(0)
      },
      (err: unknown) => {
        log.error({ err }, 'error during shutdown')
        return exit(1)
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
