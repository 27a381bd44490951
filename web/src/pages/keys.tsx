import { useEffect, useRef, useState } from 'preact/hooks'
import { call, type Page, type PersonalApi, type Token, type TokenInput } from '../api'
import { count, dateTime, quotaToUsd, splitList, usd, usdToQuota } from '../format'
import { Async, ConfirmButton, CopyButton, PageHeader, Pager, Status, fieldsOf, useAction, useLoad } from '../ui'

const PAGE_SIZE = 20

/** Relay keys (CONTRACT §5 "Relay tokens"): the whole key is shown once, at creation, then only its mask. */
export function Keys() {
  const [page, setPage] = useState(1)
  const tokens = useLoad(() => call<Page<Token>>('tokens', { query: { page, page_size: PAGE_SIZE } }), [page])
  const apis = useLoad(() => call<Page<PersonalApi>>('personalApis', { query: { page_size: 100 } }), [])
  const [creating, setCreating] = useState(false)
  const [editing, setEditing] = useState<number | null>(null)
  const [fresh, setFresh] = useState<Token | null>(null)
  const [busy, run] = useAction()

  const create = async (input: TokenInput) => {
    const created = await run(() => call<Token>('createToken', { body: input }), (t) => `Key “${t.name}” created`)
    if (!created) return
    setCreating(false)
    setFresh(created)
    tokens.reload()
  }
  const update = async (token: Token, input: TokenInput, done = 'saved') => {
    const saved = await run(() => call<Token>('updateToken', { params: { id: token.id }, body: input }), `Key “${token.name}” ${done}`)
    if (!saved) return
    setEditing(null)
    tokens.reload()
  }
  const remove = async (token: Token) => {
    const ok = await run(() => call<void>('deleteToken', { params: { id: token.id } }).then(() => true), `Key “${token.name}” deleted`)
    if (ok) tokens.reload()
  }
  const apiList = apis.data?.data ?? []

  return (
    <section>
      <PageHeader title="API keys">
        {!creating ? (
          <button type="button" class="primary" onClick={() => setCreating(true)}>
            New key
          </button>
        ) : null}
      </PageHeader>
      <p class="muted">
        Use a key with any OpenAI SDK: base URL <code>{location.origin}/v1</code>, <code>Authorization: Bearer sk-…</code>.
      </p>
      {fresh ? <ShownOnce token={fresh} onDone={() => setFresh(null)} /> : null}
      {creating ? <TokenForm apis={apiList} busy={busy} onSubmit={create} onCancel={() => setCreating(false)} /> : null}
      <Async state={tokens} isEmpty={(p) => p.total === 0} empty="No keys yet. Create one to call the relay.">
        {(p) => (
          <>
            <table class="list">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Key</th>
                  <th scope="col">Status</th>
                  <th scope="col">Quota</th>
                  <th scope="col">Used</th>
                  <th scope="col">Expires</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {p.data.map((token) =>
                  editing === token.id ? (
                    <tr key={token.id}>
                      <td colSpan={7}>
                        <TokenForm token={token} apis={apiList} busy={busy} onSubmit={(input) => update(token, input)} onCancel={() => setEditing(null)} />
                      </td>
                    </tr>
                  ) : (
                    <tr key={token.id}>
                      <td data-label="Name">{token.name}</td>
                      <td data-label="Key">
                        <code>{token.key}</code>
                      </td>
                      <td data-label="Status">
                        <Status value={token.expired ? 'expired' : token.status} />
                      </td>
                      <td data-label="Quota">{token.unlimited_quota ? 'unlimited' : usd(token.remain_quota)}</td>
                      <td data-label="Used">
                        {usd(token.used_quota)} · {count(token.request_count)} req
                      </td>
                      <td data-label="Expires">{token.expires_at ? dateTime(token.expires_at) : 'never'}</td>
                      <td data-label="Actions" class="actions">
                        <button type="button" onClick={() => setEditing(token.id)}>
                          Edit
                        </button>
                        {token.status === 'enabled' ? (
                          <button type="button" disabled={busy} onClick={() => update(token, { status: 'disabled' }, 'disabled')}>
                            Disable
                          </button>
                        ) : (
                          <button type="button" disabled={busy} onClick={() => update(token, { status: 'enabled' }, 'enabled')}>
                            Enable
                          </button>
                        )}
                        <ConfirmButton label="Delete" disabled={busy} onConfirm={() => remove(token)} />
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

/** The whole key, this once. It lives only in this component's props: gone from the page once dismissed. */
function ShownOnce({ token, onDone }: { token: Token; onDone(): void }) {
  const panel = useRef<HTMLDivElement>(null)
  useEffect(() => panel.current?.focus(), [])
  return (
    <div class="card shown-once" ref={panel} tabIndex={-1} role="region" aria-label="Your new key">
      <h2>Your new key “{token.name}”</h2>
      <p>
        Copy it now: <strong>it is shown only this once</strong>. The gateway keeps only a hash of it.
      </p>
      <div class="secret">
        <input readOnly value={token.key} aria-label="The new key" data-testid="new-key" onFocus={(e) => (e.currentTarget as HTMLInputElement).select()} />
        <CopyButton text={token.key} />
      </div>
      <button type="button" class="primary" onClick={onDone}>
        I have copied it
      </button>
    </div>
  )
}

function TokenForm({ token, apis, busy, onSubmit, onCancel }: { token?: Token; apis: PersonalApi[]; busy: boolean; onSubmit(input: TokenInput): void; onCancel(): void }) {
  const [unlimited, setUnlimited] = useState(token?.unlimited_quota ?? true)
  const [never, setNever] = useState(token ? token.expires_at === null : false)

  const submit = (event: Event) => {
    event.preventDefault()
    const f = fieldsOf(event.currentTarget as HTMLFormElement)
    const expiresOn = f.text('expires_on')
    const input: TokenInput = {
      name: f.text('name'),
      unlimited_quota: unlimited,
      models: splitList(f.text('models')),
      allow_ips: splitList(f.text('allow_ips')),
      rate_limit_rpm: f.int('rate_limit_rpm') ?? null,
      personal_api_id: f.int('personal_api_id') ?? null,
    }
    if (never) input.expires_at = null
    else if (expiresOn) input.expires_at = `${expiresOn}T23:59:59.000Z`
    if (!unlimited) input.remain_quota = usdToQuota(Number(f.text('remain_usd') || '0'))
    onSubmit(input)
  }

  return (
    <form class="card form-grid" onSubmit={submit} aria-label={token ? `Edit key ${token.name}` : 'New key'}>
      <h2 class="span-all">{token ? `Edit “${token.name}”` : 'New key'}</h2>
      <label>
        Name
        <input name="name" required maxLength={100} defaultValue={token?.name ?? ''} />
      </label>
      <fieldset>
        <legend>Expiry</legend>
        <label class="check">
          <input type="checkbox" checked={never} onChange={(e) => setNever((e.currentTarget as HTMLInputElement).checked)} /> Never expires
        </label>
        <label>
          Expires on (UTC)
          <input name="expires_on" type="date" disabled={never} defaultValue={token?.expires_at?.slice(0, 10) ?? ''} />
        </label>
        {!token ? <small class="muted">Left empty: one year from today.</small> : null}
      </fieldset>
      <fieldset>
        <legend>Quota</legend>
        <label class="check">
          <input type="checkbox" checked={unlimited} onChange={(e) => setUnlimited((e.currentTarget as HTMLInputElement).checked)} /> Unlimited (your balance is the limit)
        </label>
        <label>
          Key limit in USD
          <input name="remain_usd" type="number" min="0" step="0.01" disabled={unlimited} defaultValue={token && !token.unlimited_quota ? String(quotaToUsd(token.remain_quota)) : ''} />
        </label>
      </fieldset>
      <label>
        Allowed models <small class="muted">(comma-separated; empty = all)</small>
        <input name="models" defaultValue={token?.models.join(', ') ?? ''} />
      </label>
      <label>
        Allowed IPs or CIDRs <small class="muted">(empty = any)</small>
        <input name="allow_ips" defaultValue={token?.allow_ips.join(', ') ?? ''} />
      </label>
      <label>
        Requests per minute <small class="muted">(empty = no limit)</small>
        <input name="rate_limit_rpm" type="number" min="1" step="1" defaultValue={token?.rate_limit_rpm != null ? String(token.rate_limit_rpm) : ''} />
      </label>
      <label>
        Send requests to
        <select name="personal_api_id" defaultValue={token?.personal_api_id != null ? String(token.personal_api_id) : ''}>
          <option value="">the gateway's channels</option>
          {apis.map((api) => (
            <option value={String(api.id)} key={api.id}>
              my personal API “{api.name}” (free)
            </option>
          ))}
        </select>
      </label>
      <div class="form-actions span-all">
        <button type="submit" class="primary" disabled={busy}>
          {token ? 'Save' : 'Create key'}
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  )
}
