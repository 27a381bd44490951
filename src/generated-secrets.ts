import { randomBytes } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Config } from './config.js'

interface Logger {
  warn(obj: object, msg: string): void
}

/**
 * Outside production a missing JWT_SECRET or ENCRYPTION_KEY is generated once and kept in
 * `<dataDir>/secrets.json` (mode 600), so sessions and encrypted channel keys survive restarts.
 * Losing that file means re-entering every channel key: the warning says so.
 */
export function withGeneratedSecrets(config: Config, log: Logger): Config {
  if (config.jwtSecret && config.encryptionKey) return config
  const file = join(config.dataDir, 'secrets.json')
  let stored: { jwtSecret?: string; encryptionKey?: string } = {}
  if (existsSync(file)) stored = JSON.parse(readFileSync(file, 'utf8')) as typeof stored
  const next = {
    jwtSecret: stored.jwtSecret ?? randomBytes(48).toString('base64url'),
    encryptionKey: stored.encryptionKey ?? randomBytes(32).toString('base64'),
  }
  if (next.jwtSecret !== stored.jwtSecret || next.encryptionKey !== stored.encryptionKey) {
    mkdirSync(config.dataDir, { recursive: true })
    writeFileSync(file, JSON.stringify(next, null, 2) + '\n', { mode: 0o600 })
    chmodSync(file, 0o600)
  }
  const generated = [!config.jwtSecret && 'JWT_SECRET', !config.encryptionKey && 'ENCRYPTION_KEY'].filter(Boolean)
  log.warn(
    { file, generated },
    `${generated.join(' and ')} not set: using generated values kept in ${file}; set them explicitly in production`,
  )
  return {
    ...config,
    jwtSecret: config.jwtSecret ?? next.jwtSecret,
    encryptionKey: config.encryptionKey ?? next.encryptionKey,
  }
}
