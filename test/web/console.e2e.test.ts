// The web console end to end (CONTRACT §10, issue 14), in Debian's Chromium driven by playwright-core, against a
// real gateway listening on 127.0.0.1 and the fake OpenAI upstream. SQLite only: the console is not storage-specific
// (the API it calls is covered on both backends by the domain suites). Skipped when /usr/bin/chromium is missing.
//
// Screenshots of every page at 375 and 1440 px go to test-results/console/; with DOC_SCREENSHOTS=1 the dashboard,
// channels and chat at 1440 px are also written to docs/screenshots/ for the README.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type BrowserContext, type Locator, type Page } from 'playwright-core'
import t from 'tap'
import { sqliteBackend } from '../support/backends.js'
import { ADMIN, buildApp } from '../support/build-app.js'
import { startFakeUpstream } from '../support/fake-upstream.js'
import { ensureConsoleBuilt, ROOT } from './support.js'

const CHROMIUM = '/usr/bin/chromium'
const MODEL = 'e2e-model'
const SHOTS = join(ROOT, 'test-results', 'console')
const DOC_SHOTS = join(ROOT, 'docs', 'screenshots')
const WIDE = { width: 1440, height: 900 }
const NARROW = { width: 375, height: 812 }

/** Evaluates an expression in the page. As text: this file is type-checked with Node's types, not the DOM's. */
const inPage = <T>(page: Page, expression: string): Promise<T> => page.evaluate(expression) as Promise<T>

