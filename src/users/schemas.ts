import { Type } from '@sinclair/typebox'
import { PageFields } from '../infra/pagination.js'

export const Username = Type.String({ minLength: 3, maxLength: 50, pattern: '^[A-Za-z0-9_.-]+$' })
export const Email = Type.String({ format: 'email', maxLength: 254 })
export const Password = Type.String({ minLength: 8, maxLength: 128 })

export const UserSchema = Type.Object(
  {
    id: Type.Integer(),
    username: Type.String(),
    email: Type.Union([Type.String(), Type.Null()]),
    role: Type.String(),
    group: Type.String(),
    status: Type.String(),
    quota: Type.Integer(),
    used_quota: Type.Integer(),
    held_quota: Type.Optional(
      Type.Integer({ description: 'quota taken out of `quota` by credit leases of busy instances; it comes back when they go idle' }),
    ),
    request_count: Type.Integer(),
    created_at: Type.String({ format: 'date-time' }),
    last_login_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  },
  { $id: 'User' },
)

export const UpdateProfileBody = Type.Object(
  { username: Type.Optional(Username), email: Type.Optional(Type.Union([Email, Type.Null()])) },
  { additionalProperties: false },
)

export const ChangePasswordBody = Type.Object(
  { old_password: Type.String({ minLength: 1, maxLength: 128 }), new_password: Password },
  { additionalProperties: false },
)

export const Group = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.-]+$' })

export const AdminUpdateBody = Type.Object(
  {
    role: Type.Optional(Type.Union([Type.Literal('user'), Type.Literal('admin')])),
    status: Type.Optional(Type.Union([Type.Literal('enabled'), Type.Literal('disabled')])),
    group: Type.Optional(Group),
  },
  { additionalProperties: false },
)

export const UserIdParams = Type.Object({ id: Type.Integer({ minimum: 1 }) })

export const UserListQuery = Type.Object({
  keyword: Type.Optional(Type.String({ maxLength: 100 })),
  ...PageFields,
})

/** What admins see: the self view plus root and partner-API fields. */
export const AdminUserSchema = Type.Object({
  ...UserSchema.properties,
  is_root: Type.Boolean(),
  is_external: Type.Boolean(),
  external_user_id: Type.Union([Type.String(), Type.Null()]),
  login_type: Type.Union([Type.String(), Type.Null()]),
  updated_at: Type.String({ format: 'date-time' }),
})

export const UserListResponse = Type.Object({
  data: Type.Array(AdminUserSchema),
  total: Type.Integer(),
  page: Type.Integer(),
  page_size: Type.Integer(),
})
