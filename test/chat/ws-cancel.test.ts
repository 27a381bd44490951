// Cancelled turns (CONTRACT §8): one turn at a time per connection; a cancel, a dropped WebSocket or an SSE client
// that leaves aborts the upstream request, and what streamed is stored as `incomplete` and billed.
import t, { type Test } from 'tap'
import { backends } from '../support/backends.js'
import { eventually } from '../relay/fixture.js'
import { MODEL, ofType, openSocket, startChatRig, type ChatSocket } from './support.js'

for (const backend of backends()) {
  t.test(backend.name, async (t) => {
    // A paced stream (20 chunks, 40 ms apart), so a turn is still running when the test acts on it.
    const rig = await startChatRig(t, backend, { upstream: { paceMs: 40 } })
    const alice = await rig.user('alice')
    const connect = async (t: Test): Promise<ChatSocket> => {
      const socket = await openSocket(t, rig.wsUrl(), { authorization: `Bearer ${alice.token}` })
      t.same(await socket.next(), { type: 'ready' }, 'ready first')
      return socket
    }

    t.test('one turn at a time; cancel aborts the upstream, keeps what streamed as incomplete, and bills it', async (t) => {
      const socket = await connect(t)
      const before = await rig.balance(alice.token)
      const abortedBefore = rig.upstream.aborted
      socket.send({ type: 'message', content: 'long answer please', model: MODEL })
      await socket.next(ofType('chunk'))
      await socket.next(ofType('chunk'))
      socket.send({ type: 'message', content: 'me too', model: MODEL })
      t.match(await socket.next(ofType('error')), { code: 'turn_in_progress' })
      socket.send({ type: 'cancel' })
      const done = await socket.next(ofType('done'))
      t.equal(done.status, 'incomplete')
      const streamed = socket.frames.filter((f) => f.type === 'chunk').map((f) => f.content).join('')
      t.ok(streamed.length > 0 && streamed.length < 20 * 4, 'a part of the answer streamed')
      const page = (await rig.call(alice.token, 'GET', `/api/conversations/${done.conversation_id}/messages`)).body.data
      t.match(page, [{ role: 'user', content: 'long answer please' }, { role: 'assistant', status: 'incomplete', id: done.message_id }])
      t.ok(page[1].content.startsWith(streamed), 'the stored answer holds what the client saw')
      t.equal(page.length, 2, 'the refused second message stored nothing')
      t.ok(done.usage.completion_tokens > 0, 'counted by the gateway')
      await eventually(async () => rig.upstream.aborted, (n) => n > abortedBefore)
      t.ok(rig.upstream.aborted > abortedBefore, 'the upstream request was aborted')
      const after = await eventually(() => rig.balance(alice.token), (b) => b.used_quota > before.used_quota)
      t.ok(after.used_quota > before.used_quota, 'billed for what streamed')

      // The connection takes the next turn.
      socket.send({ type: 'message', conversation_id: done.conversation_id, content: 'short then', use_context: false })
      t.match(await socket.next(ofType('done')), { status: 'complete' })
      socket.send({ type: 'cancel' })
      socket.send({ type: 'message', conversation_id: done.conversation_id, content: 'a cancel with no turn is ignored', use_context: false })
      t.match(await socket.next(ofType('done')), { status: 'complete' })
      await socket.close()
    })

    t.test('an SSE client that leaves mid-turn: the upstream is aborted, what streamed is stored as incomplete', async (t) => {
      const conv = (await rig.call(alice.token, 'POST', '/api/conversations', { model: MODEL })).body.id
      const abortedBefore = rig.upstream.aborted
      const leave = new AbortController()
      const res = await fetch(`${rig.url}/api/conversations/${conv}/messages`, {
        method: 'POST',
        headers: { authorization: `Bearer ${alice.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ content: 'stream, then I go', stream: true }),
        signal: leave.signal,
      })
      const reader = res.body!.getReader()
      let seen = ''
      while (!seen.includes('"type":"chunk"')) seen += new TextDecoder().decode((await reader.read()).value)
      leave.abort()
      const page = await eventually(
        async () => (await rig.call(alice.token, 'GET', `/api/conversations/${conv}/messages`)).body.data as { status: string; content: string }[],
        (data) => data.length === 2,
      )
      t.match(page[1], { role: 'assistant', status: 'incomplete', content: /^w0 / })
      await eventually(async () => rig.upstream.aborted, (n) => n > abortedBefore)
      t.ok(rig.upstream.aborted > abortedBefore, 'the upstream request was aborted')
    })

    t.test('a dropped socket aborts the upstream; what streamed is stored as incomplete and billed', async (t) => {
      const conv = (await rig.call(alice.token, 'POST', '/api/conversations', { model: MODEL })).body.id
      const before = await rig.balance(alice.token)
      const abortedBefore = rig.upstream.aborted
      const socket = await connect(t)
      socket.send({ type: 'message', conversation_id: conv, content: 'I will leave' })
      await socket.next(ofType('chunk'))
      socket.ws.terminate()
      const page = await eventually(
        async () => (await rig.call(alice.token, 'GET', `/api/conversations/${conv}/messages`)).body.data as { status: string; content: string }[],
        (data) => data.length === 2,
      )
      t.match(page[1], { role: 'assistant', status: 'incomplete' })
      t.ok(page[1]!.content.length > 0)
      t.ok(page[1]!.content.length < Array.from({ length: 20 }, (_, i) => `w${i} `).join('').length)
      await eventually(async () => rig.upstream.aborted, (n) => n > abortedBefore)
      t.ok(rig.upstream.aborted > abortedBefore)
      const after = await eventually(() => rig.balance(alice.token), (b) => b.used_quota > before.used_quota)
      t.ok(after.used_quota > before.used_quota)
    })
  })
}
