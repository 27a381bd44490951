import t from 'tap'
import { ApiError } from '../../src/errors.js'
import type { Reservation } from '../../src/relay/seams.js'
import { backends } from '../support/backends.js'
import { buildApp } from '../support/build-app.js'
import { delivered, failed, ledger, makeUserWithToken, meterRequest, tokenRow } from './fixtures.js'

const PRICED = 'test-2-8' // $2 / $8 per 1M tokens

for (const backend of backends()) {
  t.test(backend.name, async (t) => {
    const { app } = await buildApp(t, backend)
    await app.pricing.setPrice(PRICED, { input_per_1m: 2, output_per_1m: 8 })

    t.test('10 prompt + 20 completion tokens at $2/$8 per 1M cost exactly 90 quota', async (t) => {
      const { principal, userId, tokenId } = await makeUserWithToken(app, { quota: 10_000 })
      const request = meterRequest(principal, PRICED, { promptTokensBound: 10, maxCompletionTokens: 100 })
      const reservation = await app.meter.reserve(request)
      // (10×2 + 100×8) / 1e6 × 500000 = 410
      t.equal(reservation.quota, 410)
      t.equal((await ledger(app, userId)).quota, 10_000 - 410, 'the reservation is taken up front')
      await app.meter.settle(request, reservation, delivered(10, 20))
      const after = await ledger(app, userId)
      t.same(after, { quota: 10_000 - 90, usedQuota: 90, requestCount: 1, logQuota: 90, logRows: 1, topups: 10_000, held: 0 })
      t.same(await tokenRow(app, tokenId), { remainQuota: 0, usedQuota: 90, requestCount: 1 })
      const rows = await app.logs.list({ userId }, 1, 10)
      t.match(rows.data[0], {
        request_id: request.requestId, user_id: userId, token_id: tokenId, model: PRICED, prompt_tokens: 10, completion_tokens: 20, quota: 90, status: 200, latency_ms: 12, first_byte_ms: 5, stream: false,
      })
    })

    t.test('a model without a price and no default → 400 model_price_unset, nothing reserved', async (t) => {
      const { principal, userId } = await makeUserWithToken(app, { quota: 1000 })
      const err = await app.meter.reserve(meterRequest(principal, 'unpriced-model')).catch((e: unknown) => e)
      t.ok(err instanceof ApiError)
      t.match(err, { statusCode: 400, code: 'model_price_unset' })
      t.equal((await ledger(app, userId)).quota, 1000)
    })

    t.test('the default price `*` applies to a model without its own', async (t) => {
      await app.pricing.setPrice('*', { per_request: '0.001' })
      t.teardown(() => app.pricing.removePrice('*'))
      const { principal, userId } = await makeUserWithToken(app, { quota: 1000 })
      const request = meterRequest(principal, 'unpriced-model')
      const reservation = await app.meter.reserve(request)
      t.equal(reservation.quota, 500)
      await app.meter.settle(request, reservation, { ...delivered(0, 0), usage: null, usageSource: 'none' })
      t.match(await ledger(app, userId), { quota: 500, usedQuota: 500, logQuota: 500 })
    })

    t.test('a user at 0 quota is refused even for a request estimated below 1 quota', async (t) => {
      const { principal, userId } = await makeUserWithToken(app, { quota: 0 })
      const err = await app.meter.reserve(meterRequest(principal, PRICED, { promptTokensBound: 1 })).catch((e: unknown) => e)
      t.match(err, { statusCode: 429, code: 'insufficient_quota', type: 'insufficient_quota', retry: false })
      t.same(await ledger(app, userId), { quota: 0, usedQuota: 0, requestCount: 0, logQuota: 0, logRows: 0, topups: 0, held: 0 })
    })

    t.test('a failed request releases its reservation in full and logs a zero-cost row', async (t) => {
      const { principal, userId, tokenId } = await makeUserWithToken(app, { quota: 1000, tokenQuota: 500 })
      const request = meterRequest(principal, PRICED, { maxCompletionTokens: 50 })
      const reservation = await app.meter.reserve(request)
      t.equal((await tokenRow(app, tokenId)).remainQuota, 500 - reservation.quota)
      await app.meter.settle(request, reservation, failed)
      t.same(await ledger(app, userId), { quota: 1000, usedQuota: 0, requestCount: 0, logQuota: 0, logRows: 1, topups: 1000, held: 0 })
      t.same(await tokenRow(app, tokenId), { remainQuota: 500, usedQuota: 0, requestCount: 0 })
      const [row] = (await app.logs.list({ userId }, 1, 1)).data
      t.match(row, { status: 502, error: 'upstream failed', quota: 0 })
    })

    t.test('a cost above the reservation is charged in full (the balance may dip below zero once)', async (t) => {
      const { principal, userId } = await makeUserWithToken(app, { quota: 100 })
      const request = meterRequest(principal, PRICED, { promptTokensBound: 10 })
      const reservation = await app.meter.reserve(request)
      t.equal(reservation.quota, 10)
      await app.meter.settle(request, reservation, delivered(10, 100)) // 410
      t.match(await ledger(app, userId), { quota: -310, usedQuota: 410, logQuota: 410, topups: 100 })
      const next = await app.meter.reserve(meterRequest(principal, PRICED)).catch((e: unknown) => e)
      t.match(next, { statusCode: 429, code: 'insufficient_quota' })
    })

    t.test('the group ratio multiplies the cost', async (t) => {
      await app.pricing.setGroupRatio('half', '0.5')
      const { principal, userId } = await makeUserWithToken(app, { quota: 1000, group: 'half' })
      const request = meterRequest(principal, PRICED)
      const reservation = await app.meter.reserve(request)
      await app.meter.settle(request, reservation, delivered(10, 20))
      t.equal((await ledger(app, userId)).usedQuota, 45)
    })

    t.test('the channel is charged what the user was', async (t) => {
      const { db, t: tables } = app.db
      const { insertedId } = await import('../../src/db/client.js')
      const channelId = insertedId(
        await db.insert(tables.channels).values({ name: 'c', baseUrl: 'http://127.0.0.1:1', keyEncrypted: 'x', keyMask: 'x', models: [], modelMapping: {}, groups: ['default'] }),
      )
      const { principal } = await makeUserWithToken(app, { quota: 1000 })
      for (let i = 0; i < 3; i++) {
        const request = meterRequest(principal, PRICED)
        await app.meter.settle(request, await app.meter.reserve(request), delivered(10, 20, { channelId }))
      }
      const { eq } = await import('drizzle-orm')
      const [channel] = await db.select().from(tables.channels).where(eq(tables.channels.id, channelId))
      t.equal(Number(channel!.usedQuota), 270)
    })

    t.test('settle never throws, even given a reservation it did not make', async (t) => {
      const { principal, userId } = await makeUserWithToken(app, { quota: 10 })
      const foreign: Reservation = { quota: 5, coveredCompletionTokens: 0, completionCap: null }
      await t.resolves(app.meter.settle(meterRequest(principal, PRICED), foreign, delivered(1, 1)))
      t.equal((await ledger(app, userId)).logRows, 0)
    })
  })
}
