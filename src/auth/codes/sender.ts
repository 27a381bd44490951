import type { FastifyBaseLogger } from 'fastify'
import type { UserRow } from '../../users/repository.js'
import type { CodePurpose } from './code.js'

export interface CodeDelivery {
  user: UserRow
  purpose: CodePurpose
  code: string
}

/**
 * How a verification code reaches its owner. The default writes it to the server log; an SMTP
 * or SMS sender implements this same interface and is installed with
 * `app.verificationCodes.useSender(...)`.
 */
export interface CodeSender {
  send(delivery: CodeDelivery): Promise<void>
}

/**
 * The documented delivery until a mail transport exists: one structured log line with the
 * username, purpose and code. The code is deliberately logged here (it is the delivery), under
 * `verification_code` because the logger redacts any `*.code` field.
 */
export class LogCodeSender implements CodeSender {
  constructor(private readonly log: FastifyBaseLogger) {}

  async send({ user, purpose, code }: CodeDelivery): Promise<void> {
    this.log.info(
      { event: 'verification_code', user_id: user.id, username: user.username, purpose, verification_code: code },
      `verification code for ${user.username} (${purpose}): ${code}`,
    )
  }
}
