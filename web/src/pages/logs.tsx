import { useState } from 'preact/hooks'
import { call, type Page, type UsageLog } from '../api'
import { useMe } from '../app'
import { count, dateTime, usd } from '../format'
import { Async, PageHeader, Pager, fieldsOf, useLoad } from '../ui'

interface Filters {
  model?: string
  token_id?: number
  from?: string
  to?: string
  user_id?: number
  channel_id?: number
}

/** The usage log, newest first: one's own (GET /api/log/self), or everyone's for admins (GET /api/log). */
export function Logs() {
  const me = useMe()
  const [everyone, setEveryone] = useState(me.isAdmin)
  const [filters, setFilters] = useState<Filters>({})
  const [page, setPage] = useState(1)
  const [pageSize, setPageSize] = useState(20)
  const scope = me.isAdmin && everyone ? 'allLog' : 'ownLog'
  const query = { ...filters, ...(scope === 'ownLog' ? { user_id: undefined, channel_id: undefined } : {}), page, page_size: pageSize }
  const logs = useLoad(() => call<Page<UsageLog>>(scope, { query }), [scope, JSON.stringify(query)])

  const apply = (event: Event) => {
    event.preventDefault()
    const f = fieldsOf(event.currentTarget as HTMLFormElement)
    const from = f.text('from')
    const to = f.text('to')
    setFilters({
      model: f.optional('model'),
      token_id: f.int('token_id'),
      // Dates are whole UTC days, both inclusive.
      from: from ? `${from}T00:00:00.000Z` : undefined,
      to: to ? `${to}T23:59:59.999Z` : undefined,
      user_id: f.int('user_id'),
      channel_id: f.int('channel_id'),
    })
    setPage(1)
  }

  return (
    <section>
      <PageHeader title="Usage log" />
      <form class="filters card" onSubmit={apply} aria-label="Filters">
        {me.isAdmin ? (
          <label class="check">
            <input type="checkbox" checked={everyone} onChange={(e) => (setEveryone((e.currentTarget as HTMLInputElement).checked), setPage(1))} /> Every user
          </label>
        ) : null}
        <label>
          Model
          <input name="model" maxLength={128} />
        </label>
        <label>
          Key id
          <input name="token_id" type="number" min="1" />
        </label>
        {me.isAdmin && everyone ? (
          <>
            <label>
              User id
              <input name="user_id" type="number" min="1" />
            </label>
            <label>
              Channel id
              <input name="channel_id" type="number" min="1" />
            </label>
          </>
        ) : null}
        <label>
          From (UTC)
          <input name="from" type="date" />
        </label>
        <label>
          To (UTC)
          <input name="to" type="date" />
        </label>
        <label>
          Per page
          <select value={String(pageSize)} onChange={(e) => (setPageSize(Number((e.currentTarget as HTMLSelectElement).value)), setPage(1))}>
            {[20, 50, 100].map((n) => (
              <option key={n} value={String(n)}>
                {n}
              </option>
            ))}
          </select>
        </label>
        <button type="submit" class="primary">
          Apply
        </button>
      </form>
      <Async state={logs} isEmpty={(p) => p.total === 0} empty="No requests match.">
        {(p) => (
          <>
            <table class="list logs" data-testid="log-table">
              <thead>
                <tr>
                  <th scope="col">Time</th>
                  <th scope="col">Model</th>
                  {scope === 'allLog' ? <th scope="col">User</th> : null}
                  <th scope="col">Key</th>
                  {scope === 'allLog' ? <th scope="col">Channel</th> : null}
                  <th scope="col">Tokens in / out</th>
                  <th scope="col">Cost</th>
                  <th scope="col">Latency</th>
                  <th scope="col">Status</th>
                </tr>
              </thead>
              <tbody>
                {p.data.map((row) => (
                  <tr key={row.id} title={`request ${row.request_id}`}>
                    <td data-label="Time">{dateTime(row.created_at)}</td>
                    <td data-label="Model">
                      {row.model}
                      {row.upstream_model && row.upstream_model !== row.model ? <small class="muted"> → {row.upstream_model}</small> : null}
                      {row.stream ? <small class="muted"> · stream</small> : null}
                    </td>
                    {scope === 'allLog' ? <td data-label="User">{row.user_id}</td> : null}
                    <td data-label="Key">{row.token_id || '—'}</td>
                    {scope === 'allLog' ? <td data-label="Channel">{row.channel_id ?? '—'}</td> : null}
                    <td data-label="Tokens">
                      {count(row.prompt_tokens)} / {count(row.completion_tokens)}
                    </td>
                    <td data-label="Cost">{usd(row.quota)}</td>
                    <td data-label="Latency">
                      {count(row.latency_ms)} ms{row.first_byte_ms !== null ? <small class="muted"> · first byte {count(row.first_byte_ms)} ms</small> : null}
                    </td>
                    <td data-label="Status">
                      <span class={row.status >= 400 ? 'badge badge-error' : 'badge badge-enabled'}>{row.status}</span>
                      {row.error ? <small class="muted"> {row.error}</small> : null}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
            <Pager page={p.page} pageSize={p.page_size} total={p.total} onPage={setPage} />
          </>
        )}
      </Async>
    </section>
  )
}
