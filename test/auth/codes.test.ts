import t from 'tap'
import { ManualClock } from '../../src/clock.js'
import { backends } from '../support/backends.js'
import { buildApp } from '../support/build-app.js'
import { captureCodes, freshIp, registerUser } from '../users/support.js'

for (const backend of backends()) {
  t.test(backend.name, async (t) => {
    const clock = new ManualClock(Date.parse('2030-01-01T00:00:00Z'))
    const { app } = await buildApp(t, backend, { clock })
    const codes = captureCodes(app)

    const sendCode = (payload: Record<string, unknown>, ip = freshIp()) =>
      app.inject({ method: 'POST', url: '/api/auth/send-code', remoteAddress: ip, payload })
    const verifyCode = (payload: Record<string, unknown>, ip = freshIp()) =>
      app.inject({ method: 'POST', url: '/api/auth/verify-code', remoteAddress: ip, payload })
    /** Requests a code and returns what was delivered (after moving past the resend window). */
    const issue = async (username: string, purpose = 'password_reset') => {
      clock.advance(61_000)
      const before = (await codes.all()).length
      const res = await sendCode({ username, purpose })
      if (res.statusCode !== 202) throw new Error(`send-code answered ${res.statusCode}`)
      const all = await codes.all()
      if (all.length !== before + 1) throw new Error('no code was sent')
      return all.at(-1)!.code
    }

    await registerUser(app, 'carol', { email: 'carol@example.com' })

    t.test('unknown account → 202 and nothing is sent (no enumeration)', async (t) => {
      const before = (await codes.all()).length
      const byName = await sendCode({ username: 'nobody-here', purpose: 'password_reset' })
      const byMail = await sendCode({ email: 'nobody@example.com', purpose: 'verify_email' })
      t.equal(byName.statusCode, 202)
      t.equal(byMail.statusCode, 202)
      t.same(byName.json(), byMail.json())
      t.equal((await codes.all()).length, before)
    })

    t.test('known account → 202 and one 6-digit code for that user and purpose', async (t) => {
      clock.advance(61_000)
      const res = await sendCode({ username: 'carol', purpose: 'password_reset' })
      t.equal(res.statusCode, 202)
      const sent = await codes.last()
      t.match(sent, { user: { username: 'carol' }, purpose: 'password_reset' })
      t.match(sent!.code, /^[0-9]{6}$/)
    })

    t.test('the account may be named by email, in `username` or in `email`', async (t) => {
      clock.advance(61_000)
      t.equal((await sendCode({ email: 'carol@example.com', purpose: 'password_reset' })).statusCode, 202)
      t.equal((await codes.last())!.user.username, 'carol')
      clock.advance(61_000)
      const before = (await codes.all()).length
      t.equal((await sendCode({ username: 'carol@example.com', purpose: 'password_reset' })).statusCode, 202)
      t.equal((await codes.all()).length, before + 1)
    })

    t.test('send-code without an account name or with a bad purpose → 400', async (t) => {
      const none = await sendCode({ purpose: 'password_reset' })
      t.equal(none.statusCode, 400)
      t.equal(none.json().error.param, 'username')
      const bad = await sendCode({ username: 'carol', purpose: 'make_admin' })
      t.equal(bad.statusCode, 400)
    })

    t.test('the code is stored hashed, never in clear', async (t) => {
      const code = await issue('carol')
      const { db, t: tables } = app.db
      const rows = await db.select().from(tables.verificationCodes)
      t.ok(rows.length > 0)
      for (const row of rows) {
        t.not(row.codeHash, code)
        t.notOk(row.codeHash.includes(code))
        t.match(row.codeHash, /^[0-9a-f]{64}$/)
      }
    })

    t.test('verify-code accepts the right code and leaves a password_reset code usable', async (t) => {
      const code = await issue('carol')
      const first = await verifyCode({ username: 'carol', code, purpose: 'password_reset' })
      t.equal(first.statusCode, 200)
      t.same(first.json(), { valid: true })
      const again = await verifyCode({ username: 'carol', code, purpose: 'password_reset' })
      t.equal(again.statusCode, 200)
    })

    t.test('a verify_email code is used up by verify-code; a code of another purpose is refused', async (t) => {
      const code = await issue('carol', 'verify_email')
      const wrongPurpose = await verifyCode({ username: 'carol', code, purpose: 'password_reset' })
      t.equal(wrongPurpose.statusCode, 400)
      t.equal(wrongPurpose.json().error.code, 'invalid_code')
      t.equal((await verifyCode({ username: 'carol', code, purpose: 'verify_email' })).statusCode, 200)
      const reused = await verifyCode({ username: 'carol', code, purpose: 'verify_email' })
      t.equal(reused.statusCode, 400)
      t.equal(reused.json().error.code, 'invalid_code')
    })

    t.test('a second request within 60 s → 202 but no new code; after 60 s a new one supersedes the old', async (t) => {
      const old = await issue('carol')
      const before = (await codes.all()).length
      clock.advance(30_000)
      t.equal((await sendCode({ username: 'carol', purpose: 'password_reset' })).statusCode, 202)
      t.equal((await codes.all()).length, before, 'nothing sent within 60 s')
      t.equal((await verifyCode({ username: 'carol', code: old, purpose: 'password_reset' })).statusCode, 200)

      clock.advance(31_000)
      t.equal((await sendCode({ username: 'carol', purpose: 'password_reset' })).statusCode, 202)
      const fresh = (await codes.last())!.code
      t.equal((await codes.all()).length, before + 1)
      if (fresh !== old) {
        t.equal((await verifyCode({ username: 'carol', code: old, purpose: 'password_reset' })).statusCode, 400, 'old code superseded')
      }
      t.equal((await verifyCode({ username: 'carol', code: fresh, purpose: 'password_reset' })).statusCode, 200)
    })

    t.test('a code expires after 10 minutes', async (t) => {
      const code = await issue('carol')
      clock.advance(9 * 60_000)
      t.equal((await verifyCode({ username: 'carol', code, purpose: 'password_reset' })).statusCode, 200)
      clock.advance(60_000 + 1)
      const late = await verifyCode({ username: 'carol', code, purpose: 'password_reset' })
      t.equal(late.statusCode, 400)
      t.equal(late.json().error.code, 'invalid_code')
    })

    t.test('5 wrong tries burn the code', async (t) => {
      await registerUser(app, 'dave')
      const code = await issue('dave')
      const wrong = code === '000000' ? '000001' : '000000'
      for (let i = 0; i < 5; i++) {
        const res = await verifyCode({ username: 'dave', code: wrong, purpose: 'password_reset' })
        t.equal(res.statusCode, 400)
        t.equal(res.json().error.code, 'invalid_code')
      }
      const burnt = await verifyCode({ username: 'dave', code, purpose: 'password_reset' })
      t.equal(burnt.statusCode, 400)
      t.equal(burnt.json().error.code, 'invalid_code')
    })

    t.test('only wrong tries count: 4 wrong then the right code is still valid', async (t) => {
      await registerUser(app, 'erin')
      const code = await issue('erin')
      const wrong = code === '999999' ? '999998' : '999999'
      for (let i = 0; i < 4; i++) await verifyCode({ username: 'erin', code: wrong, purpose: 'password_reset' })
      t.equal((await verifyCode({ username: 'erin', code, purpose: 'password_reset' })).statusCode, 200)
      t.equal((await verifyCode({ username: 'erin', code, purpose: 'password_reset' })).statusCode, 200)
    })

    t.test('verify-code for an unknown account → the same 400 invalid_code', async (t) => {
      const unknown = await verifyCode({ username: 'nobody-here', code: '123456', purpose: 'password_reset' })
      t.equal(unknown.statusCode, 400)
      t.equal(unknown.json().error.code, 'invalid_code')
      const malformed = await verifyCode({ username: 'carol', code: '12ab56', purpose: 'password_reset' })
      t.equal(malformed.statusCode, 400)
      t.equal(malformed.json().error.param, 'code')
    })

    t.test('a disabled account gets no code', async (t) => {
      const frank = await registerUser(app, 'frank')
      await app.usersRepo.update(frank.id, { status: 'disabled' })
      clock.advance(61_000)
      const before = (await codes.all()).length
      t.equal((await sendCode({ username: 'frank', purpose: 'password_reset' })).statusCode, 202)
      t.equal((await codes.all()).length, before)
    })

    t.test('send-code per IP: the 11th request in 15 min → 429 with retry-after', async (t) => {
      const ip = freshIp()
      for (let i = 0; i < 10; i++) {
        t.equal((await sendCode({ username: `someone${i}`, purpose: 'password_reset' }, ip)).statusCode, 202)
      }
      const limited = await sendCode({ username: 'carol', purpose: 'password_reset' }, ip)
      t.equal(limited.statusCode, 429)
      t.equal(limited.json().error.code, 'too_many_attempts')
      t.ok(Number(limited.headers['retry-after']) > 0)
    })

    t.test('verify-code per account name: the 11th check in 15 min → 429, even from fresh IPs', async (t) => {
      for (let i = 0; i < 10; i++) {
        t.equal((await verifyCode({ username: 'ghost', code: '123456', purpose: 'password_reset' })).statusCode, 400)
      }
      const limited = await verifyCode({ username: 'ghost', code: '123456', purpose: 'password_reset' })
      t.equal(limited.statusCode, 429)
      t.ok(Number(limited.headers['retry-after']) > 0)
    })

    t.test('verify-code per IP: the 31st check in 15 min → 429', async (t) => {
      const ip = freshIp()
      for (let i = 0; i < 30; i++) {
        t.equal((await verifyCode({ username: `probe${i}`, code: '123456', purpose: 'password_reset' }, ip)).statusCode, 400)
      }
      t.equal((await verifyCode({ username: 'probe-last', code: '123456', purpose: 'password_reset' }, ip)).statusCode, 429)
    })

    t.test('the sweep deletes expired and used codes, keeps live ones', async (t) => {
      const gina = await registerUser(app, 'gina')
      await issue('gina')
      clock.advance(11 * 60_000)
      const live = await issue('gina', 'verify_email')
      const removed = await app.verificationCodes.deleteStale()
      t.ok(removed >= 1)
      const { db, t: tables } = app.db
      const left = await db.select().from(tables.verificationCodes)
      const now = clock.now()
      for (const row of left) {
        t.ok(row.expiresAt.getTime() > now && row.usedAt === null && row.attempts < 5, 'only live codes remain')
      }
      t.ok(left.some((row) => row.userId === gina.id && row.purpose === 'verify_email'), 'the live code is kept')
      t.notOk(left.some((row) => row.userId === gina.id && row.purpose === 'password_reset'), 'the expired code is gone')
      t.equal((await verifyCode({ username: 'gina', code: live, purpose: 'verify_email' })).statusCode, 200)
    })
  })
}
