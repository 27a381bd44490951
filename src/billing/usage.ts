// Each provider counts cached and reasoning tokens its own way; billing needs one way (CONTRACT §4). These pure
// functions turn a provider's `usage` object into the normalised `Usage` of src/relay/seams.ts, where
// `prompt_tokens` is the WHOLE input (cache reads and writes included) and `completion_tokens` the WHOLE output
// (reasoning included), with the cached / cache-write / reasoning parts beside them:
//
//   OpenAI    prompt_tokens INCLUDES prompt_tokens_details.cached_tokens; completion_tokens INCLUDES
//             completion_tokens_details.reasoning_tokens (the Responses API: input_/output_tokens and their
//             input_/output_tokens_details, same meaning). No cache-write count: OpenAI does not bill writes.
//   Anthropic input_tokens EXCLUDES cache_read_input_tokens and cache_creation_input_tokens, so the total is
//             their sum; output_tokens includes thinking, which is not reported apart.
//   Gemini    promptTokenCount INCLUDES cachedContentTokenCount; candidatesTokenCount EXCLUDES
//             thoughtsTokenCount, so the output is their sum; toolUsePromptTokenCount is input beside the prompt.
//
// Counts are taken as sent when they are finite numbers ≥ 0 (anything else is 0), the way the relay has always
// read `usage`; `cleanUsage` makes them the integers the cost function takes.
import type { Usage } from '../relay/seams.js'

type Json = Record<string, unknown>

const isRecord = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value)

/** A token count as a provider sent it: a finite number ≥ 0, else 0. */
function count(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : 0
}

/** The first of `names` that holds a finite number ≥ 0 (a later name is an alias, e.g. the Responses API's). */
function first(usage: Json, a: string, b: string): number {
  for (const name of [a, b]) {
    const value = usage[name]
    if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return value
  }
  return 0
}

/** The usage with its optional parts set only when non-zero, so a plain usage stays `{prompt, completion}`. */
function normalised(prompt: number, completion: number, cached: number, cacheWrite: number, reasoning: number): Usage {
  const usage: Usage = { prompt_tokens: prompt, completion_tokens: completion }
  if (cached > 0) usage.cached_tokens = cached
  if (cacheWrite > 0) usage.cache_write_tokens = cacheWrite
  if (reasoning > 0) usage.reasoning_tokens = reasoning
  return usage
}

/**
 * OpenAI's `usage` (chat, completions, embeddings, the Responses and Realtime APIs): already the normalised
 * meaning. DeepSeek's `prompt_cache_hit_tokens` stands in when `prompt_tokens_details` is missing. Null when
 * `usage` is not an object.
 */
export function fromOpenAI(usage: unknown): Usage | null {
  if (!isRecord(usage)) return null
  const inputDetails = isRecord(usage.prompt_tokens_details) ? usage.prompt_tokens_details : isRecord(usage.input_tokens_details) ? usage.input_tokens_details : null
  const outputDetails = isRecord(usage.completion_tokens_details) ? usage.completion_tokens_details : isRecord(usage.output_tokens_details) ? usage.output_tokens_details : null
  return normalised(
    first(usage, 'prompt_tokens', 'input_tokens'),
    first(usage, 'completion_tokens', 'output_tokens'),
    count(inputDetails?.cached_tokens) || count(usage.prompt_cache_hit_tokens),
    0,
    count(outputDetails?.reasoning_tokens),
  )
}

/** Anthropic's `usage` (Messages API): the input total is the uncached input plus cache reads and writes. */
export function fromAnthropic(usage: unknown): Usage | null {
  if (!isRecord(usage)) return null
  const cached = count(usage.cache_read_input_tokens)
  const cacheWrite = count(usage.cache_creation_input_tokens)
  return normalised(count(usage.input_tokens) + cached + cacheWrite, count(usage.output_tokens), cached, cacheWrite, 0)
}

/** Gemini's `usageMetadata`: the output total is the candidates plus the thoughts. */
export function fromGemini(usageMetadata: unknown): Usage | null {
  if (!isRecord(usageMetadata)) return null
  const thoughts = count(usageMetadata.thoughtsTokenCount)
  return normalised(
    count(usageMetadata.promptTokenCount) + count(usageMetadata.toolUsePromptTokenCount),
    count(usageMetadata.candidatesTokenCount) + thoughts,
    count(usageMetadata.cachedContentTokenCount),
    0,
    thoughts,
  )
}

/** Token counts beyond any real request, clamped before pricing (the meter's own bound). */
export const MAX_USAGE_TOKENS = 1e12

const whole = (value: number | undefined): number =>
  Math.min(MAX_USAGE_TOKENS, Math.max(0, Math.trunc(value !== undefined && Number.isFinite(value) ? value : 0)))

/**
 * The usage as `computeUsageQuota` takes it: every count a whole number in [0, MAX_USAGE_TOKENS] (fractions are
 * cut, a wild count clamped), so an odd upstream can never make pricing throw.
 */
export function cleanUsage(usage: Usage): Usage {
  return normalised(
    whole(usage.prompt_tokens),
    whole(usage.completion_tokens),
    whole(usage.cached_tokens),
    whole(usage.cache_write_tokens),
    whole(usage.reasoning_tokens),
  )
}
