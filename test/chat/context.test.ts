// What a chat turn carries (CONTRACT §8): the earlier messages after the last clear_context, newest first until
// CHAT_CONTEXT_TOKENS would be passed, plus the system prompt; nothing earlier with use_context false.
import t from 'tap'
import { selectContext, type ContextMessage } from '../../src/chat/context.js'
import { backends } from '../support/backends.js'
import { MODEL, startChatRig } from './support.js'

const m = (role: string, content: string): ContextMessage => ({ role, content })

t.test('selectContext: within the bound nothing is counted; past it, exact counts decide, newest first', async (t) => {
  const history = [m('assistant', 'c'), m('user', 'b'), m('assistant', 'a')]
  let counted = 0
  const count = async (message: ContextMessage) => {
    counted += 1
    return message.content.length * 10
  }
  t.same(await selectContext(history, [m('user', 'now')], 1000, count), [m('assistant', 'a'), m('user', 'b'), m('assistant', 'c')], 'all, oldest first')
  t.equal(counted, 0, 'a bound that fits needs no tokenizer')

  // Exact costs: fixed 30, then 10 each: a budget of 50 holds the two newest.
  t.same(await selectContext(history, [m('user', 'now')], 50, count), [m('user', 'b'), m('assistant', 'c')])
  t.ok(counted > 0)
  t.same(await selectContext(history, [m('user', 'now')], 29, count), [], 'the new message alone passes the budget: no context')

  // An older, shorter message is never sent without the newer ones after it.
  const uneven = [m('assistant', 'x'.repeat(10)), m('user', 'y')]
  t.same(await selectContext(uneven, [m('user', 'z')], 50, count), [])
})

for (const backend of backends()) {
  t.test(backend.name, async (t) => {
    const rig = await startChatRig(t, backend, { env: { CHAT_CONTEXT_TOKENS: '170' } })
    const alice = await rig.user('alice')
    const turn = async (id: number, body: Record<string, unknown>) => {
      const res = await rig.call(alice.token, 'POST', `/api/conversations/${id}/messages`, body)
      t.equal(res.status, 201)
      return (rig.upstream.lastFor('ok-chat')?.body as { messages: ContextMessage[] }).messages
    }
    const answer = Array.from({ length: 20 }, (_, i) => `w${i} `).join('')

    t.test('earlier messages, the system prompt, clear_context and use_context', async (t) => {
      const id = (await rig.call(alice.token, 'POST', '/api/conversations', { model: MODEL, system_prompt: 'You are terse.' })).body.id
      t.same(await turn(id, { content: 'one' }), [m('system', 'You are terse.'), m('user', 'one')])
      t.same(await turn(id, { content: 'two' }), [m('system', 'You are terse.'), m('user', 'one'), m('assistant', answer), m('user', 'two')])
      t.same(await turn(id, { content: 'alone', use_context: false }), [m('system', 'You are terse.'), m('user', 'alone')], 'use_context false')
      t.same(await turn(id, { content: 'fresh start', clear_context: true }), [m('system', 'You are terse.'), m('user', 'fresh start')])
      t.same(
        await turn(id, { content: 'after' }),
        [m('system', 'You are terse.'), m('user', 'fresh start'), m('assistant', answer), m('user', 'after')],
        'the context restarts at the clear_context message',
      )
      const page = (await rig.call(alice.token, 'GET', `/api/conversations/${id}/messages`)).body.data
      t.same(page.map((x: { clear_context: boolean }) => x.clear_context), [false, false, false, false, false, false, true, false, false, false])
    })

    t.test('newest first until CHAT_CONTEXT_TOKENS would be passed (exact o200k counts near the limit)', async (t) => {
      const id = (await rig.call(alice.token, 'POST', '/api/conversations', { model: MODEL })).body.id
      const { db, t: tables } = rig.app.db
      // Each stored message costs 68 tokens; with the new message (8) a budget of 170 holds two of them.
      const texts = ['oldest ', 'older ', 'newer ', 'newest '].map((w) => w + 'apple '.repeat(59))
      await db.insert(tables.messages).values(
        texts.map((content, i) => ({ conversationId: id, userId: alice.id, role: i % 2 ? 'assistant' : 'user', content })),
      )
      const sent = await turn(id, { content: 'go' })
      t.same(sent.map((x) => x.content.split(' ')[0]), ['newer', 'newest', 'go'])
    })

    t.test('failed answers are not sent as context', async (t) => {
      const id = (await rig.call(alice.token, 'POST', '/api/conversations', { model: MODEL })).body.id
      const { db, t: tables } = rig.app.db
      await db.insert(tables.messages).values([
        { conversationId: id, userId: alice.id, role: 'user', content: 'q1' },
        { conversationId: id, userId: alice.id, role: 'assistant', content: '', status: 'error', error: 'no channel' },
        { conversationId: id, userId: alice.id, role: 'assistant', content: 'half', status: 'incomplete' },
      ])
      t.same(await turn(id, { content: 'q2' }), [m('user', 'q1'), m('assistant', 'half'), m('user', 'q2')])
    })
  })
}
