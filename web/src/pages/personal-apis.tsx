import { useState } from 'preact/hooks'
import { call, type Page, type PersonalApi, type PersonalApiInput, type TestResult } from '../api'
import { dateTime } from '../format'
import { Async, ConfirmButton, PageHeader, fieldsOf, useAction, useLoad } from '../ui'

const TYPES = ['openai', 'anthropic', 'gemini']

/** A user's own upstreams (CONTRACT §7): for the chat and for keys bound to them; the key is stored encrypted. */
export function PersonalApis() {
  const apis = useLoad(() => call<Page<PersonalApi>>('personalApis', { query: { page_size: 100 } }), [])
  const [creating, setCreating] = useState(false)
  const [editing, setEditing] = useState<number | null>(null)
  const [results, setResults] = useState<Record<number, TestResult>>({})
  const [busy, run] = useAction()

  const create = async (input: PersonalApiInput) => {
    const created = await run(() => call<PersonalApi>('createPersonalApi', { body: input }), (a) => `Personal API “${a.name}” added`)
    if (created) {
      setCreating(false)
      apis.reload()
    }
  }
  const update = async (api: PersonalApi, input: PersonalApiInput) => {
    const saved = await run(() => call<PersonalApi>('updatePersonalApi', { params: { id: api.id }, body: input }), `Personal API “${api.name}” saved`)
    if (saved) {
      setEditing(null)
      apis.reload()
    }
  }
  const remove = async (api: PersonalApi) => {
    if (await run(() => call<void>('deletePersonalApi', { params: { id: api.id } }).then(() => true), `Personal API “${api.name}” deleted`)) apis.reload()
  }
  const test = async (api: PersonalApi) => {
    const result = await run(() => call<TestResult>('testPersonalApi', { params: { id: api.id }, body: {} }), (r) =>
      r.ok ? `“${api.name}” answered in ${r.latency_ms} ms` : `“${api.name}” failed: ${r.status} ${r.message}`,
    )
    if (result) setResults({ ...results, [api.id]: result })
  }

  return (
    <section>
      <PageHeader title="Personal APIs">
        {!creating ? (
          <button type="button" class="primary" onClick={() => setCreating(true)}>
            Add personal API
          </button>
        ) : null}
      </PageHeader>
      <p class="muted">Your own provider accounts. Chat through them, or bind a key to one: those requests cost you nothing here (your provider bills you).</p>
      {creating ? <ApiForm busy={busy} onSubmit={create} onCancel={() => setCreating(false)} /> : null}
      <Async state={apis} isEmpty={(p) => p.total === 0} empty="No personal APIs yet.">
        {(p) => (
          <table class="list">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Type</th>
                <th scope="col">Base URL</th>
                <th scope="col">Model</th>
                <th scope="col">Key</th>
                <th scope="col">Last test</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {p.data.map((api) =>
                editing === api.id ? (
                  <tr key={api.id}>
                    <td colSpan={7}>
                      <ApiForm api={api} busy={busy} onSubmit={(input) => update(api, input)} onCancel={() => setEditing(null)} />
                    </td>
                  </tr>
                ) : (
                  <tr key={api.id}>
                    <td data-label="Name">
                      {api.name} {api.default ? <span class="badge">default</span> : null}
                    </td>
                    <td data-label="Type">{api.type}</td>
                    <td data-label="Base URL" class="wrap">
                      {api.base_url}
                    </td>
                    <td data-label="Model">{api.model}</td>
                    <td data-label="Key">
                      <code>{api.key}</code>
                    </td>
                    <td data-label="Last test">
                      {results[api.id] ? (
                        <span class={results[api.id]!.ok ? 'badge badge-enabled' : 'badge badge-error'} title={results[api.id]!.message}>
                          {results[api.id]!.ok ? `ok · ${results[api.id]!.latency_ms} ms` : `failed · ${results[api.id]!.status}`}
                        </span>
                      ) : (
                        <small class="muted">added {dateTime(api.created_at)}</small>
                      )}
                    </td>
                    <td data-label="Actions" class="actions">
                      <button type="button" disabled={busy} onClick={() => test(api)}>
                        Test
                      </button>
                      <button type="button" onClick={() => setEditing(api.id)}>
                        Edit
                      </button>
                      <ConfirmButton label="Delete" disabled={busy} onConfirm={() => remove(api)} />
                    </td>
                  </tr>
                ),
              )}
            </tbody>
          </table>
        )}
      </Async>
    </section>
  )
}

function ApiForm({ api, busy, onSubmit, onCancel }: { api?: PersonalApi; busy: boolean; onSubmit(input: PersonalApiInput): void; onCancel(): void }) {
  const submit = (event: Event) => {
    event.preventDefault()
    const f = fieldsOf(event.currentTarget as HTMLFormElement)
    const input: PersonalApiInput = { name: f.text('name'), base_url: f.text('base_url'), model: f.text('model'), type: f.text('type') }
    // Editing: an empty key field keeps the stored key (it is never sent back to the page).
    const key = f.text('key')
    if (key) input.key = key
    onSubmit(input)
  }
  return (
    <form class="card form-grid" onSubmit={submit} aria-label={api ? `Edit ${api.name}` : 'New personal API'}>
      <h2 class="span-all">{api ? `Edit “${api.name}”` : 'New personal API'}</h2>
      <label>
        Name
        <input name="name" required maxLength={100} defaultValue={api?.name ?? ''} />
      </label>
      <label>
        Type
        <select name="type" defaultValue={api?.type ?? 'openai'}>
          {TYPES.map((t) => (
            <option key={t} value={t}>
              {t}
            </option>
          ))}
        </select>
      </label>
      <label>
        Base URL
        <input name="base_url" type="url" required placeholder="https://api.openai.com" defaultValue={api?.base_url ?? ''} />
      </label>
      <label>
        Model
        <input name="model" required maxLength={128} placeholder="gpt-4o-mini" defaultValue={api?.model ?? ''} />
      </label>
      <label>
        Key {api ? <small class="muted">(empty = keep {api.key})</small> : null}
        <input name="key" type="password" autocomplete="off" required={!api} maxLength={1024} />
      </label>
      <div class="form-actions span-all">
        <button type="submit" class="primary" disabled={busy}>
          {api ? 'Save' : 'Add'}
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  )
}
