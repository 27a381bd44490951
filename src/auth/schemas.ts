import { Type } from '@sinclair/typebox'
import { Email, Password, Username, UserSchema } from '../users/schemas.js'
import { CODE_PURPOSES } from './codes/code.js'

export const RegisterBody = Type.Object(
  { username: Username, email: Type.Optional(Email), password: Password },
  { additionalProperties: false },
)

/** A username or an email address, as login accepts. */
const Login = Type.String({ minLength: 1, maxLength: 254 })

export const LoginBody = Type.Object(
  { username: Login, password: Type.String({ minLength: 1, maxLength: 128 }) },
  { additionalProperties: false },
)

export const LoginResponse = Type.Object({
  access_token: Type.String(),
  token_type: Type.Literal('Bearer'),
  expires_in: Type.Integer(),
  user: UserSchema,
})

const Purpose = Type.Union(CODE_PURPOSES.map((p) => Type.Literal(p)))
const Code = Type.String({ pattern: '^[0-9]{6}$' })

/** `username` takes a username or an email; `email` is accepted too. One of them is required. */
export const SendCodeBody = Type.Object(
  { username: Type.Optional(Login), email: Type.Optional(Email), purpose: Purpose },
  { additionalProperties: false },
)

export const VerifyCodeBody = Type.Object({ username: Login, code: Code, purpose: Purpose }, { additionalProperties: false })

export const VerifyCodeResponse = Type.Object({ valid: Type.Literal(true) })

export const ResetPasswordBody = Type.Object(
  { username: Login, code: Code, new_password: Password },
  { additionalProperties: false },
)

export const AcceptedResponse = Type.Object({ accepted: Type.Literal(true) })
