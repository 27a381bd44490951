import { useState } from 'preact/hooks'
import { call, type AdminUser, type Page, type User } from '../../api'
import { count, dateTime, usd, usdToQuota } from '../../format'
import { Async, PageHeader, Pager, Status, fieldsOf, notify, useAction, useLoad } from '../../ui'

/** Users (CONTRACT §5 "Users (admin)"): search, role, status, group, and quota adjustments (recorded like top-ups). */
export function Users() {
  const [keyword, setKeyword] = useState('')
  const [page, setPage] = useState(1)
  const users = useLoad(() => call<Page<AdminUser>>('users', { query: { keyword, page, page_size: 20 } }), [keyword, page])
  const [open, setOpen] = useState<number | null>(null)

  return (
    <section>
      <PageHeader title="Users" />
      <form
        class="filters card"
        role="search"
        onSubmit={(e) => {
          e.preventDefault()
          setKeyword(fieldsOf(e.currentTarget as HTMLFormElement).text('keyword'))
          setPage(1)
        }}
      >
        <label>
          Username or email
          <input name="keyword" type="search" maxLength={100} />
        </label>
        <button type="submit" class="primary">
          Search
        </button>
      </form>
      <Async state={users} isEmpty={(p) => p.total === 0} empty="No users match.">
        {(p) => (
          <>
            <table class="list">
              <thead>
                <tr>
                  <th scope="col">User</th>
                  <th scope="col">Role</th>
                  <th scope="col">Status</th>
                  <th scope="col">Group</th>
                  <th scope="col">Balance</th>
                  <th scope="col">Used</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {p.data.map((user) => [
                  <tr key={user.id}>
                    <td data-label="User">
                      <strong>{user.username}</strong> <small class="muted">#{user.id}</small>
                      {user.is_root ? <span class="badge">root</span> : null}
                      {user.is_external ? <span class="badge">partner</span> : null}
                      <div class="muted wrap">{user.email ?? ''}</div>
                    </td>
                    <td data-label="Role">{user.role}</td>
                    <td data-label="Status">
                      <Status value={user.status} />
                    </td>
                    <td data-label="Group">{user.group}</td>
                    <td data-label="Balance">{usd(user.quota)}</td>
                    <td data-label="Used">
                      {usd(user.used_quota)} · {count(user.request_count)} req
                      <div>
                        <small class="muted">last sign-in {dateTime(user.last_login_at)}</small>
                      </div>
                    </td>
                    <td data-label="Actions" class="actions">
                      <button type="button" aria-expanded={open === user.id} onClick={() => setOpen(open === user.id ? null : user.id)}>
                        {open === user.id ? 'Close' : 'Manage'}
                      </button>
                    </td>
                  </tr>,
                  open === user.id ? (
                    <tr key={`${user.id}-manage`} class="expanded">
                      <td colSpan={7}>
                        <ManageUser user={user} onChanged={users.reload} />
                      </td>
                    </tr>
                  ) : null,
                ])}
              </tbody>
            </table>
            <Pager page={p.page} pageSize={p.page_size} total={p.total} onPage={setPage} />
          </>
        )}
      </Async>
    </section>
  )
}

function ManageUser({ user, onChanged }: { user: AdminUser; onChanged(): void }) {
  const [busy, run] = useAction()

  const save = async (event: Event) => {
    event.preventDefault()
    const f = fieldsOf(event.currentTarget as HTMLFormElement)
    // Root's role and status are fixed (their fields are disabled, so absent from the form).
    const body = user.is_root ? { group: f.text('group') } : { role: f.text('role'), status: f.text('status'), group: f.text('group') }
    if (await run(() => call<AdminUser>('updateUser', { params: { id: user.id }, body }), `User ${user.username} saved`)) onChanged()
  }

  const adjust = async (event: Event) => {
    event.preventDefault()
    const form = event.currentTarget as HTMLFormElement
    const f = fieldsOf(form)
    const delta = usdToQuota(Number(f.text('usd')))
    if (!Number.isSafeInteger(delta) || delta === 0) {
      notify('error', 'Enter a non-zero amount in USD (negative to take away).')
      return
    }
    const done = await run(
      () => call<User>('adjustQuota', { params: { id: user.id }, body: { delta, remark: f.text('remark') } }),
      (u) => `${delta > 0 ? 'Added' : 'Took'} ${usd(Math.abs(delta))} ${delta > 0 ? 'to' : 'from'} ${user.username}: balance ${usd(u.quota)}`,
    )
    if (done) {
      form.reset()
      onChanged()
    }
  }

  return (
    <div class="columns">
      <form class="card form-grid" onSubmit={save} aria-label={`Role, status and group of ${user.username}`}>
        <h2 class="span-all">Account</h2>
        <label>
          Role
          <select name="role" defaultValue={user.role} disabled={user.is_root}>
            <option value="user">user</option>
            <option value="admin">admin</option>
          </select>
        </label>
        <label>
          Status
          <select name="status" defaultValue={user.status} disabled={user.is_root}>
            <option value="enabled">enabled</option>
            <option value="disabled">disabled</option>
          </select>
        </label>
        <label>
          Group
          <input name="group" required maxLength={64} pattern="[A-Za-z0-9_.\-]+" defaultValue={user.group} />
        </label>
        {user.is_root ? <p class="muted span-all">The root admin cannot be demoted or disabled.</p> : null}
        <div class="form-actions span-all">
          <button type="submit" class="primary" disabled={busy}>
            Save
          </button>
        </div>
      </form>
      <form class="card form-grid" onSubmit={adjust} aria-label={`Adjust the balance of ${user.username}`}>
        <h2 class="span-all">Adjust balance</h2>
        <label>
          Amount in USD <small class="muted">(negative takes away)</small>
          <input name="usd" type="number" step="0.01" required />
        </label>
        <label>
          Remark
          <input name="remark" required maxLength={255} placeholder="why, for the ledger" />
        </label>
        <div class="form-actions span-all">
          <button type="submit" class="primary" disabled={busy}>
            Apply
          </button>
        </div>
      </form>
    </div>
  )
}
