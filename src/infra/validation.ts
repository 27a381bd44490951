import { AjvCompiler } from '@fastify/ajv-compiler'
import type { FastifyInstance } from 'fastify'

const shared = { removeAdditional: false, useDefaults: true, allowUnionTypes: true } as const

/**
 * Two validators, chosen by the part of the request (fastify's own ajv compiler underneath):
 * query strings, params and headers arrive as text and are coerced to the schema's types
 * (`?page=2`); JSON bodies are taken as sent. Coercing bodies would let bad input change meaning
 * silently — ajv turns `0` or `""` into `null` for a nullable field, so `rate_limit_rpm: 0` would
 * mean "no limit" and `expires_at: ""` "never expires" — where a clear 400 is right.
 */
export function installValidation(app: FastifyInstance): void {
  const build = AjvCompiler()
  const coercing = build({}, { customOptions: { ...shared, coerceTypes: 'array' } })
  const exact = build({}, { customOptions: { ...shared, coerceTypes: false } })
  app.setValidatorCompiler((route) => (route.httpPart === 'body' ? exact(route) : coercing(route)))
}
