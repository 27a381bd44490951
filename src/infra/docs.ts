import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import fp from 'fastify-plugin'

/** OpenAPI generated from the route schemas: the UI at /docs, the spec at /docs/json. */
export default fp(
  async (app) => {
    await app.register(swagger, {
      openapi: {
        openapi: '3.0.3',
        info: {
          title: 'nexus-api',
          description: 'OpenAI-compatible LLM relay gateway: relay (/v1), management (/api), partner API (/api/user/external).',
          version: '0.1.0',
        },
        components: {
          securitySchemes: {
            session: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
            relayKey: { type: 'http', scheme: 'bearer', description: 'relay key sk-...' },
          },
        },
      },
    })
    await app.register(swaggerUi, { routePrefix: '/docs' })
  },
  { name: 'docs' },
)
