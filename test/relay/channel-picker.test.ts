import t from 'tap';
import { ChannelIndex, pickChannel, type RoutableChannel } from '../../src/relay/channel-picker.js';

interface Channel extends RoutableChannel {
  name: string;
}

let nextId = 1;
function channel(fields: Partial<Channel>): Channel {
  const id = fields.id ?? nextId++;
  return { id, name: `ch${id}`, models: [], groups: ['default'], priority: 0, weight: 1, status: 'enabled', ...fields };
}

/** A random() that returns the given values in turn. */
function sequence(...values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length] as number;
}

/** A seeded generator (mulberry32) so the distribution test is repeatable. */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const ids = (list: readonly RoutableChannel[]): number[] => list.map((c) => c.id);

t.test('candidates are the channels of the group serving the model, highest priority first', async (t) => {
  const low = channel({ id: 1, models: ['gpt-4o'], priority: 0 });
  const high = channel({ id: 2, models: ['gpt-4o', 'gpt-4o-mini'], priority: 10 });
  const other = channel({ id: 3, models: ['gpt-4o-mini'], priority: 5 });
  const index = new ChannelIndex([low, high, other]);
  t.same(ids(index.candidates('default', 'gpt-4o')), [2, 1]);
  t.same(ids(index.candidates('default', 'gpt-4o-mini')), [2, 3]);
});

t.test('a channel with an empty models list serves any model, merged by priority', async (t) => {
  const explicit = channel({ id: 1, models: ['gpt-4o'], priority: 1 });
  const anyHigh = channel({ id: 2, models: [], priority: 5 });
  const anyLow = channel({ id: 3, models: [], priority: 0 });
  const index = new ChannelIndex([explicit, anyHigh, anyLow]);
  t.same(ids(index.candidates('default', 'gpt-4o')), [2, 1, 3]);
  t.same(ids(index.candidates('default', 'some-unlisted-model')), [2, 3]);
  t.ok(index.servesModel('default', 'some-unlisted-model'));
});

t.test('only enabled channels are indexed', async (t) => {
  const index = new ChannelIndex([
    channel({ id: 1, models: ['m'], status: 'disabled' }),
    channel({ id: 2, models: ['m'], status: 'auto_disabled' }),
    channel({ id: 3, models: ['m'] }),
  ]);
  t.same(ids(index.candidates('default', 'm')), [3]);
});

t.test('groups are separate, and a channel may serve several', async (t) => {
  const index = new ChannelIndex([
    channel({ id: 1, models: ['m'], groups: ['default', 'vip'] }),
    channel({ id: 2, models: ['m'], groups: ['vip'] }),
  ]);
  t.same(ids(index.candidates('default', 'm')), [1]);
  t.same(ids(index.candidates('vip', 'm')), [1, 2]);
  t.same(ids(index.candidates('nobody', 'm')), []);
  t.notOk(index.servesModel('default', 'other'));
});

t.test('equal priorities are ordered by id, the same on every lookup', async (t) => {
  const index = new ChannelIndex([channel({ id: 9, models: ['m'] }), channel({ id: 4, models: ['m'] }), channel({ id: 6, models: [] })]);
  t.same(ids(index.candidates('default', 'm')), [4, 6, 9]);
  t.equal(index.candidates('default', 'm'), index.candidates('default', 'm'), 'cached list is reused');
});

t.test('modelsForGroup lists the explicit model names of a group, sorted', async (t) => {
  const index = new ChannelIndex([
    channel({ models: ['gpt-4o-mini', 'gpt-4o'] }),
    channel({ models: ['text-embedding-3-small', 'gpt-4o'] }),
    channel({ models: [] }),
    channel({ models: ['vip-only'], groups: ['vip'] }),
    channel({ models: ['disabled-model'], status: 'disabled' }),
  ]);
  t.same(index.modelsForGroup('default'), ['gpt-4o', 'gpt-4o-mini', 'text-embedding-3-small']);
  t.same(index.modelsForGroup('vip'), ['vip-only']);
  t.same(index.modelsForGroup('none'), []);
});

