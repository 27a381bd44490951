// `GET /ws/chat` (CONTRACT §8): chat turns over a WebSocket. The session is checked while the upgrade is still an
// HTTP request (onRequest, before the handshake is answered), from `Authorization: Bearer <JWT>` or, for browsers
// that cannot set headers on a WebSocket, `?token=<JWT>`; an anonymous upgrade gets a 401 and no socket.
import websocket from '@fastify/websocket'
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify'
import type { EventEmitter } from 'node:events'
import type { Server } from 'node:http'
import type { RawData, WebSocket } from 'ws'
import { ApiError, errors, toApiError } from '../errors.js'
import { parseJsonBody } from '../infra/json-body.js'
import { requestForLog } from '../infra/log-url.js'
import { uuidv7 } from '../infra/request-id.js'
import { authOf } from '../auth/guards.js'
import { WsMessageFrame } from './schemas.js'

type Frame = Record<string, unknown>
type FrameCheck = ((frame: unknown) => boolean) & { errors?: unknown }

/** `?token=` becomes the Authorization header the session guard reads; a header the client sent wins. */
async function sessionFromQuery(request: FastifyRequest): Promise<void> {
  if (request.headers.authorization) return
  const token = (request.query as Record<string, unknown> | undefined)?.token
  if (typeof token === 'string' && token) request.headers.authorization = `Bearer ${token}`
}

/** One WebSocket connection: at most one turn at a time; every bad frame answered with an error frame. */
class ChatConnection {
  private turn: AbortController | null = null
  private busy = false

  constructor(
    private readonly app: FastifyInstance,
    private readonly socket: WebSocket,
    private readonly request: FastifyRequest,
    private readonly validFrame: FrameCheck,
  ) {}

  open(): void {
    this.socket.on('message', (data, isBinary) => {
      void this.onFrame(data, isBinary)
    })
    // A dropped socket is a cancel: the upstream is aborted, what streamed is stored as incomplete and billed.
    this.socket.on('close', () => this.turn?.abort())
    this.send({ type: 'ready' })
  }

  private send(frame: Frame): void {
    if (this.socket.readyState === this.socket.OPEN) this.socket.send(JSON.stringify(frame))
  }

  private sendError(error: ApiError, conversationId?: number): void {
    this.send({ type: 'error', code: error.code ?? 'error', message: error.message, ...(conversationId === undefined ? {} : { conversation_id: conversationId }) })
  }

  private async onFrame(data: RawData, isBinary: boolean): Promise<void> {
    let frame: unknown
    try {
      if (isBinary) throw errors.invalidRequest('frames are JSON text')
      frame = parseJsonBody(rawText(data))
    } catch (err) {
      return this.sendError(new ApiError(400, 'invalid_json', err instanceof ApiError ? err.message : 'frames are JSON objects'))
    }
    const type = typeof frame === 'object' && frame !== null && !Array.isArray(frame) ? (frame as Frame).type : undefined
    if (type === 'message') return this.onMessage(frame)
    if (type === 'cancel') {
      this.turn?.abort()
      return
    }
    this.sendError(new ApiError(400, 'unknown_type', 'a frame is a JSON object whose "type" is "message" or "cancel"', { param: 'type' }))
  }

  private async onMessage(frame: unknown): Promise<void> {
    if (this.busy) {
      return this.sendError(new ApiError(409, 'turn_in_progress', 'a turn is already running on this connection: wait for its end or send {"type":"cancel"}'))
    }
    if (!this.validFrame(frame)) return this.sendError(invalidFrame(this.validFrame.errors))
    const message = frame as WsMessageFrame
    // Taken before the first await: a second frame arriving meanwhile finds the connection busy.
    this.busy = true
    const abort = new AbortController()
    this.turn = abort
    let conversationId = message.conversation_id
    try {
      await this.app.chat.rateLimit(this.request)
      const user = await this.currentUser()
      const prepared = await this.app.chat.turns.prepare(user, {
        conversationId: message.conversation_id,
        content: message.content,
        model: message.model,
        apiId: message.api_id,
        useContext: message.use_context,
        clearContext: message.clear_context,
      })
      const id = prepared.conversation.id
      conversationId = id
      const result = await this.app.chat.turns.run(prepared, {
        requestId: uuidv7(),
        signal: abort.signal,
        onText: (content) => this.send({ type: 'chunk', conversation_id: id, content }),
      })
      if (result.failure) return this.sendError(result.failure, id)
      const answer = result.assistantMessage
      this.send({
        type: 'done',
        conversation_id: id,
        message_id: answer.id,
        usage: result.usage,
        status: answer.status,
        ...(answer.error ? { error: answer.error } : {}),
      })
    } catch (err) {
      const error = toApiError(err)
      if (error.statusCode >= 500 && error.type !== 'upstream_error') this.request.log.error({ err }, 'chat turn failed')
      this.sendError(error, conversationId)
    } finally {
      this.busy = false
      this.turn = null
    }
  }

  /** The connection's user as of now: a user disabled since the handshake chats no more. */
  private async currentUser() {
    const user = await this.app.usersRepo.findById(authOf(this.request).user.id)
    if (!user) throw errors.unauthorized('invalid_session', 'session is invalid, expired or revoked')
    if (user.status !== 'enabled') throw errors.forbidden('user_disabled', 'this account is disabled')
    return user
  }
}

function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8')
  return Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.from(data).toString('utf8')
}

/** The validator's first complaint, named like a body's (toApiError renders fastify validation errors). */
function invalidFrame(validation: unknown): ApiError {
  const err = Object.assign(new Error('invalid frame'), { validation: Array.isArray(validation) ? validation : [], validationContext: 'frame' })
  return toApiError(err)
}

const routes: FastifyPluginAsync<{ upgrades?: EventEmitter }> = async (app, opts) => {
  // Frames are bounded like request bodies. `upgrades`: where upgrades are heard instead of the server (app.ts);
  // @fastify/websocket only calls `on`/`emit`/`removeListener` on it, so an emitter stands in for the server.
  const server = opts.upgrades ? { server: opts.upgrades as unknown as Server } : {}
  await app.register(websocket, { options: { maxPayload: app.config.bodyLimitBytes, ...server } })
  const compile = app.validatorCompiler
  if (!compile) throw new Error('the validator compiler is not installed')
  const validFrame = compile({ schema: WsMessageFrame, method: 'GET', url: '/ws/chat', httpPart: 'body' }) as FrameCheck

  app.get(
    '/chat',
    {
      websocket: true,
      onRequest: [sessionFromQuery, app.requireUser],
      // This route takes a session in its query by design: redacted here whatever logger the app was given.
      logSerializers: { req: requestForLog },
      schema: { tags: ['chat'], summary: 'Chat over a WebSocket (CONTRACT §8)', security: [{ session: [] }] },
    },
    (socket, request) => {
      new ChatConnection(app, socket, request, validFrame).open()
    },
  )
}

export default routes
