// The shell: session, the signed-in user, navigation, and which page a path shows.
import { createContext, type ComponentChildren } from 'preact'
import { useCallback, useContext, useEffect, useRef, useState } from 'preact/hooks'
import { call, revokeSession, session, type User } from './api'
import { onLinkClick, navigate, usePath } from './router'
import { Loading, LoadError, Notices, notify } from './ui'
import { Dashboard } from './pages/dashboard'
import { Keys } from './pages/keys'
import { Logs } from './pages/logs'
import { Chat } from './pages/chat'
import { PersonalApis } from './pages/personal-apis'
import { Profile } from './pages/profile'
import { SignIn } from './pages/sign-in'
import { Channels } from './pages/admin/channels'
import { Users } from './pages/admin/users'
import { Prices } from './pages/admin/prices'
import { Codes } from './pages/admin/codes'

export interface Me {
  user: User
  isAdmin: boolean
  /** Re-reads the user (balance after a redeem, name after a profile change). */
  refresh(): Promise<void>
  /** Forgets the session; with a message, says why (the session is already gone server-side then). */
  signOut(message?: string, kind?: 'ok' | 'error'): void
}

const MeContext = createContext<Me | null>(null)

export function useMe(): Me {
  const me = useContext(MeContext)
  if (!me) throw new Error('useMe outside the signed-in shell')
  return me
}

interface PageDef {
  path: string
  title: string
  admin?: boolean
  render(): ComponentChildren
}

const PAGES: PageDef[] = [
  { path: '/', title: 'Dashboard', render: () => <Dashboard /> },
  { path: '/keys', title: 'API keys', render: () => <Keys /> },
  { path: '/logs', title: 'Usage log', render: () => <Logs /> },
  { path: '/chat', title: 'Chat', render: () => <Chat /> },
  { path: '/personal-apis', title: 'Personal APIs', render: () => <PersonalApis /> },
  { path: '/profile', title: 'Profile', render: () => <Profile /> },
  { path: '/admin/channels', title: 'Channels', admin: true, render: () => <Channels /> },
  { path: '/admin/users', title: 'Users', admin: true, render: () => <Users /> },
  { path: '/admin/prices', title: 'Prices', admin: true, render: () => <Prices /> },
  { path: '/admin/codes', title: 'Recharge codes', admin: true, render: () => <Codes /> },
]

function pageFor(path: string): PageDef | undefined {
  // /chat/12 is the chat page with conversation 12 open.
  return PAGES.find((p) => p.path === path || (p.path !== '/' && path.startsWith(`${p.path}/`)))
}

function NavLink({ href, children, current, onNavigate }: { href: string; children: ComponentChildren; current: boolean; onNavigate(): void }) {
  return (
    <a
      href={href}
      aria-current={current ? 'page' : undefined}
      onClick={(e) => {
        onLinkClick(e, href)
        onNavigate()
      }}
    >
      {children}
    </a>
  )
}

function Shell({ me, path }: { me: Me; path: string }) {
  const [menuOpen, setMenuOpen] = useState(false)
  const page = pageFor(path)
  const main = useRef<HTMLElement>(null)
  const title = page?.title ?? 'Not found'
  const allowed = page && (!page.admin || me.isAdmin)

  const firstPage = useRef(true)
  useEffect(() => {
    document.title = `${title} · nexus`
    // After a navigation, keyboard and screen-reader users land on the new page's content, not back at the top of
    // the nav. A fresh load leaves focus where the browser puts it (so the first Tab finds the skip link).
    if (firstPage.current) firstPage.current = false
    else main.current?.focus({ preventScroll: true })
  }, [page])

  const link = (p: PageDef) => (
    <li key={p.path}>
      <NavLink href={p.path} current={page === p} onNavigate={() => setMenuOpen(false)}>
        {p.title}
      </NavLink>
    </li>
  )

  return (
    <div class="shell">
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="topbar">
        <a class="brand" href="/" onClick={(e) => onLinkClick(e, '/')}>
          nexus
        </a>
        <button type="button" class="menu-toggle" aria-expanded={menuOpen} aria-controls="nav" onClick={() => setMenuOpen(!menuOpen)}>
          Menu
        </button>
        <span class="whoami">
          {me.user.username}
          {me.isAdmin ? <span class="badge">admin</span> : null}
        </span>
      </header>
      <nav id="nav" class={menuOpen ? 'nav open' : 'nav'} aria-label="Main">
        <ul>{PAGES.filter((p) => !p.admin).map(link)}</ul>
        {me.isAdmin ? (
          <>
            <h2 class="nav-heading">Admin</h2>
            <ul>{PAGES.filter((p) => p.admin).map(link)}</ul>
          </>
        ) : null}
        <button type="button" class="link signout" onClick={() => me.signOut()}>
          Sign out
        </button>
      </nav>
      <main id="main" ref={main} tabIndex={-1}>
        {!page ? (
          <section>
            <h1>Not found</h1>
            <p>
              There is no page at <code>{path}</code>. <a href="/" onClick={(e) => onLinkClick(e, '/')}>Go to the dashboard</a>.
            </p>
          </section>
        ) : !allowed ? (
          <section>
            <h1>{page.title}</h1>
            <p class="load-error" role="alert">
              This page is for administrators.
            </p>
          </section>
        ) : (
          page.render()
        )}
      </main>
      <Notices />
    </div>
  )
}

export function App() {
  const path = usePath()
  const [token, setToken] = useState(session.token)
  const [user, setUser] = useState<User | null>(null)
  const [error, setError] = useState<unknown>(null)

  const signOut = useCallback((message?: string, kind: 'ok' | 'error' = 'error') => {
    const current = session.token
    session.clear()
    setToken(null)
    setUser(null)
    // Revoke the JWT server-side too; the page does not wait for it.
    if (current && !message) void revokeSession(current)
    if (message) notify(kind, message)
    else notify('ok', 'Signed out')
  }, [])

  useEffect(() => {
    session.onLost((reason) => signOut(`Signed out: ${reason}`))
  }, [signOut])

  const refresh = useCallback(async () => {
    setUser(await call<User>('self'))
  }, [])

  useEffect(() => {
    if (token && path === '/signin') navigate('/', { replace: true })
  }, [token, path])

  useEffect(() => {
    if (!token) return
    setError(null)
    refresh().catch(setError)
  }, [token, refresh])

  if (!token) {
    return (
      <>
        <SignIn
          onSignedIn={(accessToken, signedIn) => {
            session.set(accessToken)
            setUser(signedIn)
            setToken(accessToken)
            if (path === '/signin') navigate('/', { replace: true })
          }}
        />
        <Notices />
      </>
    )
  }
  if (!user) {
    return error ? <LoadError error={error} retry={() => refresh().catch(setError)} /> : <Loading what="Signing in" />
  }
  const me: Me = { user, isAdmin: user.role === 'admin', refresh, signOut }
  return (
    <MeContext.Provider value={me}>
      <Shell me={me} path={path} />
    </MeContext.Provider>
  )
}
