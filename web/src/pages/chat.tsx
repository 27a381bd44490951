import { useEffect, useRef, useState } from 'preact/hooks'
import { call, errorMessage, type ChatModel, type Conversation, type Message, type Page } from '../api'
import { ChatSocket, type ServerFrame } from '../chat-socket'
import { count, dateTime } from '../format'
import { MessageText } from '../markdown'
import { navigate, onLinkClick, usePath } from '../router'
import { Async, ConfirmButton, Empty, Loading, LoadError, notify, useAction, useLoad } from '../ui'

/** The turn in flight: what was asked and what has streamed so far. */
interface Pending {
  question: string
  answer: string
  conversationId: number | null
  cancelling: boolean
}

/** A picker value: a gateway model, or a personal API (which brings its own model). */
const modelValue = (m: ChatModel) => (m.api_id !== undefined ? `api:${m.api_id}` : `model:${m.id}`)

function conversationIdOf(path: string): number | null {
  const match = /^\/chat\/(\d+)$/.exec(path)
  return match ? Number(match[1]) : null
}

export function Chat() {
  const path = usePath()
  const selected = conversationIdOf(path)
  const [keyword, setKeyword] = useState('')
  const [listOpen, setListOpen] = useState(false)
  const conversations = useLoad(() => call<Page<Conversation>>('conversations', { query: { keyword, page_size: 100 } }), [keyword])
  const models = useLoad(() => call<{ data: ChatModel[] }>('chatModels'), [])
  const [choice, setChoice] = useState('')
  const [pending, setPending] = useState<Pending | null>(null)
  const [turnError, setTurnError] = useState<string | null>(null)
  const [messagesVersion, setMessagesVersion] = useState(0)
  const pendingRef = useRef<Pending | null>(null)
  pendingRef.current = pending

  const current = conversations.data?.data.find((c) => c.id === selected) ?? null
  const modelList = models.data?.data ?? []

  // The conversation's own model (or personal API) preselects the picker; else the first model offered.
  useEffect(() => {
    if (!modelList.length) return
    const own = current && modelList.find((m) => (current.api_id !== null ? m.api_id === current.api_id : m.api_id === undefined && m.id === current.model))
    if (own) setChoice(modelValue(own))
    else if (!choice || !modelList.some((m) => modelValue(m) === choice)) setChoice(modelValue(modelList[0]!))
  }, [modelList.length, current?.id])

  const endTurn = (conversationId: number | null) => {
    setPending(null)
    conversations.reload()
    setMessagesVersion((v) => v + 1)
    if (conversationId !== null && conversationId !== conversationIdOf(location.pathname)) navigate(`/chat/${conversationId}`, { replace: selected === null })
  }

  const socket = useRef<ChatSocket | null>(null)
  const onFrame = (frame: ServerFrame) => {
    const turn = pendingRef.current
    if (!turn) return
    if (frame.type === 'chunk') {
      setPending({ ...turn, conversationId: frame.conversation_id, answer: turn.answer + frame.content })
    } else if (frame.type === 'done') {
      if (frame.status === 'incomplete') notify('ok', 'Reply stopped; what streamed is kept')
      endTurn(frame.conversation_id)
    } else if (frame.type === 'error') {
      setTurnError(frame.message)
      notify('error', frame.message)
      endTurn(frame.conversation_id ?? turn.conversationId)
    }
  }
  const onDrop = (reason: string) => {
    if (!pendingRef.current) return
    setTurnError(`Connection lost: ${reason}`)
    endTurn(pendingRef.current.conversationId)
  }
  const handlers = useRef({ onFrame, onDrop })
  handlers.current = { onFrame, onDrop }
  useEffect(() => {
    socket.current = new ChatSocket(
      (f) => handlers.current.onFrame(f),
      (r) => handlers.current.onDrop(r),
    )
    return () => socket.current?.close()
  }, [])

  const send = async (content: string, clearContext: boolean): Promise<boolean> => {
    const picked = modelList.find((m) => modelValue(m) === choice)
    if (!picked) {
      notify('error', 'Pick a model first. An administrator must enable a channel for a model, or add a personal API.')
      return false
    }
    setTurnError(null)
    setPending({ question: content, answer: '', conversationId: selected, cancelling: false })
    try {
      await socket.current!.send({
        type: 'message',
        content,
        ...(selected !== null ? { conversation_id: selected } : {}),
        ...(picked.api_id !== undefined ? { api_id: picked.api_id } : { model: picked.id }),
        ...(clearContext ? { clear_context: true } : {}),
      })
      return true
    } catch (err) {
      setPending(null)
      setTurnError(errorMessage(err))
      notify('error', errorMessage(err))
      return false
    }
  }

  const cancel = () => {
    if (!pending) return
    setPending({ ...pending, cancelling: true })
    socket.current?.cancel()
  }

  const open = (id: number | null) => {
    setTurnError(null)
    setListOpen(false)
    navigate(id === null ? '/chat' : `/chat/${id}`)
  }

  return (
    <section class="chat">
      <aside class={listOpen ? 'chat-list open' : 'chat-list'} aria-label="Conversations">
        <button type="button" class="primary" onClick={() => open(null)} disabled={!!pending}>
          New chat
        </button>
        <label>
          <span class="sr-only">Search conversations</span>
          <input type="search" placeholder="Search titles" value={keyword} onInput={(e) => setKeyword((e.currentTarget as HTMLInputElement).value)} />
        </label>
        <Async state={conversations} isEmpty={(p) => p.data.length === 0} empty={keyword ? 'No titles match.' : 'No conversations yet.'}>
          {(p) => (
            <ul class="conversations">
              {p.data.map((c) => (
                <li key={c.id}>
                  <a
                    href={`/chat/${c.id}`}
                    aria-current={c.id === selected ? 'page' : undefined}
                    onClick={(e) => {
                      if (pending) return e.preventDefault()
                      onLinkClick(e, `/chat/${c.id}`)
                      setListOpen(false)
                    }}
                  >
                    <span class="title">{c.title}</span>
                    <small class="muted">
                      {c.message_count} messages · {dateTime(c.updated_at)}
                    </small>
                  </a>
                </li>
              ))}
            </ul>
          )}
        </Async>
      </aside>
      <div class="chat-main">
        <div class="chat-head">
          <button type="button" class="list-toggle" aria-expanded={listOpen} onClick={() => setListOpen(!listOpen)}>
            Conversations
          </button>
          <h1>{current ? current.title : selected !== null ? 'Conversation' : 'New chat'}</h1>
          {current ? <ConversationActions conversation={current} disabled={!!pending} onChanged={conversations.reload} onDeleted={() => open(null)} /> : null}
        </div>
        <label class="model-picker">
          Model
          {models.data ? (
            <select value={choice} disabled={!!pending || modelList.length === 0} onChange={(e) => setChoice((e.currentTarget as HTMLSelectElement).value)} data-testid="model-picker">
              {modelList.length === 0 ? <option value="">no models available</option> : null}
              {modelList.some((m) => m.source !== 'personal') ? (
                <optgroup label="Gateway">
                  {modelList
                    .filter((m) => m.source !== 'personal')
                    .map((m) => (
                      <option key={modelValue(m)} value={modelValue(m)}>
                        {m.id}
                      </option>
                    ))}
                </optgroup>
              ) : null}
              {modelList.some((m) => m.source === 'personal') ? (
                <optgroup label="My personal APIs (free)">
                  {modelList
                    .filter((m) => m.source === 'personal')
                    .map((m) => (
                      <option key={modelValue(m)} value={modelValue(m)}>
                        {m.id} (personal API #{m.api_id})
                      </option>
                    ))}
                </optgroup>
              ) : null}
            </select>
          ) : models.error ? (
            <LoadError error={models.error} retry={models.reload} />
          ) : (
            <Loading />
          )}
        </label>
        <Messages conversationId={selected} version={messagesVersion} pending={pending} />
        {turnError ? (
          <p class="form-error" role="alert">
            {turnError}
          </p>
        ) : null}
        <Composer busy={!!pending} cancelling={pending?.cancelling ?? false} onSend={send} onCancel={cancel} />
      </div>
    </section>
  )
}

function ConversationActions({ conversation, disabled, onChanged, onDeleted }: { conversation: Conversation; disabled: boolean; onChanged(): void; onDeleted(): void }) {
  const [renaming, setRenaming] = useState(false)
  const [busy, run] = useAction()
  if (renaming) {
    return (
      <form
        class="inline-form"
        onSubmit={async (e) => {
          e.preventDefault()
          const title = String(new FormData(e.currentTarget as HTMLFormElement).get('title') ?? '').trim()
          const ok = await run(() => call<Conversation>('updateConversation', { params: { id: conversation.id }, body: { title } }), 'Conversation renamed')
          if (ok) {
            setRenaming(false)
            onChanged()
          }
        }}
      >
        <label>
          <span class="sr-only">Title</span>
          <input name="title" required maxLength={200} defaultValue={conversation.title} />
        </label>
        <button type="submit" disabled={busy}>
          Save
        </button>
        <button type="button" onClick={() => setRenaming(false)}>
          Cancel
        </button>
      </form>
    )
  }
  return (
    <div class="actions">
      <button type="button" disabled={disabled} onClick={() => setRenaming(true)}>
        Rename
      </button>
      <ConfirmButton
        label="Delete"
        disabled={disabled || busy}
        onConfirm={async () => {
          const ok = await run(() => call<void>('deleteConversation', { params: { id: conversation.id } }).then(() => true), 'Conversation deleted')
          if (ok) {
            onChanged()
            onDeleted()
          }
        }}
      />
    </div>
  )
}

function Messages({ conversationId, version, pending }: { conversationId: number | null; version: number; pending: Pending | null }) {
  const [older, setOlder] = useState<Message[]>([])
  const [hasMore, setHasMore] = useState(false)
  const page = useLoad(
    () => (conversationId === null ? Promise.resolve({ data: [], has_more: false }) : call<{ data: Message[]; has_more: boolean }>('messages', { params: { id: conversationId }, query: { limit: 50 } })),
    [conversationId, version],
  )
  useEffect(() => {
    setOlder([])
    setHasMore(page.data?.has_more ?? false)
  }, [page.data])
  const [busy, run] = useAction()
  // Follow the newest text inside the message list only (scrollIntoView would scroll the whole page on a phone).
  const box = useRef<HTMLDivElement>(null)
  useEffect(() => {
    if (box.current) box.current.scrollTop = box.current.scrollHeight
  }, [page.data, pending?.answer.length])

  const loadOlder = async () => {
    const first = older[0] ?? page.data?.data[0]
    if (!first || conversationId === null) return
    const more = await run(() => call<{ data: Message[]; has_more: boolean }>('messages', { params: { id: conversationId }, query: { limit: 50, before_id: first.id } }))
    if (more) {
      setOlder([...more.data, ...older])
      setHasMore(more.has_more)
    }
  }

  const stored = [...older, ...(page.data?.data ?? [])]
  return (
    <div class="messages" ref={box} data-testid="messages">
      {hasMore ? (
        <button type="button" class="load-older" disabled={busy} onClick={loadOlder}>
          Load older messages
        </button>
      ) : null}
      {page.error ? <LoadError error={page.error} retry={page.reload} /> : null}
      {page.loading && !page.data ? <Loading /> : null}
      {stored.length === 0 && !pending && !page.loading ? <Empty>Ask anything to start. Replies stream in as they are written.</Empty> : null}
      {stored.map((m) => (
        <article key={m.id} class={`message message-${m.role}`} data-status={m.status}>
          <header>
            <strong>{m.role === 'user' ? 'You' : (m.model ?? 'Assistant')}</strong>
            {m.status !== 'complete' ? <span class={`badge badge-${m.status}`}>{m.status}</span> : null}
            <small class="muted">
              {dateTime(m.created_at)}
              {m.role === 'assistant' && m.completion_tokens ? ` · ${count(m.prompt_tokens)} / ${count(m.completion_tokens)} tokens` : ''}
            </small>
          </header>
          <MessageText text={m.content} />
          {m.error ? <p class="muted">{m.error}</p> : null}
        </article>
      ))}
      {pending ? (
        <>
          <article class="message message-user" data-status="sending">
            <header>
              <strong>You</strong>
            </header>
            <MessageText text={pending.question} />
          </article>
          <article class="message message-assistant streaming" data-status="streaming" aria-busy="true">
            <header>
              <strong>Assistant</strong>
              <span class="badge">{pending.cancelling ? 'stopping…' : 'writing…'}</span>
            </header>
            <MessageText text={pending.answer} />
          </article>
        </>
      ) : null}
    </div>
  )
}

function Composer({ busy, cancelling, onSend, onCancel }: { busy: boolean; cancelling: boolean; onSend(text: string, clearContext: boolean): Promise<boolean>; onCancel(): void }) {
  const [text, setText] = useState('')
  const [fresh, setFresh] = useState(false)
  const submit = async (event?: Event) => {
    event?.preventDefault()
    const content = text.trim()
    if (!content || busy) return
    if (await onSend(content, fresh)) {
      setText('')
      setFresh(false)
    }
  }
  return (
    <form class="composer" onSubmit={submit}>
      <label class="sr-only" for="chat-input">
        Message
      </label>
      <textarea
        id="chat-input"
        rows={3}
        placeholder="Write a message. Enter sends, Shift+Enter adds a line."
        value={text}
        onInput={(e) => setText((e.currentTarget as HTMLTextAreaElement).value)}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
            e.preventDefault()
            void submit()
          }
        }}
      />
      <div class="composer-actions">
        <label class="check">
          <input type="checkbox" checked={fresh} onChange={(e) => setFresh((e.currentTarget as HTMLInputElement).checked)} /> Forget earlier messages
        </label>
        {busy ? (
          <button type="button" class="danger" onClick={onCancel} disabled={cancelling}>
            {cancelling ? 'Cancelling…' : 'Cancel'}
          </button>
        ) : (
          <button type="submit" class="primary" disabled={!text.trim()}>
            Send
          </button>
        )}
      </div>
    </form>
  )
}
