// Issue 10 item 1: no tokenizer before forwarding; a large prompt is counted off the event loop.
import t from 'tap'
import { createPromptCounter, INLINE_COUNT_LIMIT } from '../../src/billing/prompt-counter.js'
import { estimatePromptTokens, tokenizerLoaded } from '../../src/billing/tokens-count.js'

const body = (chars: number) => ({
  model: 'm',
  messages: [{ role: 'user', content: Array.from({ length: Math.ceil(chars / 12) }, (_, i) => `word${i % 997} `).join('').slice(0, chars) }],
})

t.test('a large prompt is counted on a worker thread: the main thread never loads the tokenizer', async (t) => {
  const counter = createPromptCounter()
  t.teardown(() => counter.close())
  const large = body(512 * 1024)
  const size = JSON.stringify(large).length
  t.ok(size > INLINE_COUNT_LIMIT)
  const counted = await counter.count(large, size)
  t.equal(tokenizerLoaded(), false, 'counted elsewhere')
  t.equal(counted, estimatePromptTokens(large), 'to the same number as counting inline')
})

t.test('a small prompt is counted inline', async (t) => {
  const counter = createPromptCounter()
  t.teardown(() => counter.close())
  const small = body(1000)
  t.equal(await counter.count(small, JSON.stringify(small).length), estimatePromptTokens(small))
})
