import { useEffect, useRef, useState } from 'preact/hooks'
import { call, type CreatedCodes, type Page, type RedemptionCode } from '../../api'
import { dateTime, usd } from '../../format'
import { Async, ConfirmButton, CopyButton, PageHeader, Pager, Status, fieldsOf, useAction, useLoad } from '../../ui'

type StatusFilter = '' | 'unused' | 'used' | 'expired'

/** Recharge codes (CONTRACT §8): minted in batches, shown once, stored hashed; users redeem them on their profile. */
export function Codes() {
  const [status, setStatus] = useState<StatusFilter>('')
  const [page, setPage] = useState(1)
  const codes = useLoad(() => call<Page<RedemptionCode>>('codes', { query: { status, page, page_size: 20 } }), [status, page])
  const [fresh, setFresh] = useState<CreatedCodes | null>(null)
  const [busy, run] = useAction()

  const create = async (event: Event) => {
    event.preventDefault()
    const form = event.currentTarget as HTMLFormElement
    const f = fieldsOf(form)
    const expires = f.text('expires_on')
    const body = {
      name: f.text('name'),
      // As typed: the gateway reads the decimal digits exactly.
      amount_usd: f.text('amount_usd'),
      count: f.int('count') ?? 1,
      ...(expires ? { expires_at: `${expires}T23:59:59.000Z` } : {}),
    }
    const created = await run(() => call<CreatedCodes>('createCodes', { body }), (c) => `${c.codes.length} code${c.codes.length === 1 ? '' : 's'} of $${c.amount_usd} created`)
    if (created) {
      form.reset()
      setFresh(created)
      codes.reload()
    }
  }
  const remove = async (code: RedemptionCode) => {
    if (await run(() => call<void>('deleteCode', { params: { id: code.id } }).then(() => true), `Code ${code.code} deleted`)) codes.reload()
  }

  return (
    <section>
      <PageHeader title="Recharge codes" />
      {fresh ? <FreshCodes created={fresh} onDone={() => setFresh(null)} /> : null}
      <form class="card form-grid" onSubmit={create} aria-label="New recharge codes">
        <h2 class="span-all">New codes</h2>
        <label>
          Batch name
          <input name="name" required maxLength={100} placeholder="spring promo" />
        </label>
        <label>
          USD per code
          <input name="amount_usd" required inputMode="decimal" pattern="\d+(\.\d{1,6})?" maxLength={16} placeholder="10" />
        </label>
        <label>
          How many
          <input name="count" type="number" min="1" max="1000" step="1" required defaultValue="1" />
        </label>
        <label>
          Expires on (UTC) <small class="muted">(empty = never)</small>
          <input name="expires_on" type="date" />
        </label>
        <div class="form-actions span-all">
          <button type="submit" class="primary" disabled={busy}>
            Create codes
          </button>
        </div>
      </form>
      <div class="filters">
        <label>
          Show
          <select value={status} onChange={(e) => (setStatus((e.currentTarget as HTMLSelectElement).value as StatusFilter), setPage(1))}>
            <option value="">all codes</option>
            <option value="unused">unused</option>
            <option value="used">used</option>
            <option value="expired">expired</option>
          </select>
        </label>
      </div>
      <Async state={codes} isEmpty={(p) => p.total === 0} empty="No codes here.">
        {(p) => (
          <>
            <table class="list">
              <thead>
                <tr>
                  <th scope="col">Code</th>
                  <th scope="col">Batch</th>
                  <th scope="col">Value</th>
                  <th scope="col">Status</th>
                  <th scope="col">Redeemed by</th>
                  <th scope="col">Expires</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {p.data.map((code) => (
                  <tr key={code.id}>
                    <td data-label="Code">
                      <code>{code.code}</code>
                    </td>
                    <td data-label="Batch">{code.name}</td>
                    <td data-label="Value">
                      ${code.amount_usd} <small class="muted">({usd(code.quota)})</small>
                    </td>
                    <td data-label="Status">
                      <Status value={code.status} />
                    </td>
                    <td data-label="Redeemed by">{code.redeemed_by_username ? `${code.redeemed_by_username}, ${dateTime(code.redeemed_at)}` : '—'}</td>
                    <td data-label="Expires">{code.expires_at ? dateTime(code.expires_at) : 'never'}</td>
                    <td data-label="Actions" class="actions">
                      <ConfirmButton label="Delete" disabled={busy} onConfirm={() => remove(code)} />
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

function FreshCodes({ created, onDone }: { created: CreatedCodes; onDone(): void }) {
  const panel = useRef<HTMLDivElement>(null)
  useEffect(() => panel.current?.focus(), [])
  const all = created.codes.join('\n')
  return (
    <div class="card shown-once" ref={panel} tabIndex={-1} role="region" aria-label="New recharge codes">
      <h2>
        {created.codes.length} new code{created.codes.length === 1 ? '' : 's'} “{created.name}”, ${created.amount_usd} each
      </h2>
      <p>
        Copy them now: <strong>they are shown only this once</strong>. The gateway keeps only their hashes.
      </p>
      <textarea readOnly rows={Math.min(8, created.codes.length)} value={all} aria-label="The new codes" data-testid="new-codes" />
      <div class="form-actions">
        <CopyButton text={all} label="Copy all" />
        <button type="button" class="primary" onClick={onDone}>
          I have copied them
        </button>
      </div>
    </div>
  )
}
