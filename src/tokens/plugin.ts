import fp from 'fastify-plugin'

// Placeholder: decorates app.relayKeys (RelayKeys) and the tokens service (issue 3).
export default fp(async () => {}, { name: 'tokens', dependencies: ['db', 'cache', 'users-repo'] })
