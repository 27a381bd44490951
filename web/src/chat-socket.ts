// The chat WebSocket (CONTRACT §8): `GET /ws/chat?token=<JWT>`. The server speaks first with {"type":"ready"};
// then one turn at a time: a `message` frame in, `chunk` frames and a `done` (or `error`) frame out; `cancel`
// stops the turn in flight. The socket is opened on the first send and again after it drops.
import { chatSocketUrl } from './api'

export interface ChunkFrame {
  type: 'chunk'
  conversation_id: number
  content: string
}

export interface DoneFrame {
  type: 'done'
  conversation_id: number
  message_id: number
  status?: string
  error?: string
  usage?: { prompt_tokens?: number; completion_tokens?: number }
}

export interface ErrorFrame {
  type: 'error'
  code: string
  message: string
  conversation_id?: number
}

export type ServerFrame = ChunkFrame | DoneFrame | ErrorFrame

export interface MessageFrame {
  type: 'message'
  conversation_id?: number
  content: string
  model?: string
  api_id?: number
  clear_context?: boolean
}

export class ChatSocket {
  private socket: WebSocket | null = null
  private ready: Promise<WebSocket> | null = null

  /** `onFrame` gets every frame after `ready`; `onDrop` is told when an open socket closes. */
  constructor(
    private readonly onFrame: (frame: ServerFrame) => void,
    private readonly onDrop: (reason: string) => void,
  ) {}

  private connect(): Promise<WebSocket> {
    if (this.ready) return this.ready
    this.ready = new Promise<WebSocket>((resolve, reject) => {
      const socket = new WebSocket(chatSocketUrl())
      this.socket = socket
      let opened = false
      socket.onmessage = (event) => {
        let frame: { type?: string }
        try {
          frame = JSON.parse(String(event.data)) as { type?: string }
        } catch {
          return
        }
        if (frame.type === 'ready') {
          opened = true
          resolve(socket)
        } else {
          this.onFrame(frame as ServerFrame)
        }
      }
      socket.onclose = (event) => {
        this.socket = null
        this.ready = null
        // A refused upgrade (expired session) closes before `ready`: nothing more to learn from the browser.
        if (!opened) reject(new Error('The chat connection was refused. Your session may have expired: sign in again.'))
        else this.onDrop(event.reason || 'the chat connection closed')
      }
    })
    return this.ready
  }

  async send(frame: MessageFrame): Promise<void> {
    const socket = await this.connect()
    socket.send(JSON.stringify(frame))
  }

  cancel(): void {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify({ type: 'cancel' }))
  }

  close(): void {
    const socket = this.socket
    this.socket = null
    this.ready = null
    if (socket) {
      socket.onclose = null
      socket.close()
    }
  }
}
