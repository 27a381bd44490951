// What the bench sends: the cases, their bodies (written to files once, so wrk and the Node generator send the
// same bytes) and the check that one answer is what the case expects.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { MODEL } from './gateway.mjs'

export const PATH = '/v1/chat/completions'

/** Closed-loop throughput cases, measured round-robin over the targets in every round. */
export const LOAD_CASES = [
  { id: 'hi', title: 'non-stream "hi"', prompt: 'hi' },
  { id: 'latency', title: 'non-stream "hi", c=1', prompt: 'hi', concurrency: 1 },
  { id: 'prompt16k', title: 'non-stream, 16 KB prompt', promptBytes: 16 * 1024 },
  { id: 'prompt128k', title: 'non-stream, 128 KB prompt', promptBytes: 128 * 1024 },
  { id: 'stream20', title: 'stream, 20 events', stream: 20 },
  { id: 'stream500', title: 'stream, 500 events', stream: 500 },
]
/** Cases run once per target (slow streams) or per gateway (interference): they last seconds by design. */
export const OTHER_CASES = ['streams', 'interference']
export const ALL_CASE_IDS = [...LOAD_CASES.map((c) => c.id), ...OTHER_CASES]

const WORDS = ('the of and to in is that for it as was with be by on not he this are or his from at which but have an ' +
  'they you were her she there been one all we their has would when if so no what can more out up about into them ' +
  'model token stream request latency gateway balance channel usage prompt answer context quota cache upstream').split(' ')

/** Deterministic English-like text of exactly `bytes` bytes (tokenizes like prose, not like one repeated word). */
export function promptText(bytes) {
  let seed = 42
  let text = ''
  while (text.length < bytes) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff
    text += WORDS[seed % WORDS.length] + (seed % 17 === 0 ? '. ' : ' ')
  }
  return text.slice(0, bytes)
}

export function chatBody({ prompt, promptBytes, stream }) {
  const body = { model: MODEL, messages: [{ role: 'user', content: prompt ?? promptText(promptBytes) }] }
  // As an OpenAI client that wants usage asks: the usage-only chunk comes back through every target alike.
  if (stream !== undefined) Object.assign(body, { stream: true, stream_options: { include_usage: true } })
  return JSON.stringify(body)
}

/** Headers the lean upstream reads: how many events, how far apart. */
export function streamHeaders(events, intervalMs = 0) {
  return { 'x-bench-events': String(events), 'x-bench-interval-ms': String(intervalMs) }
}

/** Writes every body the run needs into `dir`; returns a lookup by case id. */
export function writeBodies(dir, { streamEvents, interferenceEvents }) {
  const files = {}
  const write = (id, json) => {
    files[id] = join(dir, `${id}.json`)
    writeFileSync(files[id], json)
  }
  for (const c of LOAD_CASES) write(c.id, chatBody(c))
  write('streams', chatBody({ prompt: 'hi', stream: streamEvents }))
  write('interference', chatBody({ prompt: 'hi', stream: interferenceEvents }))
  return files
}

/**
 * One request, checked: 2xx, a chat completion, and for a stream the expected number of SSE events (role,
 * N content, finish, usage, [DONE]) — which also proves the target passed the x-bench-* headers on.
 * Returns null when fine, else what was wrong.
 */
export async function checkOnce(target, loadCase, bodyFile, body) {
  const headers = { 'content-type': 'application/json', ...target.headers, ...(loadCase.stream ? streamHeaders(loadCase.stream) : {}) }
  try {
    const res = await fetch(target.url + PATH, { method: 'POST', headers, body, signal: AbortSignal.timeout(30_000) })
    const text = await res.text()
    if (res.status < 200 || res.status > 299) return `${res.status} ${text.slice(0, 200)}`
    if (!loadCase.stream) return text.includes('"chat.completion"') ? null : `not a chat completion: ${text.slice(0, 200)}`
    const events = text.split('data: ').length - 1
    const expected = loadCase.stream + 4
    if (events !== expected) return `${events} SSE events, expected ${expected}`
    if (!text.includes('"usage"')) return 'the usage chunk is missing'
    if (!text.trimEnd().endsWith('data: [DONE]')) return 'the stream does not end with data: [DONE]'
    return null
  } catch (err) {
    return `${err.name}: ${err.message} (${bodyFile})`
  }
}
