import { Writable } from 'node:stream'
import pino from 'pino'
import t from 'tap'
import { LogCodeSender } from '../../src/auth/codes/sender.js'
import { loggerOptions } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import type { UserRow } from '../../src/users/repository.js'

t.test('the default delivery writes one log line with username, purpose and the code, past the redaction', async (t) => {
  const lines: string[] = []
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean))
      done()
    },
  })
  const config = loadConfig({ JWT_SECRET: 'x'.repeat(32), ENCRYPTION_KEY: Buffer.alloc(32, 1).toString('base64'), LOG_LEVEL: 'info' })
  const log = pino(loggerOptions(config), sink)
  const user = { id: 7, username: 'carol' } as UserRow
  await new LogCodeSender(log).send({ user, purpose: 'password_reset', code: '042917' })
  t.equal(lines.length, 1)
  const entry = JSON.parse(lines[0]!) as Record<string, unknown>
  t.match(entry, { username: 'carol', purpose: 'password_reset', verification_code: '042917', user_id: 7 })
  t.notOk(lines[0]!.includes('[redacted]'))
})
