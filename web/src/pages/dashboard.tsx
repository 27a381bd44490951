import { useEffect, useState } from 'preact/hooks'
import { call, type Stats } from '../api'
import { useMe } from '../app'
import { BarChart } from '../chart'
import { compact, count, usd, utcDay } from '../format'
import { Async, PageHeader, useLoad } from '../ui'

const RANGES = [7, 14, 30, 90]

/** Requests, tokens and spend by day and by model (GET /api/log/stat), and the balance (GET /api/user/self). */
export function Dashboard() {
  const me = useMe()
  const [days, setDays] = useState(14)
  const from = utcDay(days - 1)
  const stats = useLoad(() => call<Stats>('stat', { query: { from } }), [from])

  // The balance moves with every request: read it afresh when the dashboard opens.
  useEffect(() => {
    me.refresh().catch(() => {})
  }, [])

  return (
    <section>
      <PageHeader title="Dashboard">
        <label class="inline">
          Period
          <select value={String(days)} onChange={(e) => setDays(Number((e.currentTarget as HTMLSelectElement).value))}>
            {RANGES.map((n) => (
              <option value={String(n)} key={n}>
                last {n} days
              </option>
            ))}
          </select>
        </label>
      </PageHeader>
      {me.isAdmin ? <p class="muted">Figures cover every user (you are an administrator).</p> : null}
      <div class="cards">
        <div class="card stat">
          <span>Balance</span>
          <strong data-testid="balance">{usd(me.user.quota)}</strong>
          <small data-testid="balance-quota">{count(me.user.quota)} quota</small>
        </div>
        <div class="card stat">
          <span>Spent, all time</span>
          <strong>{usd(me.user.used_quota)}</strong>
          <small>{count(me.user.request_count)} requests</small>
        </div>
        {stats.data ? (
          <>
            <div class="card stat">
              <span>Requests, {days} days</span>
              <strong data-testid="period-requests">{count(stats.data.requests)}</strong>
              <small>{usd(stats.data.quota)} spent</small>
            </div>
            <div class="card stat">
              <span>Tokens, {days} days</span>
              <strong>{compact(stats.data.prompt_tokens + stats.data.completion_tokens)}</strong>
              <small>
                {count(stats.data.prompt_tokens)} in · {count(stats.data.completion_tokens)} out
              </small>
            </div>
          </>
        ) : null}
      </div>
      <Async state={stats} isEmpty={(s) => s.requests === 0} empty="No requests in this period yet. Create an API key and make a request to see charts here.">
        {(s) => <Charts stats={s} days={days} />}
      </Async>
    </section>
  )
}

function Charts({ stats, days }: { stats: Stats; days: number }) {
  // Every day of the period, so quiet days show as gaps rather than vanishing.
  const byDate = new Map(stats.by_day.map((d) => [d.date, d]))
  const dates = Array.from({ length: days }, (_, i) => utcDay(days - 1 - i))
  const dayLabels = dates.map((d) => d.slice(5))
  const models = [...stats.by_model].sort((a, b) => b.quota - a.quota || b.requests - a.requests).slice(0, 12)
  const modelLabels = models.map((m) => (m.model.length > 18 ? `${m.model.slice(0, 17)}…` : m.model))

  return (
    <div class="charts">
      <BarChart
        title="Requests and spend by day (UTC)"
        xLabel="Day"
        labels={dayLabels}
        series={[
          { label: 'Requests', axis: 'left', values: dates.map((d) => byDate.get(d)?.requests ?? 0), format: compact },
          { label: 'Spend', axis: 'right', values: dates.map((d) => byDate.get(d)?.quota ?? 0), format: usd },
        ]}
        table={<DayTable stats={stats} />}
      />
      <BarChart
        title="Tokens by day (UTC)"
        xLabel="Day"
        labels={dayLabels}
        series={[
          { label: 'Prompt tokens', axis: 'left', values: dates.map((d) => byDate.get(d)?.prompt_tokens ?? 0), format: compact },
          { label: 'Completion tokens', axis: 'left', values: dates.map((d) => byDate.get(d)?.completion_tokens ?? 0), format: compact },
        ]}
        table={<DayTable stats={stats} />}
      />
      <BarChart
        title="Tokens by model"
        xLabel="Model"
        labels={modelLabels}
        series={[
          { label: 'Prompt tokens', axis: 'left', values: models.map((m) => m.prompt_tokens), format: compact },
          { label: 'Completion tokens', axis: 'left', values: models.map((m) => m.completion_tokens), format: compact },
        ]}
        table={<ModelTable stats={stats} />}
      />
      <BarChart
        title="Spend and requests by model"
        xLabel="Model"
        labels={modelLabels}
        series={[
          { label: 'Spend', axis: 'left', values: models.map((m) => m.quota), format: usd },
          { label: 'Requests', axis: 'right', values: models.map((m) => m.requests), format: compact },
        ]}
        table={<ModelTable stats={stats} />}
      />
    </div>
  )
}

/** The by-day figures behind both day charts, as a table. */
function DayTable({ stats }: { stats: Stats }) {
  return (
    <table>
      <thead>
        <tr>
          <th scope="col">Day</th>
          <th scope="col">Requests</th>
          <th scope="col">Prompt</th>
          <th scope="col">Completion</th>
          <th scope="col">Spend</th>
        </tr>
      </thead>
      <tbody>
        {stats.by_day.map((d) => (
          <tr key={d.date}>
            <td>{d.date}</td>
            <td>{count(d.requests)}</td>
            <td>{count(d.prompt_tokens)}</td>
            <td>{count(d.completion_tokens)}</td>
            <td>{usd(d.quota)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  )
}

function ModelTable({ stats }: { stats: Stats }) {
  return (
    <table>
      <thead>
        <tr>
          <th scope="col">Model</th>
          <th scope="col">Requests</th>
          <th scope="col">Prompt</th>
          <th scope="col">Completion</th>
          <th scope="col">Spend</th>
        </tr>
      </thead>
      <tbody>
        {stats.by_model.map((m) => (
          <tr key={m.model}>
            <td>{m.model}</td>
            <td>{count(m.requests)}</td>
            <td>{count(m.prompt_tokens)}</td>
            <td>{count(m.completion_tokens)}</td>
            <td>{usd(m.quota)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  )
}
