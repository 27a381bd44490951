import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'

// Placeholder until the billing issue lands: POST /api/user/:id/quota (admin adjustment).
const routes: FastifyPluginAsyncTypebox = async () => {}

export default routes