t.test('web console in Chromium', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed`, timeout: 120_000 }, async (t) => {
  await ensureConsoleBuilt()
  // Paced streams (20 chunks, 60 ms apart) leave time to cancel a reply mid-way.
  const upstream = await startFakeUpstream({ paceMs: 60 })
  t.teardown(() => upstream.close())
  const { app } = await buildApp(t, sqliteBackend, { env: { PERSONAL_API_ALLOW_PRIVATE: 'true' } })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`

  const profile = mkdtempSync(join(tmpdir(), 'nexus-chromium-'))
  const context: BrowserContext = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: WIDE,
    // Deterministic screenshots: a light page and no animations.
    colorScheme: 'light',
    reducedMotion: 'reduce',
  })
  t.teardown(async () => {
    await context.close()
    rmSync(profile, { recursive: true, force: true })
  })
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base })
  mkdirSync(SHOTS, { recursive: true })

  // Any CSP violation or uncaught error on any page fails the run.
  const problems: string[] = []
  const watch = (page: Page) => {
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`))
    page.on('console', (msg) => {
      if (msg.type() === 'error' && /Content Security Policy|Refused to/i.test(msg.text())) problems.push(`CSP: ${msg.text()}`)
    })
    page.setDefaultTimeout(10_000)
    return page
  }
  const page = watch(context.pages()[0] ?? (await context.newPage()))
  const notice = (text: string | RegExp) => page.locator('.notice', { hasText: text }).first()
  // A notice can show before the list behind it has re-rendered: wait (up to the locator timeout) for the row to say
  // it, then read it; a row that never does fails the assertion with its actual text.
  const textOnceMatching = async (row: Locator, pattern: RegExp): Promise<string> => {
    await row.filter({ hasText: pattern }).first().waitFor({ timeout: 5_000 }).catch(() => undefined)
    return (await row.textContent()) ?? ''
  }
  // A select is rendered before the list it offers has loaded, and picks its default a render later: wait (up to
  // 5 s) for the value, then read it; one that never comes fails the assertion with the actual value.
  const valueOnceEqual = async (select: Locator, expected: string): Promise<string> => {
    const until = Date.now() + 5_000
    let value = await select.inputValue()
    while (value !== expected && Date.now() < until) {
      await page.waitForTimeout(100)
      value = await select.inputValue()
    }
    return value
  }
  const nav = (name: string) => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true }).click()
  const started = Date.now()
  const section = (name: string) => t.comment(`${((Date.now() - started) / 1000).toFixed(1)} s: ${name}`)

  section('sign in')
  await page.goto(base + '/')
  await page.getByRole('heading', { name: 'Sign in to nexus' }).waitFor()
  await page.screenshot({ path: join(SHOTS, 'sign-in-1440.png') })
  await page.getByLabel('Password').fill('wrong-password')
  await page.getByLabel('Username or email').fill(ADMIN.username)
  await page.getByRole('button', { name: 'Sign in' }).click()
  t.match(await page.getByRole('alert').filter({ hasText: 'wrong username or password' }).textContent(), /wrong username or password/, 'a failed sign-in shows the API message')
  await page.getByLabel('Password').fill(ADMIN.password)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.getByRole('heading', { name: 'Dashboard' }).waitFor()
  await page.getByText('No requests in this period yet').waitFor()
  t.ok(await page.getByText('No requests in this period yet').isVisible(), 'the dashboard starts empty')
  const storedSession = await inPage<string | null>(page, `sessionStorage.getItem('nexus.session')`)
  t.match(storedSession, /^ey/, 'the JWT is kept in sessionStorage')
  t.equal(await inPage<number>(page, 'localStorage.length'), 0, 'nothing in localStorage')

  section('keyboard: the first Tab reaches the skip link, with a visible focus ring')
  await page.keyboard.press('Tab')
  t.equal(await inPage<string>(page, 'document.activeElement?.textContent'), 'Skip to content')
  t.ok(await inPage<boolean>(page, `document.activeElement?.matches(':focus-visible')`), 'focus is visible')

  section('admin: a channel against the fake upstream; test it')
  await nav('Channels')
  await page.getByRole('heading', { name: 'Channels' }).waitFor()
  await page.getByRole('button', { name: 'New channel' }).click()
  const channelForm = page.getByRole('form', { name: 'New channel' })
  await channelForm.getByLabel('Name').fill('fake upstream')
  await channelForm.getByLabel('Base URL').fill(upstream.url)
  await channelForm.getByLabel('Key').fill('ok-e2e-channel-key-0123')
  await channelForm.getByLabel('Models').fill(MODEL)
  await channelForm.getByRole('button', { name: 'Create channel' }).click()
  await notice('Channel “fake upstream” created').waitFor()
  const channelRow = page.locator('tr[data-channel="fake upstream"]')
  t.match(await textOnceMatching(channelRow, /enabled/), /enabled/, 'the new channel is listed, enabled')
  t.match(await channelRow.textContent(), /ok-e2\.\.\.0123/, 'its key masked')
  await channelRow.getByRole('button', { name: 'Test' }).click()
  await notice(/Channel “fake upstream” answered 200/).waitFor()
  t.match(await textOnceMatching(channelRow, /test ok/), /test ok/, 'the test result is shown on the row')
  await channelRow.getByRole('button', { name: 'Disable' }).click()
  await notice('Channel “fake upstream” disabled').waitFor()
  await channelRow.getByRole('button', { name: 'Enable' }).click()
  await notice('Channel “fake upstream” enabled').waitFor()
  t.match(await textOnceMatching(channelRow, /enabled/), /enabled/)
  // A preferred channel whose key the upstream refuses: the first relayed request auto-disables it (see below).
  await page.getByRole('button', { name: 'New channel' }).click()
  await channelForm.getByLabel('Name').fill('primary (revoked key)')
  await channelForm.getByLabel('Base URL').fill(upstream.url)
  await channelForm.getByLabel('Key').fill('bad-revoked-key-4567')
  await channelForm.getByLabel('Models').fill(MODEL)
  await channelForm.getByLabel('Priority').fill('10')
  await channelForm.getByRole('button', { name: 'Create channel' }).click()
  await notice('Channel “primary (revoked key)” created').waitFor()

  section('admin: a price for the model')
  await nav('Prices')
  await page.getByRole('button', { name: 'Set a price' }).click()
  const priceForm = page.getByRole('form', { name: 'New price' })
  await priceForm.getByLabel('Model').fill(MODEL)
  await priceForm.getByLabel('Input, USD / 1M').fill('1')
  await priceForm.getByLabel('Output, USD / 1M').fill('2')
  await priceForm.getByRole('button', { name: 'Save price' }).click()
  await notice(`Price of ${MODEL} saved`).waitFor()
  t.match(await page.locator(`tr[data-model="${MODEL}"]`).textContent(), /admin.*\$1.*\$2/, 'listed as an admin price')

  section('admin: give root a balance')
  await nav('Users')
  await page.getByLabel('Username or email').fill('root')
  await page.getByRole('button', { name: 'Search' }).click()
  await page.getByRole('button', { name: 'Manage' }).first().click()
  const adjust = page.getByRole('form', { name: 'Adjust the balance of root' })
  await adjust.getByLabel('Amount in USD').fill('50')
  await adjust.getByLabel('Remark').fill('e2e credit')
  await adjust.getByRole('button', { name: 'Apply' }).click()
  await notice('Added $50.00 to root: balance $50.00').waitFor()

  section('keys: created, shown once, copied; then edit, disable, delete')
  await nav('API keys')
  await page.getByRole('button', { name: 'New key' }).click()
  const keyForm = page.getByRole('form', { name: 'New key' })
  await keyForm.getByLabel('Name').fill('e2e key')
  await keyForm.getByRole('button', { name: 'Create key' }).click()
  await notice('Key “e2e key” created').waitFor()
  const key = await page.getByTestId('new-key').inputValue()
  t.match(key, /^sk-[A-Za-z0-9]{48}$/, 'the whole key is shown once')
  await page.getByRole('region', { name: 'Your new key' }).getByRole('button', { name: 'Copy' }).click()
  await page.getByRole('button', { name: 'Copied ✓' }).waitFor()
  t.equal(await inPage<string>(page, 'navigator.clipboard.readText()'), key, 'the copy button put the key on the clipboard')
  await page.screenshot({ path: join(SHOTS, 'key-shown-once-1440.png') })
  await page.getByRole('button', { name: 'I have copied it' }).click()
  await page.getByRole('region', { name: 'Your new key' }).waitFor({ state: 'detached' })
  t.notOk((await page.content()).includes(key), 'the key is gone from the page once dismissed')
  t.match(await page.locator('tbody').textContent(), new RegExp(`${key.slice(0, 5)}\\.\\.\\.${key.slice(-4)}`), 'the list shows it masked')
  const storage = await inPage<string>(page, 'JSON.stringify({ ...sessionStorage, ...localStorage })')
  t.notOk(storage.includes(key) || storage.includes('sk-'), 'no relay key in web storage')

  // A few relayed requests for the dashboard.
  const relay = (stream = false) =>
    fetch(`${base}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 50, stream }),
    })
  for (const stream of [false, false, true]) {
    const res = await relay(stream)
    t.equal(res.status, 200, `relayed with the key (stream: ${stream})`)
    await res.text()
  }

  const keyRow = page.locator('tr', { hasText: 'e2e key' })
  await keyRow.getByRole('button', { name: 'Disable' }).click()
  await notice('Key “e2e key” disabled').waitFor()
  t.match(await textOnceMatching(keyRow, /disabled/), /disabled/)
  const refused = await relay()
  t.equal(refused.status, 401, 'a disabled key is refused by the relay')
  t.match(await refused.json(), { error: { code: 'token_disabled' } })
  await keyRow.getByRole('button', { name: 'Enable' }).click()
  await notice('Key “e2e key” enabled').waitFor()
  await keyRow.getByRole('button', { name: 'Edit' }).click()
  const editKey = page.getByRole('form', { name: 'Edit key e2e key' })
  await editKey.getByLabel('Name').fill('e2e key renamed')
  await editKey.getByRole('button', { name: 'Save' }).click()
  await notice('Key “e2e key” saved').waitFor()
  await page.locator('tr', { hasText: 'e2e key renamed' }).waitFor()
  // A second key, deleted after a confirmation.
  await page.getByRole('button', { name: 'New key' }).click()
  await page.getByRole('form', { name: 'New key' }).getByLabel('Name').fill('throwaway')
  await page.getByRole('button', { name: 'Create key' }).click()
  await page.getByRole('button', { name: 'I have copied it' }).click()
  const throwaway = page.locator('tr', { hasText: 'throwaway' })
  await throwaway.getByRole('button', { name: 'Delete' }).click()
  await throwaway.getByRole('button', { name: 'Yes, delete' }).click()
  await notice('Key “throwaway” deleted').waitFor()
  await throwaway.waitFor({ state: 'detached' })

  section('channels: the refused channel was auto-disabled, with the reason; its test fails visibly')
  await nav('Channels')
  const revoked = page.locator('tr[data-channel="primary (revoked key)"]')
  t.match(await textOnceMatching(revoked, /auto disabled/), /auto disabled/, 'the channel the upstream refused is auto-disabled')
  t.match(await revoked.textContent(), /401/, 'with the reason')
  await revoked.getByRole('button', { name: 'Test' }).click()
  await notice(/Channel “primary \(revoked key\)” failed: 401/).waitFor()
  t.match(await textOnceMatching(revoked, /test failed · 401/), /test failed · 401/)

  section('dashboard: the charts show the relayed requests')
  await nav('Dashboard')
  await page.getByTestId('period-requests').waitFor()
  t.equal(await page.getByTestId('period-requests').textContent(), '3', 'three requests in the period')
  await page.locator('.chart-canvas canvas').nth(3).waitFor()
  t.equal(await page.locator('.chart-canvas canvas').count(), 4, 'four uPlot charts drawn')
  t.equal(await page.locator('.chart-canvas').first().getAttribute('data-points'), '14', 'one bar slot per day of the period')
  const byModel = await page.locator('figure', { hasText: 'Tokens by model' }).locator('details table').textContent()
  t.match(byModel, new RegExp(`${MODEL}\\s*3`), 'the by-model figures list the model with its 3 requests')
  const balance = Number((await page.getByTestId('balance-quota').textContent())!.replace(/\D/g, ''))
  t.ok(balance > 0 && balance < 25_000_000, `the balance went down from 25,000,000 quota ($50) by what the requests cost: ${balance}`)

  section('chat: a streamed reply, rendered as text; then a cancelled one')
  await nav('Chat')
  const picker = page.getByTestId('model-picker')
  await picker.waitFor()
  t.equal(await valueOnceEqual(picker, `model:${MODEL}`), `model:${MODEL}`, 'the priced, served model is offered')
  const message = page.getByLabel('Message', { exact: true })
  await message.fill('Which regions does our gateway serve?')
  await page.getByRole('button', { name: 'Send' }).click()
  // The reply streams in: the first words show while the turn is still running.
  await page.locator('article.streaming', { hasText: 'w0 ' }).waitFor()
  await page.locator('article.message-assistant[data-status="complete"]', { hasText: 'w19' }).waitFor()
  await page.waitForURL(/\/chat\/\d+$/)
  const conversationUrl = page.url()
  await page.locator('.conversations a', { hasText: 'Which regions does our gateway' }).waitFor()

  const hostile = 'Is <img src=x onerror="window.__pwned=1"> **safe**?'
  await message.fill(hostile)
  await page.getByRole('button', { name: 'Send' }).click()
  await page.locator('article.message-assistant[data-status="complete"]').nth(1).waitFor()
  t.match(await page.locator('article.message-user').nth(1).textContent(), /<img src=x onerror="window.__pwned=1">/, 'markup in a message shows as text')
  t.equal(await page.locator('.messages img').count(), 0, 'and never becomes an element')
  t.equal(await inPage<number | undefined>(page, 'window.__pwned'), undefined)
  t.equal(await page.locator('.messages strong', { hasText: 'safe' }).count(), 1, 'the tiny Markdown subset still applies')

  await message.fill('And a long answer, please')
  await page.keyboard.press('Enter')
  const streaming = page.locator('article.streaming')
  await streaming.filter({ hasText: 'w1 ' }).waitFor()
  await page.getByRole('button', { name: 'Cancel' }).click()
  await notice('Reply stopped').waitFor()
  const incomplete = page.locator('article.message-assistant[data-status="incomplete"]')
  await incomplete.waitFor()
  const partial = (await incomplete.locator('.message-text').textContent()) ?? ''
  t.match(partial, /^w0 w1 /, 'what streamed before the cancel is kept')
  t.notMatch(partial, /w19/, 'the reply stopped early')
  t.ok(await page.getByRole('button', { name: 'Send' }).isVisible(), 'ready for the next turn')

  section('personal API: add and test')
  await nav('Personal APIs')
  await page.getByRole('button', { name: 'Add personal API' }).click()
  const apiForm = page.getByRole('form', { name: 'New personal API' })
  await apiForm.getByLabel('Name').fill('my upstream')
  await apiForm.getByLabel('Base URL').fill(upstream.url)
  await apiForm.getByLabel('Model').fill('my-own-model')
  await apiForm.getByLabel('Key').fill('ok-personal-key')
  await apiForm.getByRole('button', { name: 'Add' }).click()
  await notice('Personal API “my upstream” added').waitFor()
  await page.locator('tr', { hasText: 'my upstream' }).getByRole('button', { name: 'Test' }).click()
  await notice(/“my upstream” answered in \d+ ms/).waitFor()

  section('recharge codes: minted and shown once, then redeemed on the profile')
  await nav('Recharge codes')
  const codesForm = page.getByRole('form', { name: 'New recharge codes' })
  await codesForm.getByLabel('Batch name').fill('e2e batch')
  await codesForm.getByLabel('USD per code').fill('5')
  await codesForm.getByLabel('How many').fill('2')
  await codesForm.getByRole('button', { name: 'Create codes' }).click()
  await notice('2 codes of $5 created').waitFor()
  const codes = (await page.getByTestId('new-codes').inputValue()).split('\n')
  t.equal(codes.length, 2, 'both codes shown once')
  await page.getByRole('button', { name: 'I have copied them' }).click()
  t.notOk((await page.content()).includes(codes[0]!), 'the codes are gone from the page once dismissed')

  await nav('Profile')
  const redeem = page.getByRole('form', { name: 'Redeem a code' })
  await redeem.getByLabel('Code').fill(codes[0]!)
  await redeem.getByRole('button', { name: 'Redeem' }).click()
  await notice(/Code redeemed: \$5\.00 added/).waitFor()
  await redeem.getByLabel('Code').fill(codes[0]!)
  await redeem.getByRole('button', { name: 'Redeem' }).click()
  await page.locator('.notice-error').first().waitFor()
  t.match(await page.locator('.notice-error').first().textContent(), /code/i, 'a used code: the API error message is shown')

  section('usage log, with a filter')
  await nav('Usage log')
  await page.getByTestId('log-table').waitFor()
  t.ok((await page.getByTestId('log-table').locator('tbody tr').count()) >= 3, 'the relayed requests are listed')
  await page.getByRole('form', { name: 'Filters' }).getByLabel('Model').fill('no-such-model')
  await page.getByRole('button', { name: 'Apply' }).click()
  await page.getByText('No requests match.').waitFor()

  section('screenshots of every page at both widths; no sideways scrolling on a phone')
  const routes: [string, string][] = [
    ['dashboard', '/'],
    ['keys', '/keys'],
    ['logs', '/logs'],
    ['chat', new URL(conversationUrl).pathname],
    ['personal-apis', '/personal-apis'],
    ['profile', '/profile'],
    ['channels', '/admin/channels'],
    ['users', '/admin/users'],
    ['prices', '/admin/prices'],
    ['codes', '/admin/codes'],
  ]
  const settle = async () => {
    await page.locator('main h1').first().waitFor()
    // (A string predicate would be eval'd in the page, which the CSP rightly refuses.)
    await page.locator('main .state[role="status"]').first().waitFor({ state: 'detached' })
  }
  for (const viewport of [WIDE, NARROW]) {
    await page.setViewportSize(viewport)
    for (const [name, path] of routes) {
      await page.goto(base + path)
      await settle()
      if (name === 'dashboard') await page.locator('.chart-canvas canvas').nth(2).waitFor()
      if (name === 'chat') await page.locator('article.message-assistant').nth(2).waitFor()
      await page.screenshot({ path: join(SHOTS, `${name}-${viewport.width}.png`) })
      if (viewport === NARROW) {
        const overflow = await inPage<number>(page, 'document.documentElement.scrollWidth - window.innerWidth')
        t.ok(overflow <= 0, `${name} fits 375 px without sideways scrolling (overflow ${overflow} px)`)
      }
      if (viewport === WIDE && process.env.DOC_SCREENSHOTS === '1' && ['dashboard', 'channels', 'chat'].includes(name)) {
        mkdirSync(DOC_SHOTS, { recursive: true })
        await page.screenshot({ path: join(DOC_SHOTS, `${name}.png`) })
      }
    }
  }
  // The menu on a phone: a real button that opens the navigation.
  await page.getByRole('button', { name: 'Menu' }).click()
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Chat', exact: true }).waitFor()
  await page.screenshot({ path: join(SHOTS, 'menu-375.png') })
  await page.setViewportSize(WIDE)

  section('a plain user: no admin pages, and 403 from the API behind them')
  const register = await fetch(`${base}/api/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'plain-user', password: 'plain-password-1' }),
  })
  t.equal(register.status, 201)
  const userPage = watch(await context.newPage())
  await userPage.goto(base + '/admin/channels')
  await userPage.getByLabel('Username or email').fill('plain-user')
  await userPage.getByLabel('Password').fill('plain-password-1')
  await userPage.getByRole('button', { name: 'Sign in' }).click()
  await userPage.getByRole('heading', { name: 'Channels' }).waitFor()
  t.ok(await userPage.getByText('This page is for administrators.').isVisible(), 'an admin page by URL says it is for administrators')
  const links = await userPage.getByRole('navigation', { name: 'Main' }).getByRole('link').allTextContents()
  t.same(links, ['Dashboard', 'API keys', 'Usage log', 'Chat', 'Personal APIs', 'Profile'], 'the menu has no admin pages')
  const statuses = await inPage<[string, number][]>(
    userPage,
    `(async () => {
      const auth = { authorization: 'Bearer ' + sessionStorage.getItem('nexus.session') }
      const urls = ['/api/channel', '/api/user', '/api/redemption', '/api/log', '/api/pricing/groups']
      return Promise.all(urls.map(async (url) => [url, (await fetch(url, { headers: auth })).status]))
    })()`,
  )
  t.same(statuses, [
    ['/api/channel', 403],
    ['/api/user', 403],
    ['/api/redemption', 403],
    ['/api/log', 403],
    ['/api/pricing/groups', 403],
  ], 'the API behind the admin pages answers 403')
  await userPage.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Dashboard' }).click()
  await userPage.getByText('No requests in this period yet').waitFor()
  await userPage.screenshot({ path: join(SHOTS, 'user-dashboard-1440.png') })
  t.notOk(await userPage.getByText('Figures cover every user').isVisible(), 'a user sees only their own figures')

  // Signing out forgets the session.
  await userPage.getByRole('button', { name: 'Sign out' }).click()
  await userPage.getByRole('heading', { name: 'Sign in to nexus' }).waitFor()
  t.equal(await inPage<string | null>(userPage, `sessionStorage.getItem('nexus.session')`), null, 'the session is gone from storage')

  t.same(problems, [], 'no CSP violation and no uncaught error on any page')

  // The control: the browser does enforce the policy, so the check above could have failed. An inline style
  // injected now is refused, and reported the way any violation above would have been.
  await inPage(userPage, `document.head.append(Object.assign(document.createElement('style'), { textContent: 'body { color: rgb(255, 0, 0) }' }))`)
  for (let i = 0; i < 50 && problems.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 20))
  t.match(problems, [/^CSP: .*inline style/], 'an inline style is refused by the CSP')
  t.not(await inPage<string>(userPage, 'getComputedStyle(document.body).color'), 'rgb(255, 0, 0)', 'and has no effect')
})
