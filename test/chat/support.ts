// A chat test rig: the relay rig (gateway listening on 127.0.0.1, fake upstream, admin helpers) plus users with a
// balance, REST helpers with a session, and a WebSocket client that queues the frames it receives.
import { eq } from 'drizzle-orm'
import type { FastifyInstance } from 'fastify'
import WebSocket from 'ws'
import type { Backend } from '../support/backends.js'
import { bearer } from '../support/build-app.js'
import type { FakeUpstreamOptions } from '../support/fake-upstream.js'
import { startRig, type Rig } from '../relay/fixture.js'
import { registerUser, type TestUser } from '../users/support.js'

interface Teardown {
  teardown(fn: () => unknown): void
}

export const MODEL = 'gpt-4o-mini'

export interface ChatRig extends Rig {
  /** A registered user with `quota` granted, signed in. */
  user(name: string, quota?: number): Promise<TestUser>
  /** A REST call with a session; the parsed JSON (or null) and the status. */
  call(session: string, method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: unknown): Promise<{ status: number; body: any; headers: Record<string, unknown> }>
  balance(session: string): Promise<{ quota: number; used_quota: number }>
  usageRows(userId: number): Promise<{ requestId: string; tokenId: number; quota: number; promptTokens: number; completionTokens: number; source: string; status: number }[]>
  messageRows(conversationId: number): Promise<number>
  wsUrl(query?: string): string
}

/**
 * Starts the rig with one channel (`ok-chat` key → answers normally) serving MODEL, priced at 1 / 2 USD per 1M
 * input / output tokens.
 */
export async function startChatRig(
  t: Teardown,
  backend: Backend,
  opts: { env?: Record<string, string>; upstream?: FakeUpstreamOptions; channelKey?: string } = {},
): Promise<ChatRig> {
  const rig = await startRig(t, backend, opts)
  await rig.channel({ key: opts.channelKey ?? 'ok-chat', models: [MODEL] })
  await rig.price(MODEL)
  const app: FastifyInstance = rig.app
  const call: ChatRig['call'] = async (session, method, url, payload) => {
    const res = await app.inject({ method, url, headers: bearer(session), ...(payload === undefined ? {} : { payload: payload as object }) })
    return { status: res.statusCode, body: res.body ? safeJson(res.body) : null, headers: res.headers }
  }
  return {
    ...rig,
    call,
    async user(name, quota = 1_000_000) {
      const user = await registerUser(app, name)
      if (quota > 0) {
        const res = await call(rig.adminSession, 'POST', `/api/user/${user.id}/quota`, { delta: quota, remark: 'chat tests' })
        if (res.status !== 200) throw new Error(`quota grant failed: ${res.status}`)
      }
      return user
    },
    async balance(session) {
      const res = await call(session, 'GET', '/api/user/self')
      return { quota: res.body.quota, used_quota: res.body.used_quota }
    },
    async usageRows(userId) {
      const { db, t: tables } = app.db
      const rows = await db.select().from(tables.usageLogs).where(eq(tables.usageLogs.userId, userId))
      return rows.map((r) => ({
        requestId: r.requestId,
        tokenId: Number(r.tokenId),
        quota: Number(r.quota),
        promptTokens: Number(r.promptTokens),
        completionTokens: Number(r.completionTokens),
        source: String(r.source),
        status: r.status,
      }))
    },
    async messageRows(conversationId) {
      const { db, t: tables } = app.db
      return (await db.select({ id: tables.messages.id }).from(tables.messages).where(eq(tables.messages.conversationId, conversationId))).length
    },
    wsUrl(query = '') {
      return `${rig.url.replace(/^http/, 'ws')}/ws/chat${query}`
    },
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

export type Frame = Record<string, any>

/** A WebSocket client that queues frames; `next()` waits (bounded) for the next one matching `match`. */
export interface ChatSocket {
  ws: WebSocket
  frames: Frame[]
  next(match?: (frame: Frame) => boolean, ms?: number): Promise<Frame>
  send(frame: unknown): void
  close(): Promise<void>
}

export function openSocket(t: Teardown, url: string, headers: Record<string, string> = {}): Promise<ChatSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers })
    const frames: Frame[] = []
    const waiters: { match: (f: Frame) => boolean; resolve: (f: Frame) => void }[] = []
    let taken = 0
    t.teardown(() => ws.terminate())
    ws.on('message', (data) => {
      const frame = JSON.parse(String(data)) as Frame
      frames.push(frame)
      const waiter = waiters.findIndex((w) => w.match(frame))
      if (waiter >= 0) {
        const [w] = waiters.splice(waiter, 1)
        w!.resolve(frame)
      }
    })
    ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { statusCode: res.statusCode })))
    ws.once('error', reject)
    ws.once('open', () => {
      const socket: ChatSocket = {
        ws,
        frames,
        next(match = () => true, ms = 5000) {
          // Frames already received and not yet taken are matched first, in order.
          for (let i = taken; i < frames.length; i++) {
            if (match(frames[i]!)) {
              taken = i + 1
              return Promise.resolve(frames[i]!)
            }
          }
          return new Promise((resolveFrame, rejectFrame) => {
            const timer = setTimeout(() => rejectFrame(new Error(`no matching frame within ${ms} ms; got ${JSON.stringify(frames.slice(taken))}`)), ms)
            waiters.push({
              match,
              resolve: (frame) => {
                clearTimeout(timer)
                taken = frames.length
                resolveFrame(frame)
              },
            })
          })
        },
        send(frame) {
          ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame))
        },
        close() {
          return new Promise<void>((done) => {
            if (ws.readyState === ws.CLOSED) return done()
            ws.once('close', () => done())
            ws.close()
          })
        },
      }
      resolve(socket)
    })
  })
}

export const ofType = (type: string) => (frame: Frame) => frame.type === type
