/**
 * The price list a fresh installation starts with: OpenAI's public list prices in USD (per 1M
 * tokens, or per request for images), as decimal strings so they enter as exact micro-USD.
 * Applied once, when the database has no users yet (see `seedStarterPrices`); after that the
 * admins own the list, and deleting an entry keeps it deleted across restarts.
 */
export interface StarterPrice {
  model: string
  input: string
  output: string
  perRequest: string
  /** USD per 1M cached prompt tokens; absent = the input price (OpenAI charges no cache writes). */
  cacheRead?: string
}

const tokens = (model: string, input: string, output: string, cacheRead?: string): StarterPrice =>
  cacheRead === undefined ? { model, input, output, perRequest: '0' } : { model, input, output, perRequest: '0', cacheRead }

export const STARTER_PRICES: readonly StarterPrice[] = [
  tokens('gpt-5', '1.25', '10', '0.125'),
  tokens('gpt-5-mini', '0.25', '2', '0.025'),
  tokens('gpt-5-nano', '0.05', '0.4', '0.005'),
  tokens('gpt-4.1', '2', '8', '0.5'),
  tokens('gpt-4.1-mini', '0.4', '1.6', '0.1'),
  tokens('gpt-4.1-nano', '0.1', '0.4', '0.025'),
  tokens('gpt-4o', '2.5', '10', '1.25'),
  tokens('gpt-4o-mini', '0.15', '0.6', '0.075'),
  tokens('gpt-4-turbo', '10', '30'),
  tokens('gpt-3.5-turbo', '0.5', '1.5'),
  tokens('o1', '15', '60', '7.5'),
  tokens('o3', '2', '8', '0.5'),
  tokens('o3-mini', '1.1', '4.4', '0.55'),
  tokens('o4-mini', '1.1', '4.4', '0.275'),
  tokens('text-embedding-3-small', '0.02', '0'),
  tokens('text-embedding-3-large', '0.13', '0'),
  tokens('text-embedding-ada-002', '0.1', '0'),
  // Moderation is free at OpenAI; listed so it is not refused for want of a price.
  tokens('omni-moderation-latest', '0', '0'),
  // dall-e-3, standard quality 1024×1024, per image request.
  { model: 'dall-e-3', input: '0', output: '0', perRequest: '0.04' },
]
