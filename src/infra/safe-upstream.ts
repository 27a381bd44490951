// The dispatcher of personal APIs (CONTRACT §7): users choose these URLs, so every connection is checked where
// it is made. The connector resolves the host itself and refuses the connection when ANY resolved address is
// not public unicast, and connects only to the addresses it checked: a name that resolved to a public address
// when the URL was saved (or a moment ago) and to 127.0.0.1 now — DNS rebinding — is refused all the same.
// IP literals are checked as they are; plain http is refused. With PERSONAL_API_ALLOW_PRIVATE=true none of
// this applies (self-hosted models on the same network, and tests).
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns'
import { isIP } from 'node:net'
import fp from 'fastify-plugin'
import { setTimeout as sleep } from 'node:timers/promises'
import { Agent, buildConnector, type Dispatcher } from 'undici'
import { addressRefusal, hostRefused, literalRefused, plainHttpRefused } from '../security/address-guard.js'
import { guardErrorBodies } from './upstream-error-guard.js'

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * The address-checked dispatcher every personal-API request goes through (relay, test call, chat); never
     * follows redirects, and cuts and redacts error bodies.
     */
    personalApiDispatcher: Dispatcher
  }
}

/** All addresses of a host name (a seam: tests resolve names to what they need without touching DNS). */
export type Resolve = (hostname: string) => Promise<LookupAddress[]>

const systemResolve: Resolve = (hostname) =>
  new Promise((resolve, reject) => {
    dnsLookup(hostname, { all: true, verbatim: true }, (err, addresses) => (err ? reject(err) : resolve(addresses)))
  })

export interface GuardOptions {
  allowPrivate: boolean
  resolve?: Resolve
  connectTimeoutMs?: number
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void

function wantedFamily(family: LookupOptions['family']): 0 | 4 | 6 {
  if (family === 4 || family === 'IPv4') return 4
  if (family === 6 || family === 'IPv6') return 6
  return 0
}

/**
 * A `lookup` for net/tls.connect that resolves through `resolve`, refuses when any address is not public, and
 * hands net exactly the checked addresses (all of them when it asks for all, for its happy-eyeballs attempts).
 */
function checkedLookup(resolve: Resolve) {
  return (hostname: string, options: LookupOptions, callback: LookupCallback): void => {
    resolve(hostname).then(
      (addresses) => {
        if (addresses.some((a) => addressRefusal(a.address) !== null)) return callback(hostRefused() as unknown as NodeJS.ErrnoException, [])
        const family = wantedFamily(options.family)
        const usable = family === 0 ? addresses : addresses.filter((a) => a.family === family)
        const first = usable[0]
        if (!first) {
          const err: NodeJS.ErrnoException = new Error(`getaddrinfo ENOTFOUND ${hostname}`)
          err.code = 'ENOTFOUND'
          return callback(err, [])
        }
        if (options.all) callback(null, usable)
        else callback(null, first.address, first.family)
      },
      (err: NodeJS.ErrnoException) => callback(err, []),
    )
  }
}

/** undici's connector with the address guard in front of it (or undici's own, when private addresses are allowed). */
export function guardedConnector(opts: GuardOptions): buildConnector.connector {
  const timeout = opts.connectTimeoutMs ?? 10_000
  if (opts.allowPrivate) return buildConnector({ timeout })
  const connect = buildConnector({ timeout, lookup: checkedLookup(opts.resolve ?? systemResolve) })
  return (options, callback) => {
    if (options.protocol !== 'https:') return callback(plainHttpRefused(), null)
    // undici hands IPv6 literals over without brackets; net never calls `lookup` for a literal, so it is checked here.
    const host = options.hostname.replace(/^\[(.*)\]$/, '$1')
    if (isIP(host)) {
      const reason = addressRefusal(host)
      if (reason !== null) return callback(literalRefused(host, reason), null)
    }
    connect(options, callback)
  }
}

export interface PersonalApiAgentOptions extends GuardOptions {
  headersTimeoutMs: number
}

/** The Agent (closed on shutdown) and the dispatcher to use (the Agent with error bodies guarded). */
export function createPersonalApiAgent(opts: PersonalApiAgentOptions): { agent: Agent; dispatcher: Dispatcher } {
  const agent = new Agent({
    connect: guardedConnector(opts),
    headersTimeout: opts.headersTimeoutMs,
    // As the shared upstream Agent: models think between tokens.
    bodyTimeout: 300_000,
    keepAliveTimeout: 30_000,
    // undici's dispatch never follows a redirect (only its redirect interceptor would, and it is not composed
    // here): a 3xx is an answer like any other, so a redirect cannot lead past the address check.
  })
  return { agent, dispatcher: agent.compose(guardErrorBodies) }
}

/** On close, in-flight calls have ended with their clients; a pool still waiting after this is destroyed. */
const CLOSE_GRACE_MS = 1_000

export default fp(
  async (app) => {
    const { agent, dispatcher } = createPersonalApiAgent({
      allowPrivate: app.config.personalApiAllowPrivate,
      headersTimeoutMs: app.config.upstreamFirstByteTimeoutMs,
    })
    app.decorate('personalApiDispatcher', dispatcher)
    app.addHook('onClose', async () => {
      const closed = await Promise.race([agent.close().then(() => true), sleep(CLOSE_GRACE_MS, false, { ref: false })])
      if (!closed) await agent.destroy()
    })
  },
  { name: 'personal-api-upstream' },
)
