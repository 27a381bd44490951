// A worker thread's job (piscina): count a large prompt's tokens off the event loop.
import { estimatePromptTokens } from './tokens-count.js'

export default function countPrompt(body: unknown): number {
  return estimatePromptTokens(body)
}
