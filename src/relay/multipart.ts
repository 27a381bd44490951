// Multipart uploads (audio transcriptions) are relayed as a stream: the gateway reads only as far as the `model`
// form field, which it needs to choose a channel, and then forwards the bytes it read followed by the rest of the
// client's stream. OpenAI's SDKs send the file before the model, so the file part read on the way is held in
// memory — bounded by BODY_LIMIT_BYTES; a client that sends `model` first (or as `?model=`) is relayed without
// holding anything.
import { Readable } from 'node:stream'
import { errors } from '../errors.js'

export interface MultipartPeek {
  model: string
  /** The whole request body again: the bytes read to find the model, then the rest of the client's stream. */
  body: Readable
}

/** `name="model"`, its other part headers, the blank line, and the value up to the part's next CRLF. */
const MODEL_FIELD = /name="model"[^\r\n]*\r\n(?:[^\r\n]+\r\n)*\r\n([^\r\n]*)\r\n/
/** A model field's headers and value fit in this much; matches are looked for in the tail kept plus each chunk. */
const SEARCH_TAIL = 1024

export function peekMultipartModel(
  stream: Readable,
  limitBytes: number,
  modelFromQuery: string | undefined,
): Promise<MultipartPeek> {
  if (modelFromQuery) return Promise.resolve({ model: modelFromQuery, body: stream })
  return new Promise<MultipartPeek>((resolve, reject) => {
    const read: Buffer[] = []
    let size = 0
    let tail = ''
    const cleanup = (): void => {
      stream.off('data', onData)
      stream.off('end', onEnd)
      stream.off('error', onError)
    }
    const onData = (chunk: Buffer): void => {
      read.push(chunk)
      size += chunk.length
      const window = tail + chunk.toString('latin1')
      const match = MODEL_FIELD.exec(window)
      if (match?.[1]) {
        cleanup()
        stream.pause()
        resolve({ model: Buffer.from(match[1], 'latin1').toString('utf8'), body: Readable.from(replay(read, stream)) })
        return
      }
      if (size > limitBytes) {
        cleanup()
        stream.destroy()
        reject(errors.bodyTooLarge(limitBytes))
        return
      }
      tail = window.slice(-SEARCH_TAIL)
    }
    const onEnd = (): void => {
      cleanup()
      reject(errors.invalidRequest("'model' is required and must be a string", 'model'))
    }
    const onError = (err: Error): void => {
      cleanup()
      reject(err)
    }
    stream.on('data', onData)
    stream.on('end', onEnd)
    stream.on('error', onError)
  })
}

async function* replay(read: Buffer[], rest: Readable): AsyncGenerator<Buffer> {
  yield* read
  for await (const chunk of rest) yield chunk as Buffer
}
