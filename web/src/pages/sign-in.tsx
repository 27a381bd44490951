import { useState } from 'preact/hooks'
import { call, errorMessage, type LoginResult, type User } from '../api'
import { fieldsOf, notify } from '../ui'

/** Sign in (CONTRACT §5 login), or create an account first when registration is open. */
export function SignIn({ onSignedIn }: { onSignedIn(token: string, user: User): void }) {
  const [mode, setMode] = useState<'signin' | 'register'>('signin')
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)

  const submit = async (event: Event) => {
    event.preventDefault()
    const f = fieldsOf(event.currentTarget as HTMLFormElement)
    const username = f.text('username')
    const password = String(new FormData(event.currentTarget as HTMLFormElement).get('password') ?? '')
    setBusy(true)
    setError(null)
    try {
      if (mode === 'register') {
        await call<User>('register', { body: { username, password, ...(f.optional('email') ? { email: f.text('email') } : {}) } })
        notify('ok', `Account ${username} created`)
      }
      const result = await call<LoginResult>('login', { body: { username, password } })
      onSignedIn(result.access_token, result.user)
    } catch (err) {
      setError(errorMessage(err))
    } finally {
      setBusy(false)
    }
  }

  const registering = mode === 'register'
  return (
    <main class="signin" id="main">
      <form class="card signin-card" onSubmit={submit} aria-describedby={error ? 'signin-error' : undefined}>
        <h1>{registering ? 'Create an account' : 'Sign in to nexus'}</h1>
        <label>
          {registering ? 'Username' : 'Username or email'}
          <input name="username" autocomplete="username" required minLength={registering ? 3 : 1} maxLength={registering ? 50 : 254} />
        </label>
        {registering ? (
          <label>
            Email <span class="muted">(optional)</span>
            <input name="email" type="email" autocomplete="email" />
          </label>
        ) : null}
        <label>
          Password
          <input name="password" type="password" autocomplete={registering ? 'new-password' : 'current-password'} required minLength={registering ? 8 : 1} maxLength={128} />
        </label>
        {error ? (
          <p class="form-error" id="signin-error" role="alert">
            {error}
          </p>
        ) : null}
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Please wait…' : registering ? 'Create account' : 'Sign in'}
        </button>
        <button
          type="button"
          class="link"
          onClick={() => {
            setMode(registering ? 'signin' : 'register')
            setError(null)
          }}
        >
          {registering ? 'I have an account: sign in' : 'No account? Create one'}
        </button>
      </form>
    </main>
  )
}
