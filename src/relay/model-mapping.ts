/**
 * The model a channel is sent for the client's `model`. The mapping is a plain object from JSON, and the key is
 * the client's string: only the mapping's own string entries count, so `constructor`, `toString` or `__proto__`
 * never read what Object.prototype holds (they once sent upstream a body without a model and billed nearly nothing).
 */
export function upstreamModelOf(mapping: Readonly<Record<string, string>>, model: string): string {
  if (!Object.hasOwn(mapping, model)) return model
  const mapped: unknown = mapping[model]
  return typeof mapped === 'string' && mapped.length > 0 ? mapped : model
}
