import { AjvCompiler } from '@fastify/ajv-compiler'
import type { FastifyInstance, FastifySchemaValidationError } from 'fastify'

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
  app.setValidatorCompiler((route) => (route.httpPart === 'body' ? exact(route) : finiteOnly(coercing(route) as Validate)))
}

type Validate = ((data: unknown) => boolean) & { errors?: FastifySchemaValidationError[] | null }

/**
 * ajv coerces `Infinity` and `1e309` in a path or query string to ±Infinity and then lets them past `maximum`
 * (found by test/security/hostile-input.test.ts: `DELETE /api/token/1e309` reached MySQL and answered 500), so a
 * coerced value that is not a finite number is refused here, as the schema meant.
 */
function finiteOnly(validate: Validate): Validate {
  const checked: Validate = (data) => {
    if (!validate(data)) {
      checked.errors = validate.errors
      return false
    }
    const values = data !== null && typeof data === 'object' ? Object.entries(data) : []
    for (const [name, value] of values) {
      if ([value].flat().some((v) => typeof v === 'number' && !Number.isFinite(v))) {
        checked.errors = [{ keyword: 'type', instancePath: `/${name}`, schemaPath: '#', params: {}, message: 'must be a finite number' }]
        return false
      }
    }
    checked.errors = null
    return true
  }
  return checked
}
