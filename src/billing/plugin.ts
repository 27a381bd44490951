import fp from 'fastify-plugin'

// Placeholder: decorates app.meter (Meter), pricing and logs services (issue 4).
export default fp(async () => {}, { name: 'billing', dependencies: ['db', 'cache'] })
