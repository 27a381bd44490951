// Issue 9, findings 1 and 2: model names that are Object.prototype keys, and concurrent requests overdrawing a
// balance. Each test is named after the finding it pins down, and runs on every backend.
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { ledger as ledgerOf } from '../billing/fixtures.js'
import { chat, post, startRig, type Rig } from '../relay/fixture.js'
import { backends } from '../support/backends.js'
import { bearer, login } from '../support/build-app.js'

/** Polls until the user's usage-log rows reach `n` and no reservation is open (quota + used = credits). */
async function settled(app: FastifyInstance, userId: number, n: number) {
  for (let i = 0; i < 400; i++) {
    const ledger = await ledgerOf(app, userId)
    if (ledger.logRows >= n && ledger.quota + ledger.usedQuota === ledger.topups) return ledger
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  return ledgerOf(app, userId)
}

let users = 0
async function userWithKey(rig: Rig, quota: number, tokenBody: Record<string, unknown> = {}) {
  const { app } = rig
  const username = `holes${++users}`
  await app.inject({ method: 'POST', url: '/api/auth/register', payload: { username, password: 'password-123' } })
  const id = (await app.usersRepo.findByUsername(username))!.id
  const grant = await app.inject({ method: 'POST', url: `/api/user/${id}/quota`, headers: bearer(rig.adminSession), payload: { delta: quota, remark: 'test' } })
  if (grant.statusCode !== 200) throw new Error(grant.body)
  const session = await login(app, username, 'password-123')
  const token = await app.inject({ method: 'POST', url: '/api/token', headers: bearer(session), payload: { name: 'k', ...tokenBody } })
  if (token.statusCode !== 201) throw new Error(token.body)
  return { id, key: (token.json() as { key: string }).key, tokenId: (token.json() as { id: number }).id }
}

const PROTO_NAMES = Object.getOwnPropertyNames(Object.prototype)

for (const backend of backends()) {
  t.test(backend.name, async (t) => {
    // Long streams (200 content chunks), and a small default allowance so that streams outgrow their reservation.
    const rig = await startRig(t, backend, { env: { DEFAULT_COMPLETION_RESERVE: '16' }, upstream: { chunks: 200 } })
    const { app } = rig
    // Serves every model, with a mapping whose keys are not the probed names.
    await rig.channel({ key: 'ok-holes-any-0000111122223333', model_mapping: { 'alias-model': 'real-model' } })
    await rig.price('default', { input_per_1m: '2', output_per_1m: '8' })
    await rig.price('costly', { input_per_1m: '1', output_per_1m: '10' })

    t.test('model names that are Object.prototype keys are relayed as named, billed in full and logged', async (t) => {
      const user = await userWithKey(rig, 10_000_000)
      let served = 0
      for (const name of PROTO_NAMES) {
        for (const stream of [false, true]) {
          const res = await post(rig, '/v1/chat/completions', user.key, chat(name, { stream }))
          const body = await res.text()
          if (res.status === 400) {
            t.equal(JSON.parse(body).error.param, 'model', `${name}: refused as a model name`)
            continue
          }
          t.equal(res.status, 200, `${name} (stream ${stream}) is relayed${res.status === 200 ? '' : `: ${body.slice(0, 200)}`}`)
          served++
          const seen = rig.upstream.lastFor('ok-holes-any-0000111122223333')
          t.equal((seen?.body as { model?: unknown }).model, name, `${name}: the upstream was sent the model as named`)
        }
      }
      // `__proto__` and the other `__…__` names are not model names (they start with `_`); all others are served.
      t.equal(served, PROTO_NAMES.filter((n) => /^[a-z]/i.test(n)).length * 2, `served ${served}`)
      const ledger = await settled(app, user.id, served)
      t.equal(ledger.logRows, served, 'one usage-log row per served request')
      t.equal(ledger.usedQuota, ledger.logQuota, 'used_quota = Σ usage_log.quota')
      t.equal(ledger.quota + ledger.usedQuota, ledger.topups, 'quota + used_quota = Σ credits')
      // Non-stream: 10 prompt + 20 completion tokens at $2/$8 = 90 quota; stream: 10 + 200 at $2/$8 = 810.
      t.equal(ledger.usedQuota, (served / 2) * (90 + 810), 'every request billed its full cost')
    })

    t.test('model names outside 1–128 sane characters are refused with 400 and change nothing', async (t) => {
      const user = await userWithKey(rig, 1_000_000)
      const before = await ledgerOf(app, user.id)
      for (const model of ['', 'x'.repeat(129), 'has space', 'semi;colon', '<script>', 'ümlaut', '__proto__', '*', 'a\u0000b']) {
        const res = await post(rig, '/v1/chat/completions', user.key, chat(model))
        t.equal(res.status, 400, JSON.stringify(model))
        t.equal(((await res.json()) as { error: { param: string } }).error.param, 'model')
      }
      for (const model of [{}, 42, ['gpt-4o'], null]) {
        const res = await post(rig, '/v1/chat/completions', user.key, chat('x', { model }))
        t.equal(res.status, 400, JSON.stringify(model))
      }
      t.same(await ledgerOf(app, user.id), before)
    })

    t.test('max_tokens and n out of range are 400 naming the field, not 500', async (t) => {
      const user = await userWithKey(rig, 1_000_000)
      const before = await ledgerOf(app, user.id)
      const cases: [Record<string, unknown>, string][] = [
        [{ max_tokens: 1e300 }, 'max_tokens'],
        [{ max_tokens: 2 ** 53 }, 'max_tokens'],
        [{ max_tokens: -1 }, 'max_tokens'],
        [{ max_tokens: 1.5 }, 'max_tokens'],
        [{ max_tokens: '100' }, 'max_tokens'],
        [{ max_completion_tokens: 1e20 }, 'max_completion_tokens'],
        [{ n: 0 }, 'n'],
        [{ n: 129 }, 'n'],
        [{ n: '2' }, 'n'],
      ]
      for (const [extra, param] of cases) {
        const res = await post(rig, '/v1/chat/completions', user.key, chat('costly', extra))
        t.equal(res.status, 400, JSON.stringify(extra))
        t.equal(((await res.json()) as { error: { param: string } }).error.param, param)
      }
      t.same(await ledgerOf(app, user.id), before, 'nothing reserved, nothing logged')
    })

    t.test('concurrent streams overdraw by at most one increment: 100 streams against a small balance', async (t) => {
      // Each stream reserves its prompt bound and 16 completion tokens (~80 quota), then needs one increment
      // (1,024 tokens at $10/M = 5,120 quota) to go on: only two of them can have one.
      const balance = 20_000
      const increment = 5_120
      const user = await userWithKey(rig, balance)
      const results = await Promise.all(
        Array.from({ length: 100 }, () =>
          post(rig, '/v1/chat/completions', user.key, chat('costly', { stream: true })).then(async (res) => ({ status: res.status, body: await res.text() })),
        ),
      )
      const ok = results.filter((r) => r.status === 200)
      t.ok(ok.length > 0, `${ok.length} streams started`)
      t.ok(results.every((r) => r.status === 200 || r.status === 429), 'only 200s and 429s')
      const cut = ok.filter((r) => r.body.includes('"finish_reason":"length"') && r.body.includes('"insufficient_quota"'))
      t.ok(cut.length > 0, `${cut.length} streams ended for want of balance`)
      for (const r of cut) t.ok(r.body.trimEnd().endsWith('data: [DONE]'), 'a cut stream still ends with [DONE]')
      const ledger = await settled(app, user.id, ok.length)
      t.equal(ledger.logRows, ok.length)
      t.ok(ledger.quota >= -increment, `balance ${ledger.quota} ≥ −${increment}`)
      t.equal(ledger.usedQuota, ledger.logQuota, 'used_quota = Σ usage_log.quota')
      t.equal(ledger.quota + ledger.usedQuota, ledger.topups, 'quota + used_quota = Σ credits')
    })

    t.test('an upstream that ignores max_tokens cannot overdraw: settlement charges down to one increment, forgives the rest', async (t) => {
      const greedy = await rig.channel({ key: 'greedy-holes-0000111122223333', models: ['greedy-model'] })
      t.ok(greedy)
      await rig.price('greedy-model', { input_per_1m: '1', output_per_1m: '10' })
      const user = await userWithKey(rig, 20_000)
      const forgivenBefore = await metricValue(app, 'nexus_quota_forgiven_total')
      const results = await Promise.all(
        Array.from({ length: 50 }, () => post(rig, '/v1/chat/completions', user.key, chat('greedy-model')).then((r) => r.text().then(() => r.status))),
      )
      const ok = results.filter((s) => s === 200).length
      t.ok(ok > 0)
      const ledger = await settled(app, user.id, ok)
      t.ok(ledger.quota >= -5_120 && ledger.quota < 0, `balance ${ledger.quota} in [−5120, 0)`)
      t.equal(ledger.usedQuota, ledger.logQuota, 'used_quota = Σ usage_log.quota')
      t.equal(ledger.quota + ledger.usedQuota, ledger.topups, 'quota + used_quota = Σ credits')
      t.ok((await metricValue(app, 'nexus_quota_forgiven_total')) > forgivenBefore, 'the forgiven quota is counted')
    })

    t.test('a limited token overdraws by at most one increment too', async (t) => {
      const user = await userWithKey(rig, 10_000_000, { unlimited_quota: false, remain_quota: 12_000 })
      const results = await Promise.all(
        Array.from({ length: 60 }, () => post(rig, '/v1/chat/completions', user.key, chat('costly', { stream: true })).then((r) => r.text().then(() => r.status))),
      )
      const ok = results.filter((s) => s === 200).length
      await settled(app, user.id, ok)
      const [token] = await app.db.db.select().from(app.db.t.tokens).where((await import('drizzle-orm')).eq(app.db.t.tokens.id, user.tokenId))
      t.ok(Number(token!.remainQuota) >= -5_120, `token remain ${token!.remainQuota}`)
      const ledger = await ledgerOf(app, user.id)
      t.equal(ledger.quota + ledger.usedQuota, ledger.topups)
    })

    t.test('a non-stream request without max_tokens that the balance cannot afford is capped, not refused', async (t) => {
      // 16 tokens of allowance at $10/M = 80 quota; a balance of 40 affords the prompt and a few tokens.
      const user = await userWithKey(rig, 40)
      const res = await post(rig, '/v1/chat/completions', user.key, { model: 'costly', messages: [{ role: 'user', content: 'hi' }] })
      t.equal(res.status, 200, await res.text())
      const sent = rig.upstream.lastFor('ok-holes-any-0000111122223333')?.body as { max_tokens?: number }
      t.type(sent.max_tokens, 'number')
      t.ok(sent.max_tokens! >= 1 && sent.max_tokens! < 16, `upstream max_tokens ${sent.max_tokens}`)
      const ledger = await settled(app, user.id, 1)
      t.ok(ledger.quota >= -increment(), `balance ${ledger.quota}`)
      t.equal(ledger.quota + ledger.usedQuota, ledger.topups)
    })

    t.test('a client max_tokens is reserved in full: one the balance cannot afford is 429', async (t) => {
      const user = await userWithKey(rig, 1_000)
      const res = await post(rig, '/v1/chat/completions', user.key, chat('costly', { max_tokens: 1000 }))
      t.equal(res.status, 429)
      t.equal(((await res.json()) as { error: { code: string } }).error.code, 'insufficient_quota')
      const fits = await post(rig, '/v1/chat/completions', user.key, chat('costly', { max_tokens: 100 }))
      t.equal(fits.status, 200)
      await fits.text()
    })
  })
}

async function metricValue(app: FastifyInstance, name: string): Promise<number> {
  const text = await app.metrics.registry.metrics()
  const line = text.split('\n').find((l) => l.startsWith(`${name} `))
  return line ? Number(line.split(' ')[1]) : 0
}

/** One increment of the `costly` model: 1,024 completion tokens at $10/M. */
function increment(): number {
  return 5_120
}
