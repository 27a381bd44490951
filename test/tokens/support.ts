import type { FastifyInstance } from 'fastify'
import { bearer, login } from '../support/build-app.js'

/** Registers a user and returns its id and session headers. */
export async function makeUser(app: FastifyInstance, username: string): Promise<{ id: number; headers: Record<string, string> }> {
  const password = `${username}-password`
  const reg = await app.inject({ method: 'POST', url: '/api/auth/register', payload: { username, password } })
  if (reg.statusCode !== 201) throw new Error(`register failed: ${reg.statusCode} ${reg.body}`)
  return { id: (reg.json() as { id: number }).id, headers: bearer(await login(app, username, password)) }
}

/** Creates a relay token over REST and returns its id and whole key. */
export async function makeToken(
  app: FastifyInstance,
  headers: Record<string, string>,
  payload: Record<string, unknown> = {},
): Promise<{ id: number; key: string }> {
  const res = await app.inject({ method: 'POST', url: '/api/token', headers, payload: { name: 'key', ...payload } })
  if (res.statusCode !== 201) throw new Error(`token create failed: ${res.statusCode} ${res.body}`)
  const body = res.json() as { id: number; key: string }
  return { id: body.id, key: body.key }
}

/** Retries `check` until it passes or `ms` elapse; returns whether it passed. */
export async function eventually(check: () => Promise<boolean>, ms = 1000): Promise<boolean> {
  const deadline = Date.now() + ms
  for (;;) {
    if (await check()) return true
    if (Date.now() >= deadline) return false
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
