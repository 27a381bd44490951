// Which earlier messages a chat turn carries (CONTRACT §8): newest first, until CHAT_CONTEXT_TOKENS would be
// passed by them together with the system prompt and the new message.
//
// Most conversations fit with room to spare, and that is known without a tokenizer: a message never has more
// tokens than its UTF-8 bytes plus its framing. Only when that bound does not fit are messages counted exactly
// (o200k, through the prompt counter, which sends large texts to a worker thread so the event loop never waits).

export interface ContextMessage {
  role: string
  content: string
}

/** Exact tokens of one message as part of a prompt (framing included). */
export type MessageTokenCounter = (message: ContextMessage) => Promise<number>

/** A message's framing (role, separators, reply priming) costs fewer tokens than this. */
const FRAMING_BOUND = 16

/** At least the tokens of `message`: a byte-level tokenizer makes at most one token per byte. */
export function messageTokensBound(message: ContextMessage): number {
  return Buffer.byteLength(message.content, 'utf8') + FRAMING_BOUND
}

/** The fewest tokens a message can cost (its framing): how many messages any budget can hold at most. */
export const MIN_MESSAGE_TOKENS = 4

/**
 * The messages of `history` (newest first) that fit in `budget` next to `fixed` (the system prompt and the new
 * message, always sent), returned oldest first. Stops at the first message that would pass the budget: an older,
 * shorter one is never sent without the newer ones after it.
 */
export async function selectContext(
  history: readonly ContextMessage[],
  fixed: readonly ContextMessage[],
  budget: number,
  count: MessageTokenCounter,
): Promise<ContextMessage[]> {
  let bound = 0
  for (const message of fixed) bound += messageTokensBound(message)
  let fits = 0
  for (const message of history) {
    bound += messageTokensBound(message)
    if (bound > budget) break
    fits += 1
  }
  if (fits === history.length) return [...history].reverse()

  let used = 0
  for (const message of fixed) used += await count(message)
  const chosen: ContextMessage[] = []
  for (const message of history) {
    used += await count(message)
    if (used > budget) break
    chosen.push(message)
  }
  return chosen.reverse()
}
