// Shared pieces: notices (every mutation's confirmation or error), loading / empty / error states, paging,
// two-step confirmations, copy buttons. Plain elements only, so everything is reachable by keyboard.
import type { ComponentChildren } from 'preact'
import { useCallback, useEffect, useRef, useState } from 'preact/hooks'
import { errorMessage } from './api'
import { count } from './format'

// ---- notices ----

interface Notice {
  id: number
  kind: 'ok' | 'error'
  text: string
}

let notices: Notice[] = []
let nextNoticeId = 1
const noticeListeners = new Set<(list: Notice[]) => void>()

function publish(list: Notice[]): void {
  notices = list
  for (const listener of noticeListeners) listener(list)
}

export function dismiss(id: number): void {
  publish(notices.filter((n) => n.id !== id))
}

/** Shows a confirmation (`ok`) or an error message; errors stay longer. */
export function notify(kind: Notice['kind'], text: string): void {
  const id = nextNoticeId++
  publish([...notices.slice(-3), { id, kind, text }])
  setTimeout(() => dismiss(id), kind === 'error' ? 12_000 : 6_000)
}

export function Notices() {
  const [list, setList] = useState(notices)
  useEffect(() => {
    noticeListeners.add(setList)
    return () => noticeListeners.delete(setList)
  }, [])
  const item = (n: Notice) => (
    <div key={n.id} class={`notice notice-${n.kind}`} data-kind={n.kind}>
      <span>{n.text}</span>
      <button type="button" class="link" aria-label="Dismiss" onClick={() => dismiss(n.id)}>
        ×
      </button>
    </div>
  )
  return (
    <div class="notices">
      <div role="status" aria-live="polite">
        {list.filter((n) => n.kind === 'ok').map(item)}
      </div>
      <div role="alert">{list.filter((n) => n.kind === 'error').map(item)}</div>
    </div>
  )
}

// ---- async state ----

export interface Loaded<T> {
  data: T | undefined
  error: unknown
  loading: boolean
  reload(): void
}

/** Loads `fn()` now and whenever `deps` change; a stale answer never overwrites a newer one. */
export function useLoad<T>(fn: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [state, setState] = useState<{ data: T | undefined; error: unknown; loading: boolean }>({ data: undefined, error: undefined, loading: true })
  const generation = useRef(0)
  const [tick, setTick] = useState(0)
  useEffect(() => {
    const mine = ++generation.current
    setState((s) => ({ ...s, loading: true }))
    fn().then(
      (data) => mine === generation.current && setState({ data, error: undefined, loading: false }),
      (error: unknown) => mine === generation.current && setState((s) => ({ data: s.data, error, loading: false })),
    )
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick])
  const reload = useCallback(() => setTick((n) => n + 1), [])
  return { ...state, reload }
}

/**
 * Runs a mutation: disables its buttons meanwhile, then shows `ok` (or the API's error message).
 * Resolves to the action's result, or undefined when it failed.
 */
export function useAction(): [boolean, <T>(action: () => Promise<T>, ok?: string | ((result: T) => string)) => Promise<T | undefined>] {
  const [busy, setBusy] = useState(false)
  const run = useCallback(async <T,>(action: () => Promise<T>, ok?: string | ((result: T) => string)) => {
    setBusy(true)
    try {
      const result = await action()
      if (ok) notify('ok', typeof ok === 'function' ? ok(result) : ok)
      return result
    } catch (err) {
      notify('error', errorMessage(err))
      return undefined
    } finally {
      setBusy(false)
    }
  }, [])
  return [busy, run]
}

// ---- states ----

export function Loading({ what = 'Loading' }: { what?: string }) {
  return (
    <p class="muted state" role="status">
      {what}…
    </p>
  )
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <p class="muted state empty">{children}</p>
}

export function LoadError({ error, retry }: { error: unknown; retry?: () => void }) {
  return (
    <div class="load-error" role="alert">
      <span>Could not load: {errorMessage(error)}</span>
      {retry && (
        <button type="button" onClick={retry}>
          Retry
        </button>
      )}
    </div>
  )
}

/** The usual three states of a list; `children` renders the loaded data. */
export function Async<T>({ state, empty, isEmpty, children }: { state: Loaded<T>; empty?: ComponentChildren; isEmpty?: (data: T) => boolean; children: (data: T) => ComponentChildren }) {
  if (state.data === undefined) {
    if (state.error) return <LoadError error={state.error} retry={state.reload} />
    return <Loading />
  }
  return (
    <>
      {state.error ? <LoadError error={state.error} retry={state.reload} /> : null}
      {isEmpty?.(state.data) ? <Empty>{empty ?? 'Nothing here yet.'}</Empty> : children(state.data)}
    </>
  )
}

// ---- bits ----

export function PageHeader({ title, children }: { title: string; children?: ComponentChildren }) {
  return (
    <header class="page-header">
      <h1>{title}</h1>
      {children ? <div class="page-actions">{children}</div> : null}
    </header>
  )
}

export function Pager({ page, pageSize, total, onPage }: { page: number; pageSize: number; total: number; onPage(page: number): void }) {
  const pages = Math.max(1, Math.ceil(total / pageSize))
  return (
    <nav class="pager" aria-label="Pages">
      <button type="button" disabled={page <= 1} onClick={() => onPage(page - 1)}>
        ← Previous
      </button>
      <span>
        Page {page} of {pages} · {count(total)} in all
      </span>
      <button type="button" disabled={page >= pages} onClick={() => onPage(page + 1)}>
        Next →
      </button>
    </nav>
  )
}

/** A destructive action asks once more, in place (no window.confirm: it is invisible to keyboards in some setups). */
export function ConfirmButton({ label, confirm, onConfirm, disabled }: { label: string; confirm?: string; onConfirm(): void; disabled?: boolean }) {
  const [asking, setAsking] = useState(false)
  const yes = useRef<HTMLButtonElement>(null)
  useEffect(() => {
    if (asking) yes.current?.focus()
  }, [asking])
  if (!asking) {
    return (
      <button type="button" class="danger" disabled={disabled} onClick={() => setAsking(true)}>
        {label}
      </button>
    )
  }
  return (
    <span class="confirm" role="group" aria-label={confirm ?? `${label}?`}>
      <button
        type="button"
        class="danger solid"
        ref={yes}
        onClick={() => {
          setAsking(false)
          onConfirm()
        }}
      >
        {confirm ?? `Yes, ${label.toLowerCase()}`}
      </button>
      <button type="button" onClick={() => setAsking(false)}>
        Cancel
      </button>
    </span>
  )
}

export function CopyButton({ text, label = 'Copy' }: { text: string; label?: string }) {
  const [copied, setCopied] = useState(false)
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text)
      setCopied(true)
      notify('ok', 'Copied to the clipboard')
    } catch {
      notify('error', 'The browser refused the clipboard: select the text and copy it by hand.')
    }
  }
  return (
    <button type="button" onClick={copy}>
      {copied ? 'Copied ✓' : label}
    </button>
  )
}

export function Status({ value }: { value: string }) {
  return <span class={`badge badge-${value.replace(/[^a-z_]/g, '')}`}>{value.replace('_', ' ')}</span>
}

/** Reads a form's fields by name. */
export function fieldsOf(form: HTMLFormElement) {
  const data = new FormData(form)
  const text = (name: string): string => String(data.get(name) ?? '').trim()
  return {
    text,
    optional: (name: string): string | undefined => text(name) || undefined,
    checked: (name: string): boolean => data.get(name) === 'on',
    int: (name: string): number | undefined => {
      const value = text(name)
      return value === '' ? undefined : Number(value)
    },
  }
}
