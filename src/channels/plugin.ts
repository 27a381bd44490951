import fp from 'fastify-plugin'

// Placeholder: decorates app.channelPool (ChannelPool) and the channels service (issue 3).
export default fp(async () => {}, { name: 'channels', dependencies: ['db', 'cache'] })
