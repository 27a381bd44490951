import { useState } from 'preact/hooks'
import { ApiError, call, type Channel, type ChannelInput, type Page, type TestResult } from '../../api'
import { count, dateTime, splitList, usd } from '../../format'
import { Async, ConfirmButton, PageHeader, Pager, Status, fieldsOf, notify, useAction, useLoad } from '../../ui'

const TYPES = ['openai', 'anthropic', 'gemini', 'azure']

/** `requested=upstream` per line (or comma) ↔ the channel's model_mapping. */
function parseMapping(text: string): Record<string, string> {
  const mapping: Record<string, string> = {}
  for (const entry of splitList(text)) {
    const at = entry.indexOf('=')
    if (at <= 0 || at === entry.length - 1) throw new ApiError(400, 'invalid_request', `model mapping “${entry}” is not requested=upstream`, 'model_mapping')
    mapping[entry.slice(0, at).trim()] = entry.slice(at + 1).trim()
  }
  return mapping
}

const mappingText = (mapping: Record<string, string>) =>
  Object.entries(mapping)
    .map(([from, to]) => `${from}=${to}`)
    .join('\n')

/** Upstream channels (CONTRACT §5 "Channels (admin)"): keys are write-only and shown masked. */
export function Channels() {
  const [page, setPage] = useState(1)
  const channels = useLoad(() => call<Page<Channel>>('channels', { query: { page, page_size: 50 } }), [page])
  const [creating, setCreating] = useState(false)
  const [editing, setEditing] = useState<number | null>(null)
  const [tests, setTests] = useState<Record<number, TestResult>>({})
  const [busy, run] = useAction()

  const create = async (input: ChannelInput) => {
    if (await run(() => call<Channel>('createChannel', { body: input }), (c) => `Channel “${c.name}” created`)) {
      setCreating(false)
      channels.reload()
    }
  }
  const update = async (channel: Channel, input: ChannelInput, done = 'saved') => {
    if (await run(() => call<Channel>('updateChannel', { params: { id: channel.id }, body: input }), `Channel “${channel.name}” ${done}`)) {
      setEditing(null)
      channels.reload()
    }
  }
  const remove = async (channel: Channel) => {
    if (await run(() => call<void>('deleteChannel', { params: { id: channel.id } }).then(() => true), `Channel “${channel.name}” deleted`)) channels.reload()
  }
  const test = async (channel: Channel, model: string) => {
    const result = await run(
      () => call<TestResult>('testChannel', { params: { id: channel.id }, body: model ? { model } : {} }),
      (r) => (r.ok ? `Channel “${channel.name}” answered ${r.status} in ${r.latency_ms} ms` : `Channel “${channel.name}” failed: ${r.status} ${r.message}`),
    )
    if (result) {
      setTests({ ...tests, [channel.id]: result })
      // A passing test re-enables an auto-disabled channel; show the new status.
      channels.reload()
    }
  }

  return (
    <section>
      <PageHeader title="Channels">
        {!creating ? (
          <button type="button" class="primary" onClick={() => setCreating(true)}>
            New channel
          </button>
        ) : null}
      </PageHeader>
      {creating ? <ChannelForm busy={busy} onSubmit={create} onCancel={() => setCreating(false)} /> : null}
      <Async state={channels} isEmpty={(p) => p.total === 0} empty="No channels yet: add an upstream so the relay has somewhere to send requests.">
        {(p) => (
          <>
            <table class="list" data-testid="channel-table">
              <thead>
                <tr>
                  <th scope="col">Channel</th>
                  <th scope="col">Models</th>
                  <th scope="col">Groups · priority · weight</th>
                  <th scope="col">Status</th>
                  <th scope="col">Response</th>
                  <th scope="col">Used</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {p.data.map((channel) =>
                  editing === channel.id ? (
                    <tr key={channel.id}>
                      <td colSpan={7}>
                        <ChannelForm channel={channel} busy={busy} onSubmit={(input) => update(channel, input)} onCancel={() => setEditing(null)} />
                      </td>
                    </tr>
                  ) : (
                    <tr key={channel.id} data-channel={channel.name}>
                      <td data-label="Channel">
                        <strong>{channel.name}</strong> <small class="muted">#{channel.id} · {channel.type}</small>
                        <div class="wrap muted">{channel.base_url}</div>
                        <code>{channel.key}</code>
                      </td>
                      <td data-label="Models" class="wrap">
                        {channel.models.length ? channel.models.join(', ') : <span class="muted">any</span>}
                        {Object.keys(channel.model_mapping).length ? <small class="muted"> · mapped: {mappingText(channel.model_mapping).replace(/\n/g, ', ')}</small> : null}
                      </td>
                      <td data-label="Groups">
                        {channel.groups.join(', ')} · {channel.priority} · {channel.weight}
                      </td>
                      <td data-label="Status">
                        <Status value={channel.status} />
                        {channel.circuit && channel.circuit !== 'closed' ? <span class="badge badge-auto_disabled">circuit {channel.circuit.replace('_', ' ')}</span> : null}
                        {channel.status_reason ? <div class="muted wrap">{channel.status_reason}</div> : null}
                      </td>
                      <td data-label="Response">
                        {tests[channel.id] ? (
                          <span class={tests[channel.id]!.ok ? 'badge badge-enabled' : 'badge badge-error'} title={tests[channel.id]!.message}>
                            {tests[channel.id]!.ok ? 'test ok' : 'test failed'} · {tests[channel.id]!.status} · {tests[channel.id]!.latency_ms} ms
                          </span>
                        ) : channel.response_time_ms !== null ? (
                          `${count(channel.response_time_ms)} ms`
                        ) : (
                          <span class="muted">not tested</span>
                        )}
                        <div>
                          <small class="muted">updated {dateTime(channel.updated_at)}</small>
                        </div>
                      </td>
                      <td data-label="Used">{usd(channel.used_quota)}</td>
                      <td data-label="Actions" class="actions">
                        <TestButton channel={channel} busy={busy} onTest={test} />
                        <button type="button" onClick={() => setEditing(channel.id)}>
                          Edit
                        </button>
                        {channel.status === 'enabled' ? (
                          <button type="button" disabled={busy} onClick={() => update(channel, { status: 'disabled' }, 'disabled')}>
                            Disable
                          </button>
                        ) : (
                          <button type="button" disabled={busy} onClick={() => update(channel, { status: 'enabled' }, 'enabled')}>
                            Enable
                          </button>
                        )}
                        <ConfirmButton label="Delete" disabled={busy} onConfirm={() => remove(channel)} />
                      </td>
                    </tr>
                  ),
                )}
              </tbody>
            </table>
            <Pager page={p.page} pageSize={p.page_size} total={p.total} onPage={setPage} />
          </>
        )}
      </Async>
    </section>
  )
}

