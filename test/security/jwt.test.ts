// Session JWTs (CONTRACT §5: HS256, 24 h) accept exactly one algorithm and honour their time claims. Each forged
// token is refused by the sessions module and by a real route (401 invalid_session, nothing else said).
import { generateKeyPairSync } from 'node:crypto'
import { SignJWT, decodeJwt } from 'jose'
import t from 'tap'
import { createSessions, SESSION_TTL_S } from '../../src/auth/sessions.js'
import { MemoryCache } from '../../src/cache/index.js'
import { ManualClock } from '../../src/clock.js'
import { sqliteBackend } from '../support/backends.js'
import { bearer, buildApp, login } from '../support/build-app.js'

const SECRET = 'test-jwt-secret-0123456789abcdef' // what test/support/build-app.ts configures
const key = new TextEncoder().encode(SECRET)
const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')

interface Claims {
  sub: string
  jti: string
  iat: number
  exp: number
  nbf?: number
}

/** Signs `claims` as the gateway would, but with the given algorithm and key. */
function sign(claims: Claims, alg = 'HS256', signingKey: Parameters<SignJWT['sign']>[0] = key): Promise<string> {
  return new SignJWT({ ...claims }).setProtectedHeader({ alg, typ: 'JWT' }).sign(signingKey)
}

t.test('sessions module', async (t) => {
  const clock = new ManualClock(1_750_000_000_000)
  const cache = new MemoryCache()
  t.teardown(() => cache.close())
  const sessions = createSessions(SECRET, cache, clock)
  const now = Math.floor(clock.now() / 1000)
  const claims: Claims = { sub: '1', jti: 'j-1', iat: now, exp: now + 3600 }

  t.test('a token the gateway issued: HS256 header, 24 h, accepted', async (t) => {
    const { token, expiresIn } = await sessions.issue(1)
    t.equal(expiresIn, SESSION_TTL_S)
    t.equal(JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()).alg, 'HS256')
    const payload = decodeJwt(token)
    t.equal((payload.exp ?? 0) - (payload.iat ?? 0), 24 * 3600)
    t.match(await sessions.verify(token), { userId: 1 })
    t.match(await sessions.verify(await sign(claims)), { userId: 1, jti: 'j-1' }, 'a well-formed HS256 token with our secret')
  })

  t.test('alg "none" (any spelling, with or without a signature) is refused', async (t) => {
    const valid = await sign(claims)
    const signature = valid.split('.')[2]
    for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
      const unsigned = `${b64({ alg, typ: 'JWT' })}.${b64(claims)}.`
      t.equal(await sessions.verify(unsigned), null, `alg ${alg}, empty signature`)
      t.equal(await sessions.verify(`${b64({ alg, typ: 'JWT' })}.${b64(claims)}.${signature}`), null, `alg ${alg}, a borrowed signature`)
    }
    t.equal(await sessions.verify(`${b64({ typ: 'JWT' })}.${b64(claims)}.${signature}`), null, 'no alg at all')
  })

  t.test('every other algorithm is refused, even signed with the same secret', async (t) => {
    t.equal(await sessions.verify(await sign(claims, 'HS384')), null, 'HS384')
    t.equal(await sessions.verify(await sign(claims, 'HS512')), null, 'HS512')
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
    t.equal(await sessions.verify(await sign(claims, 'RS256', rsa.privateKey)), null, 'RS256')
    t.equal(await sessions.verify(await sign(claims, 'PS256', rsa.privateKey)), null, 'PS256')
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    t.equal(await sessions.verify(await sign(claims, 'ES256', ec.privateKey)), null, 'ES256')
    const ed = generateKeyPairSync('ed25519')
    t.equal(await sessions.verify(await sign(claims, 'EdDSA', ed.privateKey)), null, 'EdDSA')
  })

  t.test('a forged or altered token is refused', async (t) => {
    t.equal(await sessions.verify(await sign(claims, 'HS256', new TextEncoder().encode('another-secret-0123456789abcdef'))), null, 'another secret')
    const [header, , signature] = (await sign(claims)).split('.')
    t.equal(await sessions.verify(`${header}.${b64({ ...claims, sub: '2' })}.${signature}`), null, 'payload changed')
    t.equal(await sessions.verify('not-a-jwt'), null)
    t.equal(await sessions.verify(''), null)
  })

  t.test('expired and not-yet-valid tokens are refused; the boundaries are exact', async (t) => {
    t.equal(await sessions.verify(await sign({ ...claims, iat: now - 7200, exp: now - 1 })), null, 'expired a second ago')
    t.equal(await sessions.verify(await sign({ ...claims, exp: now })), null, 'expiring this very second')
    t.match(await sessions.verify(await sign({ ...claims, exp: now + 1 })), { userId: 1 }, 'a second left')
    t.equal(await sessions.verify(await sign({ ...claims, nbf: now + 60 })), null, 'not valid for another minute')
    t.match(await sessions.verify(await sign({ ...claims, nbf: now })), { userId: 1 }, 'valid from now')

    const { token } = await sessions.issue(1)
    clock.advance(SESSION_TTL_S * 1000 - 1000)
    t.ok(await sessions.verify(token), 'valid just before 24 h')
    clock.advance(1000)
    t.equal(await sessions.verify(token), null, 'refused at 24 h')
  })

  t.test('claims the gateway relies on must be there', async (t) => {
    const { sub: _sub, ...noSub } = claims
    t.equal(await sessions.verify(await new SignJWT({ ...noSub }).setProtectedHeader({ alg: 'HS256' }).sign(key)), null, 'no sub')
    const { jti: _jti, ...noJti } = claims
    t.equal(await sessions.verify(await new SignJWT({ ...noJti }).setProtectedHeader({ alg: 'HS256' }).sign(key)), null, 'no jti')
    const { exp: _exp, ...noExp } = claims
    t.equal(await sessions.verify(await new SignJWT({ ...noExp }).setProtectedHeader({ alg: 'HS256' }).sign(key)), null, 'no exp')
    t.equal(await sessions.verify(await sign({ ...claims, sub: 'root' })), null, 'a sub that is not a user id')
  })
})

t.test('through the API: each forged token gets 401 invalid_session', async (t) => {
  const { app } = await buildApp(t, sqliteBackend)
  const good = await login(app)
  const self = await app.inject({ method: 'GET', url: '/api/user/self', headers: bearer(good) })
  t.equal(self.statusCode, 200)
  const payload = decodeJwt(good) as unknown as Claims
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const now = Math.floor(Date.now() / 1000)
  const forged: Array<[string, string]> = [
    ['alg none', `${b64({ alg: 'none', typ: 'JWT' })}.${b64(payload)}.`],
    ['HS512, same secret', await sign(payload, 'HS512')],
    ['RS256', await sign(payload, 'RS256', rsa.privateKey)],
    ['expired', await sign({ ...payload, iat: now - 7200, exp: now - 60 })],
    ['not yet valid', await sign({ ...payload, nbf: now + 3600 })],
  ]
  for (const [name, token] of forged) {
    const res = await app.inject({ method: 'GET', url: '/api/user/self', headers: bearer(token) })
    t.equal(res.statusCode, 401, name)
    t.match(res.json(), { error: { type: 'authentication_error', code: 'invalid_session' } }, name)
  }
})
