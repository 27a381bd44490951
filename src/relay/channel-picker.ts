// Channel choice for one request, entirely in memory: the index is rebuilt whenever channels change, so the
// hot path answers "who serves this model in this group" from maps and never from the database.

export interface RoutableChannel {
  id: number;
  /** Models this channel serves; empty means any model. */
  models: string[];
  groups: string[];
  priority: number;
  weight: number;
  status: string;
}

interface GroupIndex<C> {
  /** Channels that list the model explicitly, by model name (not yet merged with the wildcard ones). */
  explicit: Map<string, C[]>;
  /** Channels with an empty `models` list, already sorted. */
  wildcard: readonly C[];
  /** Candidate lists of explicitly served models, merged and sorted on first lookup. */
  merged: Map<string, readonly C[]>;
  modelNames: readonly string[];
}

const NONE: readonly never[] = Object.freeze([]);

/** Highest priority first; equal priorities by id so the order is stable across rebuilds. */
function byPriority(a: RoutableChannel, b: RoutableChannel): number {
  return b.priority - a.priority || a.id - b.id;
}

export class ChannelIndex<C extends RoutableChannel> {
  private readonly groups = new Map<string, GroupIndex<C>>();

  constructor(channels: readonly C[]) {
    const building = new Map<string, { explicit: Map<string, C[]>; wildcard: C[] }>();
    for (const channel of channels) {
      if (channel.status !== 'enabled') continue;
      for (const group of new Set(channel.groups)) {
        let entry = building.get(group);
        if (!entry) {
          entry = { explicit: new Map(), wildcard: [] };
          building.set(group, entry);
        }
        if (channel.models.length === 0) {
          entry.wildcard.push(channel);
          continue;
        }
        for (const model of new Set(channel.models)) {
          const list = entry.explicit.get(model);
          if (list) list.push(channel);
          else entry.explicit.set(model, [channel]);
        }
      }
    }
    for (const [group, entry] of building) {
      this.groups.set(group, {
        explicit: entry.explicit,
        wildcard: entry.wildcard.sort(byPriority),
        merged: new Map(),
        modelNames: [...entry.explicit.keys()].sort(),
      });
    }
  }

  /**
   * Enabled channels of `group` that serve `model`, highest priority first. The list is shared: do not mutate it.
   * Only explicitly listed models are cached, so arbitrary model names from clients cannot grow memory.
   */
  candidates(group: string, model: string): readonly C[] {
    const index = this.groups.get(group);
    if (!index) return NONE;
    const cached = index.merged.get(model);
    if (cached) return cached;
    const explicit = index.explicit.get(model);
    if (!explicit) return index.wildcard;
    const merged = [...explicit, ...index.wildcard].sort(byPriority);
    index.merged.set(model, merged);
    return merged;
  }

  servesModel(group: string, model: string): boolean {
    return this.candidates(group, model).length > 0;
  }

  /** Model names that channels of `group` list explicitly, sorted; wildcard channels add no names. */
  modelsForGroup(group: string): string[] {
    return [...(this.groups.get(group)?.modelNames ?? NONE)];
  }
}

/** Weights that are not positive finite numbers count as zero. */
function effectiveWeight(channel: RoutableChannel): number {
  return Number.isFinite(channel.weight) && channel.weight > 0 ? channel.weight : 0;
}

/**
 * Picks one channel: the highest priority tier that still has a channel not in `exclude`, then weighted random
 * by `weight` inside that tier. A weight of 0 (or less) marks a standby: it is chosen only when every remaining
 * channel of its tier has weight 0, and then all of them are equally likely. Allocates nothing.
 */
export function pickChannel<C extends RoutableChannel>(
  candidates: readonly C[],
  exclude: ReadonlySet<number>,
  random: () => number = Math.random,
): C | undefined {
  let tier = -Infinity;
  let tierSize = 0;
  let tierWeight = 0;
  for (const channel of candidates) {
    if (exclude.has(channel.id) || channel.priority < tier) continue;
    if (channel.priority > tier) {
      tier = channel.priority;
      tierSize = 0;
      tierWeight = 0;
    }
    tierSize += 1;
    tierWeight += effectiveWeight(channel);
  }
  if (tierSize === 0) return undefined;

  const byWeight = tierWeight > 0;
  let remaining = random() * (byWeight ? tierWeight : tierSize);
  let last: C | undefined;
  for (const channel of candidates) {
    if (channel.priority !== tier || exclude.has(channel.id)) continue;
    const share = byWeight ? effectiveWeight(channel) : 1;
    if (share === 0) continue;
    last = channel;
    if (remaining < share) return channel;
    remaining -= share;
  }
  // Only reached through floating-point rounding at the top of the range, or a random() that returned >= 1.
  return last;
}
