// A personal API (CONTRACT §7) as the relay sees it: one synthetic channel, tried alone (no failover to the
// gateway's channels, which the user does not pay for here), through the address-checked dispatcher.
import type { FastifyInstance } from 'fastify'
import { errors } from '../errors.js'
import type { PersonalApiTarget, RelayChannel } from './seams.js'

export function personalApiChannel(app: FastifyInstance, target: PersonalApiTarget): RelayChannel {
  // Fail closed: without the guarded dispatcher the relay would fall back on the shared, unchecked Agent.
  if (!app.hasDecorator('personalApiDispatcher')) throw errors.internal()
  return {
    // Negative ids never collide with a real channel's; usage-log rows carry channel_id null for them.
    id: -target.id,
    type: target.type,
    name: `personal:${target.id}`,
    baseUrl: target.baseUrl,
    key: target.key,
    models: [],
    modelMapping: {},
    groups: [],
    priority: 0,
    weight: 1,
    status: 'enabled',
    // Never the shared upstream Agent: only this one checks every address it connects to (src/infra/safe-upstream.ts).
    dispatcher: app.personalApiDispatcher,
  }
}
