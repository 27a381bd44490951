// Real entries of @pydantic/genai-prices 0.1.8 (its bundled data, copied verbatim for these models) and a stand-in
// for the two functions of the package the gateway calls, matching ids by the package's own rules (provider
// `model_match`, then the model's `match`, case-insensitive). The tests use the installed package when there is
// one, and this stand-in only until then; the values asserted are the package's either way.
import type { GenaiPricesModule } from '../../src/pricing/catalogue.js'

type Match =
  | { equals: string }
  | { starts_with: string }
  | { ends_with: string }
  | { contains: string }
  | { regex: string }
  | { or: Match[] }
  | { and: Match[] }

interface StandInModel {
  id: string
  match: Match
  prices: unknown
}
interface StandInProvider {
  id: string
  model_match: Match
  models: StandInModel[]
}

export const PROVIDERS: StandInProvider[] = [
  {
    id: 'anthropic',
    model_match: { contains: 'claude' },
    models: [
      {
        id: 'claude-sonnet-4-0',
        match: { or: [{ starts_with: 'claude-sonnet-4-2025' }, { starts_with: 'claude-sonnet-4-0' }, { starts_with: 'claude-sonnet-4@' }, { equals: 'claude-sonnet-4' }, { starts_with: 'claude-4-sonnet' }] },
        prices: { input_mtok: 3, cache_write_mtok: 3.75, cache_read_mtok: 0.3, output_mtok: 15, cache_write_1h_mtok: 6, web_searches_kcount: 10 },
      },
    ],
  },
  {
    id: 'deepseek',
    model_match: { starts_with: 'deepseek' },
    models: [
      {
        id: 'deepseek-chat',
        match: { or: [{ starts_with: 'deepseek-chat' }, { equals: 'deepseek-chat-v3-0324' }] },
        prices: [
          { prices: { input_mtok: 0.135, cache_read_mtok: 0.035, output_mtok: 0.55 } },
          { constraint: { start_time: '00:30:00Z', end_time: '16:30:00Z', type: 'time_of_date' }, prices: { input_mtok: 0.27, cache_read_mtok: 0.07, output_mtok: 1.1 } },
        ],
      },
    ],
  },
  {
    id: 'google',
    model_match: { contains: 'gemini' },
    models: [
      {
        id: 'gemini-2.5-pro',
        match: { and: [{ starts_with: 'gemini-2.5-pro' }, { regex: '^(?!.*-[tT][tT][sS](?:$|-))' }] },
        prices: {
          input_mtok: { base: 1.25, tiers: [{ start: 200000, price: 2.5 }] },
          cache_read_mtok: { base: 0.125, tiers: [{ start: 200000, price: 0.25 }] },
          output_mtok: { base: 10, tiers: [{ start: 200000, price: 15 }] },
        },
      },
    ],
  },
  {
    id: 'openai',
    model_match: { or: [{ starts_with: 'gpt-' }, { equals: 'whisper-1' }, { regex: '^o[134]' }] },
    models: [
      {
        id: 'gpt-4o',
        match: { or: [{ equals: 'gpt-4o' }, { equals: 'gpt-4o-2024-08-06' }, { equals: 'gpt-4o-2024-11-20' }] },
        prices: { input_mtok: 2.5, cache_read_mtok: 1.25, output_mtok: 10, web_searches_kcount: 10, storage_searches_kcount: 2.5 },
      },
      {
        id: 'o3',
        match: { or: [{ equals: 'o3' }, { equals: 'o3-2025-04-16' }] },
        prices: [
          { prices: { input_mtok: 10, cache_read_mtok: 0.5, output_mtok: 40, web_searches_kcount: 10, storage_searches_kcount: 2.5 } },
          { constraint: { start_date: '2025-06-10', type: 'start_date' }, prices: { input_mtok: 2, cache_read_mtok: 0.5, output_mtok: 8, web_searches_kcount: 10, storage_searches_kcount: 2.5 } },
        ],
      },
      { id: 'text-embedding-3-small', match: { equals: 'text-embedding-3-small' }, prices: { input_mtok: 0.02 } },
      { id: 'whisper-1', match: { equals: 'whisper-1' }, prices: { audio_hours: 0.36, input_audio_hours: 0.36 } },
    ],
  },
]

function matches(rule: Match, id: string): boolean {
  const lower = id.toLowerCase()
  if ('or' in rule) return rule.or.some((r) => matches(r, id))
  if ('and' in rule) return rule.and.every((r) => matches(r, id))
  if ('equals' in rule) return lower === rule.equals.toLowerCase()
  if ('starts_with' in rule) return lower.startsWith(rule.starts_with.toLowerCase())
  if ('ends_with' in rule) return lower.endsWith(rule.ends_with.toLowerCase())
  if ('contains' in rule) return lower.includes(rule.contains.toLowerCase())
  return new RegExp(rule.regex).test(id)
}

export const standIn: GenaiPricesModule = {
  calcPrice(_usage, modelId, options) {
    const id = modelId.toLowerCase().trim()
    const provider = options?.providerId
      ? PROVIDERS.find((p) => p.id === options.providerId?.toLowerCase())
      : PROVIDERS.find((p) => matches(p.model_match, id))
    const model = provider?.models.find((m) => matches(m.match, id))
    return provider && model ? { provider: { id: provider.id }, model: { id: model.id, prices: model.prices } } : null
  },
  findProvider({ providerId }) {
    const provider = PROVIDERS.find((p) => p.id === providerId?.toLowerCase())
    return provider ? { id: provider.id } : undefined
  },
}

/** The installed package, or null while it is not installed. */
export async function installedPackage(): Promise<GenaiPricesModule | null> {
  const specifier: string = '@pydantic/genai-prices'
  try {
    return (await import(specifier)) as GenaiPricesModule
  } catch {
    return null
  }
}
