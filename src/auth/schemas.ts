import { Type } from '@sinclair/typebox'
import { Email, Password, Username, UserSchema } from '../users/schemas.js'

export const RegisterBody = Type.Object(
  { username: Username, email: Type.Optional(Email), password: Password },
  { additionalProperties: false },
)

export const LoginBody = Type.Object(
  { username: Type.String({ minLength: 1, maxLength: 254 }), password: Type.String({ minLength: 1, maxLength: 128 }) },
  { additionalProperties: false },
)

export const LoginResponse = Type.Object({
  access_token: Type.String(),
  token_type: Type.Literal('Bearer'),
  expires_in: Type.Integer(),
  user: UserSchema,
})
