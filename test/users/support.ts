import type { FastifyInstance } from 'fastify'
import type { CodeDelivery } from '../../src/auth/codes/sender.js'
import { bearer, login } from '../support/build-app.js'

export interface TestUser {
  id: number
  username: string
  password: string
  token: string
}

/** Registers a user through the API and logs in. */
export async function registerUser(
  app: FastifyInstance,
  username: string,
  opts: { email?: string; password?: string } = {},
): Promise<TestUser> {
  const password = opts.password ?? `${username}-password`
  const res = await app.inject({
    method: 'POST',
    url: '/api/auth/register',
    payload: { username, password, ...(opts.email ? { email: opts.email } : {}) },
  })
  if (res.statusCode !== 201) throw new Error(`register failed: ${res.statusCode} ${res.body}`)
  const id = (res.json() as { id: number }).id
  return { id, username, password, token: await login(app, username, password) }
}

/** Replaces the code delivery with a capture; `next()` waits for pending issuance first. */
export function captureCodes(app: FastifyInstance) {
  const sent: CodeDelivery[] = []
  app.verificationCodes.useSender({
    async send(delivery) {
      sent.push(delivery)
    },
  })
  return {
    sent,
    /** Every code sent so far, once issuance has settled. */
    async all(): Promise<CodeDelivery[]> {
      await app.verificationCodes.idle()
      return sent
    },
    async last(): Promise<CodeDelivery | undefined> {
      await app.verificationCodes.idle()
      return sent.at(-1)
    },
  }
}

export async function whoAmI(app: FastifyInstance, token: string): Promise<number> {
  return (await app.inject({ method: 'GET', url: '/api/user/self', headers: bearer(token) })).statusCode
}

/** A different client address per test, so per-IP limits of one test do not spill into another. */
let ipCounter = 0
export function freshIp(): string {
  ipCounter += 1
  return `10.${(ipCounter >> 8) & 255}.${ipCounter & 255}.7`
}

/** Waits (up to `ms`) until `messages` holds `expected`: pub/sub through Redis arrives asynchronously. */
export async function eventually(messages: string[], expected: string, ms = 1000): Promise<boolean> {
  const deadline = Date.now() + ms
  while (!messages.includes(expected)) {
    if (Date.now() > deadline) return false
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  return true
}
