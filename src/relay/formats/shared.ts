// What every converter needs: reading untrusted JSON without trusting its shape, the one 400 a converter raises
// for a field its target cannot express, and SSE events read and written one at a time. Converters are pure
// (JSON in, JSON out) and never throw anything but an ApiError (a 400 naming the field) on odd input.
import { ApiError, errors } from '../../errors.js'

export type Json = Record<string, unknown>

export function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

export const str = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined)
export const num = (value: unknown): number | undefined => (typeof value === 'number' && Number.isFinite(value) ? value : undefined)

/** 400 `unsupported_parameter`: the target channel's API has no way to say what `param` asks. */
export function unsupported(param: string, target: string, why?: string): ApiError {
  const message = `'${param}' is not supported when the request is converted for a ${target} channel${why ? `: ${why}` : ''}`
  return new ApiError(400, 'unsupported_parameter', message, { param })
}

/** 400 `invalid_request` for a field whose shape a converter cannot read. */
export function invalid(param: string, expected: string): ApiError {
  return errors.invalidRequest(`'${param}' must be ${expected}`, param)
}

/** A JSON value as text for a provider that wants text; a string stays itself. */
export function asText(value: unknown): string {
  if (typeof value === 'string') return value
  if (value === undefined || value === null) return ''
  return JSON.stringify(value)
}

/** Tool-call arguments (a JSON text) as the object a provider wants; 400 when they are not a JSON object. */
export function parseArguments(text: unknown, param: string): Json {
  if (isObject(text)) return text
  if (typeof text !== 'string' || text.trim() === '') return {}
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    throw invalid(param, 'a JSON object in a string')
  }
  if (!isObject(parsed)) throw invalid(param, 'a JSON object in a string')
  return parsed
}

/** A `data:` URL split into its media type and base64 payload; null for anything else (an http(s) URL). */
export function parseDataUrl(url: string): { mediaType: string; data: string } | null {
  const match = /^data:([^;,]+)(?:;[^,]*)?;base64,(.*)$/s.exec(url)
  return match ? { mediaType: (match[1] as string).toLowerCase(), data: match[2] as string } : null
}

/** Media types by file extension, for an image URL whose provider wants the type named. */
const MEDIA_BY_EXTENSION: Record<string, string> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  heic: 'image/heic',
  heif: 'image/heif',
  pdf: 'application/pdf',
}

export function mediaTypeOfUrl(url: string): string {
  let path = url
  try {
    path = new URL(url).pathname
  } catch {
    // not a URL the gateway can read: the default below
  }
  const ext = /\.([A-Za-z0-9]{2,5})$/.exec(path)?.[1]?.toLowerCase()
  return (ext && MEDIA_BY_EXTENSION[ext]) || 'image/jpeg'
}

// ---- SSE, one event at a time ----

/** The `event:` name and the `data:` lines (joined by LF) of one SSE event; null where absent. */
export function readSseEvent(event: Buffer): { name: string | null; data: string | null } {
  let name: string | null = null
  let data: string | null = null
  for (const raw of event.toString('utf8').split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw
    if (line.startsWith('data:')) {
      const value = line.charCodeAt(5) === 0x20 ? line.slice(6) : line.slice(5)
      data = data === null ? value : `${data}\n${value}`
    } else if (line.startsWith('event:')) {
      name = line.slice(line.charCodeAt(6) === 0x20 ? 7 : 6).trim()
    }
  }
  return { name, data }
}

/** The JSON of one SSE event's data; null when it has none or it is not a JSON object. */
export function sseJson(data: string | null): Json | null {
  if (data === null) return null
  try {
    const parsed: unknown = JSON.parse(data)
    return isObject(parsed) ? parsed : null
  } catch {
    return null
  }
}

/** `data: {json}` — an OpenAI stream event. */
export function dataEvent(value: unknown): Buffer {
  return Buffer.from(`data: ${JSON.stringify(value)}\n\n`)
}

/** `event: name` + `data: {json}` — an Anthropic stream event (its SDK ignores events without a name). */
export function namedEvent(name: string, value: unknown): Buffer {
  return Buffer.from(`event: ${name}\ndata: ${JSON.stringify(value)}\n\n`)
}

export const DONE_EVENT = Buffer.from('data: [DONE]\n\n')

/**
 * An SSE event transform: upstream events in, the events they become out, one at a time as they arrive. It holds
 * only what the next event needs (open blocks, tool-call indexes, the usage so far), never the stream.
 */
export interface EventTransform {
  /** One whole SSE event (as SseEventSplitter returns it) → the whole SSE events it becomes (maybe none). */
  push(event: Buffer): Buffer[]
  /** The upstream stream is over: whatever closes the converted stream. */
  end(): Buffer[]
}
