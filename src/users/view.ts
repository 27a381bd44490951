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
