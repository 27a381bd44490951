import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'

// Placeholder until this domain's issue lands.
const routes: FastifyPluginAsyncTypebox = async () => {}

export default routes
