import type { UserRow } from './repository.js'

/** The user as the management API shows it (CONTRACT §5 `GET /api/user/self`). */
export interface UserView {
  id: number
  username: string
  email: string | null
  role: string
  group: string
  status: string
  quota: number
  used_quota: number
  request_count: number
  created_at: string
  last_login_at: string | null
}

export function userView(user: UserRow): UserView {
  return {
    id: user.id,
    username: user.username,
    email: user.email ?? null,
    role: user.role,
    group: user.group,
    status: user.status,
    quota: Number(user.quota),
    used_quota: Number(user.usedQuota),
    request_count: Number(user.requestCount),
    created_at: user.createdAt.toISOString(),
    last_login_at: user.lastLoginAt ? user.lastLoginAt.toISOString() : null,
  }
}

/** The user as admins see it: the self view plus root and partner-API fields. */
export interface AdminUserView extends UserView {
  is_root: boolean
  is_external: boolean
  external_user_id: string | null
  login_type: string | null
  updated_at: string
}

export function adminUserView(user: UserRow): AdminUserView {
  return {
    ...userView(user),
    is_root: user.isRoot,
    is_external: user.isExternal,
    external_user_id: user.externalUserId ?? null,
    login_type: user.loginType ?? null,
    updated_at: user.updatedAt.toISOString(),
  }
}