function TestButton({ channel, busy, onTest }: { channel: Channel; busy: boolean; onTest(channel: Channel, model: string): void }) {
  const [model, setModel] = useState(channel.models[0] ?? '')
  return (
    <span class="test-button">
      <label>
        <span class="sr-only">Model to test {channel.name} with</span>
        <input value={model} placeholder="model" size={10} onInput={(e) => setModel((e.currentTarget as HTMLInputElement).value)} />
      </label>
      <button type="button" disabled={busy} onClick={() => onTest(channel, model.trim())}>
        Test
      </button>
    </span>
  )
}

function ChannelForm({ channel, busy, onSubmit, onCancel }: { channel?: Channel; busy: boolean; onSubmit(input: ChannelInput): void; onCancel(): void }) {
  const submit = (event: Event) => {
    event.preventDefault()
    const f = fieldsOf(event.currentTarget as HTMLFormElement)
    let mapping: Record<string, string>
    try {
      mapping = parseMapping(f.text('model_mapping'))
    } catch (err) {
      notify('error', (err as Error).message)
      return
    }
    const input: ChannelInput = {
      type: f.text('type'),
      name: f.text('name'),
      models: splitList(f.text('models')),
      model_mapping: mapping,
      groups: splitList(f.text('groups')),
      priority: f.int('priority') ?? 0,
      weight: f.int('weight') ?? 1,
    }
    const baseUrl = f.text('base_url')
    if (baseUrl) input.base_url = baseUrl
    // The key is write-only: empty on edit keeps the stored one.
    const key = f.text('key')
    if (key) input.key = key
    if (!input.groups?.length) delete input.groups
    onSubmit(input)
  }
  return (
    <form class="card form-grid" onSubmit={submit} aria-label={channel ? `Edit channel ${channel.name}` : 'New channel'}>
      <h2 class="span-all">{channel ? `Edit “${channel.name}”` : 'New channel'}</h2>
      <label>
        Type
        <select name="type" defaultValue={channel?.type ?? 'openai'}>
          {TYPES.map((t) => (
            <option key={t} value={t}>
              {t}
            </option>
          ))}
        </select>
      </label>
      <label>
        Name
        <input name="name" required maxLength={100} defaultValue={channel?.name ?? ''} />
      </label>
      <label>
        Base URL <small class="muted">(empty = the type's default)</small>
        <input name="base_url" type="url" placeholder="https://api.openai.com" defaultValue={channel?.base_url ?? ''} />
      </label>
      <label>
        Key {channel ? <small class="muted">(empty = keep {channel.key})</small> : null}
        <input name="key" type="password" autocomplete="off" required={!channel} maxLength={4096} />
      </label>
      <label>
        Models <small class="muted">(comma-separated; empty = any model)</small>
        <input name="models" defaultValue={channel?.models.join(', ') ?? ''} />
      </label>
      <label>
        Model mapping <small class="muted">(requested=upstream, one per line)</small>
        <textarea name="model_mapping" rows={2} defaultValue={channel ? mappingText(channel.model_mapping) : ''} />
      </label>
      <label>
        Groups <small class="muted">(comma-separated)</small>
        <input name="groups" defaultValue={channel?.groups.join(', ') ?? 'default'} />
      </label>
      <label>
        Priority <small class="muted">(higher first)</small>
        <input name="priority" type="number" step="1" defaultValue={String(channel?.priority ?? 0)} />
      </label>
      <label>
        Weight <small class="muted">(share among equals)</small>
        <input name="weight" type="number" min="0" step="1" defaultValue={String(channel?.weight ?? 1)} />
      </label>
      <div class="form-actions span-all">
        <button type="submit" class="primary" disabled={busy}>
          {channel ? 'Save' : 'Create channel'}
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  )
}
