// A personal API (CONTRACT §7) as the relay sees it: one synthetic channel, tried alone (no failover to the
// gateway's channels, which the user does not pay for here), through the address-checked dispatcher.
import type { FastifyInstance } from 'fastify'
import type { PersonalApiTarget, RelayChannel } from './seams.js'

export function personalApiChannel(app: FastifyInstance, target: PersonalApiTarget): RelayChannel {
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
    dispatcher: app.hasDecorator('personalApiDispatcher') ? (app as unknown as { personalApiDispatcher: RelayChannel['dispatcher'] }).personalApiDispatcher : undefined,
  }
}
