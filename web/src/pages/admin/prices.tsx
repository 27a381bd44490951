import { useState } from 'preact/hooks'
import { call, type Price, type PriceInput } from '../../api'
import { Async, ConfirmButton, PageHeader, fieldsOf, useAction, useLoad } from '../../ui'

const money = (value: number | null) => (value === null ? 'input price' : `$${value}`)

/**
 * Prices in USD per 1M tokens (CONTRACT §4): admin prices, and catalogue prices of the models channels serve.
 * Setting a price makes it an admin price, which overrides the catalogue; removing it falls back to the catalogue.
 */
export function Prices() {
  const prices = useLoad(() => call<{ data: Price[] }>('prices'), [])
  const [editing, setEditing] = useState<Price | 'new' | null>(null)
  const [found, setFound] = useState<Price | null>(null)
  const [busy, run] = useAction()

  const save = async (model: string, input: PriceInput) => {
    if (await run(() => call<Price>('setPrice', { params: { model }, body: input }), `Price of ${model} saved`)) {
      setEditing(null)
      prices.reload()
    }
  }
  const remove = async (price: Price) => {
    const ok = await run(() => call<void>('deletePrice', { params: { model: price.model } }).then(() => true), `Admin price of ${price.model} removed`)
    if (ok) prices.reload()
  }
  const lookUp = async (event: Event) => {
    event.preventDefault()
    const model = fieldsOf(event.currentTarget as HTMLFormElement).text('model')
    const price = await run(() => call<Price>('price', { params: { model } }))
    setFound(price ?? null)
  }

  return (
    <section>
      <PageHeader title="Prices">
        {editing === null ? (
          <button type="button" class="primary" onClick={() => setEditing('new')}>
            Set a price
          </button>
        ) : null}
      </PageHeader>
      <p class="muted">
        USD per 1M tokens. <em>admin</em> prices override the bundled <em>catalogue</em>; the model <code>*</code> is the default price for models
        priced nowhere else. Cache prices left empty bill cached tokens at the input price.
      </p>
      <form class="filters card" onSubmit={lookUp} aria-label="Look up a model's price">
        <label>
          Model
          <input name="model" required maxLength={128} placeholder="gpt-4o" />
        </label>
        <button type="submit" disabled={busy}>
          Look up price
        </button>
        {found ? (
          <p class="lookup" role="status">
            <strong>{found.model}</strong>: in ${found.input_per_1m} · out ${found.output_per_1m} · per request ${found.per_request} ·{' '}
            <span class={`badge badge-${found.source}`}>{found.source}</span>
            {found.catalogue_model ? <small class="muted"> ({found.catalogue_model})</small> : null}{' '}
            <button type="button" class="link" onClick={() => setEditing(found)}>
              Set an admin price
            </button>
          </p>
        ) : null}
      </form>
      {editing !== null ? <PriceForm price={editing === 'new' ? undefined : editing} busy={busy} onSubmit={save} onCancel={() => setEditing(null)} /> : null}
      <Async state={prices} isEmpty={(p) => p.data.length === 0} empty="No prices yet: set one, or enable a channel whose models the catalogue knows.">
        {(p) => (
          <table class="list" data-testid="price-table">
            <thead>
              <tr>
                <th scope="col">Model</th>
                <th scope="col">Source</th>
                <th scope="col">Input</th>
                <th scope="col">Output</th>
                <th scope="col">Per request</th>
                <th scope="col">Cache read</th>
                <th scope="col">Cache write</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {p.data.map((price) => (
                <tr key={price.model} data-model={price.model}>
                  <td data-label="Model">{price.model}</td>
                  <td data-label="Source">
                    <span class={`badge badge-${price.source}`}>{price.source}</span>
                    {price.catalogue_model ? <small class="muted"> {price.catalogue_model}</small> : null}
                  </td>
                  <td data-label="Input">${price.input_per_1m}</td>
                  <td data-label="Output">${price.output_per_1m}</td>
                  <td data-label="Per request">${price.per_request}</td>
                  <td data-label="Cache read">{money(price.cache_read_per_1m)}</td>
                  <td data-label="Cache write">{money(price.cache_write_per_1m)}</td>
                  <td data-label="Actions" class="actions">
                    <button type="button" onClick={() => setEditing(price)}>
                      {price.source === 'admin' ? 'Edit' : 'Override'}
                    </button>
                    {price.source === 'admin' ? <ConfirmButton label="Remove" disabled={busy} onConfirm={() => remove(price)} /> : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Async>
    </section>
  )
}

function PriceForm({ price, busy, onSubmit, onCancel }: { price?: Price; busy: boolean; onSubmit(model: string, input: PriceInput): void; onCancel(): void }) {
  const submit = (event: Event) => {
    event.preventDefault()
    const f = fieldsOf(event.currentTarget as HTMLFormElement)
    // Decimal strings go as typed: the gateway converts them exactly, with no binary rounding on the way.
    const input: PriceInput = {
      input_per_1m: f.text('input') || '0',
      output_per_1m: f.text('output') || '0',
      per_request: f.text('per_request') || '0',
      cache_read_per_1m: f.text('cache_read') || null,
      cache_write_per_1m: f.text('cache_write') || null,
    }
    onSubmit(price?.model ?? f.text('model'), input)
  }
  const decimal = { inputMode: 'decimal' as const, pattern: '\\d+(\\.\\d+)?', maxLength: 32, placeholder: '0' }
  return (
    <form class="card form-grid" onSubmit={submit} aria-label={price ? `Price of ${price.model}` : 'New price'}>
      <h2 class="span-all">{price ? `Admin price of ${price.model}` : 'Set a price'}</h2>
      {!price ? (
        <label>
          Model
          <input name="model" required maxLength={128} placeholder="gpt-4o-mini or *" />
        </label>
      ) : null}
      <label>
        Input, USD / 1M
        <input name="input" {...decimal} defaultValue={price ? String(price.input_per_1m) : ''} />
      </label>
      <label>
        Output, USD / 1M
        <input name="output" {...decimal} defaultValue={price ? String(price.output_per_1m) : ''} />
      </label>
      <label>
        Per request, USD
        <input name="per_request" {...decimal} defaultValue={price ? String(price.per_request) : ''} />
      </label>
      <label>
        Cache read, USD / 1M <small class="muted">(empty = input price)</small>
        <input name="cache_read" {...decimal} placeholder="" defaultValue={price?.cache_read_per_1m != null ? String(price.cache_read_per_1m) : ''} />
      </label>
      <label>
        Cache write, USD / 1M <small class="muted">(empty = input price)</small>
        <input name="cache_write" {...decimal} placeholder="" defaultValue={price?.cache_write_per_1m != null ? String(price.cache_write_per_1m) : ''} />
      </label>
      <div class="form-actions span-all">
        <button type="submit" class="primary" disabled={busy}>
          Save price
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  )
}
