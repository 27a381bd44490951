import fp from 'fastify-plugin'
import { loadCatalogue } from './catalogue.js'
import { createPricingRepository } from './repository.js'
import { createPricingService, type PricingService } from './service.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Prices and group ratios, cached in memory (reloaded on INVALIDATE.pricing). */
    pricing: PricingService
  }
}

export default fp(
  async (app) => {
    // Imported once here, never per request; without the package only admin prices apply.
    const { catalogue, problem } = await loadCatalogue()
    if (problem) app.log.warn(`price catalogue unavailable (${problem}): models without an admin price use the default price`)
    const pricing = createPricingService({ repo: createPricingRepository(app.db), cache: app.cache, clock: app.clock, log: app.log, catalogue })
    // Runs before the root admin is made (onReady), so "no user yet" means a fresh database.
    if (await pricing.seedIfFresh()) app.log.info('fresh database: starter price list written')
    await pricing.start()
    app.decorate('pricing', pricing)
    // Admin-priced models are known: their names may be metric labels.
    app.metrics.addModelSource((model) => pricing.hasOwnPrice(model))
  },
  { name: 'pricing', dependencies: ['db', 'cache', 'metrics'] },
)
