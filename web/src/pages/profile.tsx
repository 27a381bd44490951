import { call, type User } from '../api'
import { useMe } from '../app'
import { count, dateTime, usd } from '../format'
import { PageHeader, fieldsOf, notify, useAction } from '../ui'

/** Profile (PATCH /api/user/self), password (PUT /api/user/self/password) and redeeming a recharge code. */
export function Profile() {
  const me = useMe()
  const user = me.user
  const [busy, run] = useAction()

  const saveProfile = async (event: Event) => {
    event.preventDefault()
    const f = fieldsOf(event.currentTarget as HTMLFormElement)
    const body = { username: f.text('username'), email: f.text('email') || null }
    if (await run(() => call<User>('updateSelf', { body }), 'Profile saved')) await me.refresh()
  }

  const changePassword = async (event: Event) => {
    event.preventDefault()
    const form = event.currentTarget as HTMLFormElement
    const data = new FormData(form)
    const oldPassword = String(data.get('old_password') ?? '')
    const newPassword = String(data.get('new_password') ?? '')
    if (newPassword !== String(data.get('confirm_password') ?? '')) {
      notify('error', 'The new passwords do not match.')
      return
    }
    const done = await run(() => call<void>('changePassword', { body: { old_password: oldPassword, new_password: newPassword } }).then(() => true))
    // Every earlier session, this one included, is refused from now on: sign in again.
    if (done) me.signOut('Password changed. Sign in with your new password.', 'ok')
  }

  const redeem = async (event: Event) => {
    event.preventDefault()
    const form = event.currentTarget as HTMLFormElement
    const code = fieldsOf(form).text('code')
    const result = await run(
      () => call<{ added_quota: number; quota: number }>('redeem', { body: { code } }),
      (r) => `Code redeemed: ${usd(r.added_quota)} added, balance ${usd(r.quota)}`,
    )
    if (result) {
      form.reset()
      await me.refresh()
    }
  }

  return (
    <section>
      <PageHeader title="Profile" />
      <div class="cards">
        <div class="card stat">
          <span>Balance</span>
          <strong>{usd(user.quota)}</strong>
          <small>{count(user.quota)} quota</small>
        </div>
        <div class="card stat">
          <span>Role · group</span>
          <strong>{user.role}</strong>
          <small>group {user.group}</small>
        </div>
        <div class="card stat">
          <span>Member since</span>
          <strong>{dateTime(user.created_at)}</strong>
          <small>last sign-in {dateTime(user.last_login_at)}</small>
        </div>
      </div>
      <div class="columns">
        <form class="card" onSubmit={redeem} aria-label="Redeem a code">
          <h2>Redeem a recharge code</h2>
          <label>
            Code
            <input name="code" required maxLength={128} autocomplete="off" spellcheck={false} placeholder="nxr-…" />
          </label>
          <button type="submit" class="primary" disabled={busy}>
            Redeem
          </button>
        </form>
        <form class="card" onSubmit={saveProfile} aria-label="Profile">
          <h2>Profile</h2>
          <label>
            Username
            <input name="username" required minLength={3} maxLength={50} pattern="[A-Za-z0-9_.\-]+" defaultValue={user.username} autocomplete="username" />
          </label>
          <label>
            Email
            <input name="email" type="email" maxLength={254} defaultValue={user.email ?? ''} autocomplete="email" />
          </label>
          <button type="submit" class="primary" disabled={busy}>
            Save profile
          </button>
        </form>
        <form class="card" onSubmit={changePassword} aria-label="Change password">
          <h2>Change password</h2>
          <label>
            Current password
            <input name="old_password" type="password" required autocomplete="current-password" />
          </label>
          <label>
            New password
            <input name="new_password" type="password" required minLength={8} maxLength={128} autocomplete="new-password" />
          </label>
          <label>
            New password again
            <input name="confirm_password" type="password" required minLength={8} maxLength={128} autocomplete="new-password" />
          </label>
          <p class="muted">You will be signed out everywhere and sign in again.</p>
          <button type="submit" class="primary" disabled={busy}>
            Change password
          </button>
        </form>
      </div>
    </section>
  )
}