t.test('pickChannel takes the highest priority tier', async (t) => {
  const list = [channel({ id: 1, priority: 10 }), channel({ id: 2, priority: 0 })];
  t.equal(pickChannel(list, new Set(), sequence(0.99))?.id, 1);
});

t.test('pickChannel falls to the next tier once the top tier is excluded', async (t) => {
  const list = [channel({ id: 1, priority: 10 }), channel({ id: 2, priority: 10 }), channel({ id: 3, priority: 0 })];
  t.equal(pickChannel(list, new Set([1]), sequence(0.5))?.id, 2);
  t.equal(pickChannel(list, new Set([1, 2]), sequence(0.5))?.id, 3);
  t.equal(pickChannel(list, new Set([1, 2, 3]), sequence(0.5)), undefined);
  t.equal(pickChannel([], new Set()), undefined);
});

t.test('pickChannel divides the range by weight inside the tier', async (t) => {
  const list = [channel({ id: 1, weight: 1 }), channel({ id: 2, weight: 3 })];
  t.equal(pickChannel(list, new Set(), sequence(0))?.id, 1);
  t.equal(pickChannel(list, new Set(), sequence(0.24))?.id, 1);
  t.equal(pickChannel(list, new Set(), sequence(0.25))?.id, 2);
  t.equal(pickChannel(list, new Set(), sequence(0.999999))?.id, 2);
  t.equal(pickChannel(list, new Set(), sequence(1))?.id, 2, 'a random() of 1 still picks a channel');
});

t.test('weight 0 channels are standbys, chosen only when all the tier left has weight 0', async (t) => {
  const list = [channel({ id: 1, weight: 0 }), channel({ id: 2, weight: 2 }), channel({ id: 3, weight: -1 })];
  for (const r of [0, 0.3, 0.7, 0.99]) t.equal(pickChannel(list, new Set(), sequence(r))?.id, 2);
  t.equal(pickChannel(list, new Set([2]), sequence(0.2))?.id, 1);
  t.equal(pickChannel(list, new Set([2]), sequence(0.7))?.id, 3, 'standbys are picked uniformly');
});

t.test('weighted choice follows the weights over many draws', async (t) => {
  const list = [channel({ id: 1, weight: 1 }), channel({ id: 2, weight: 2 }), channel({ id: 3, weight: 7 }), channel({ id: 4, priority: -1, weight: 100 })];
  const random = seeded(42);
  const draws = 100_000;
  const counts = new Map<number, number>();
  for (let i = 0; i < draws; i++) {
    const picked = pickChannel(list, new Set(), random);
    if (picked) counts.set(picked.id, (counts.get(picked.id) ?? 0) + 1);
  }
  // Standard error at p = 0.1 over 1e5 draws is about 0.001; 0.01 leaves a wide margin.
  t.ok(Math.abs((counts.get(1) ?? 0) / draws - 0.1) < 0.01, `weight 1 ≈ 10% (${counts.get(1)})`);
  t.ok(Math.abs((counts.get(2) ?? 0) / draws - 0.2) < 0.01, `weight 2 ≈ 20% (${counts.get(2)})`);
  t.ok(Math.abs((counts.get(3) ?? 0) / draws - 0.7) < 0.01, `weight 7 ≈ 70% (${counts.get(3)})`);
  t.equal(counts.get(4), undefined, 'a lower tier is never chosen while a higher one is open');
});

t.test('pickChannel does not rely on the candidates being sorted', async (t) => {
  const list = [channel({ id: 1, priority: 0 }), channel({ id: 2, priority: 3 }), channel({ id: 3, priority: 1 })];
  t.equal(pickChannel(list, new Set(), sequence(0))?.id, 2);
});
