import t from 'tap';
import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';
import { STREAM_TEXT_HELD_MAX, StreamTokenCounter, countTextTokens, estimatePromptTokens } from '../../src/billing/tokens-count.js';

// Expected values come from the library's own one-shot count; what is under test is how bodies
// are walked and how the streaming counter splits its input.
const count = (text: string): number => countTokens(text);

/** Deterministic PRNG (mulberry32) so a failing split can be reproduced. */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

function feedInRandomPieces(counter: StreamTokenCounter, text: string, seed: number, maxPiece: number, onPiece?: () => void): void {
  const random = seeded(seed);
  for (let i = 0; i < text.length; ) {
    const size = 1 + Math.floor(random() * maxPiece);
    counter.add(text.slice(i, i + size));
    i += size;
    onPiece?.();
  }
}

const PROSE =
  'The quick brown fox jumps over the lazy dog.  It was 12:45, and 3.14159 apples cost $2.50 each!\n\n' +
  '```ts\nconst total = items.reduce((sum, x) => sum + x.price, 0);\n```\n' +
  '人工智能正在改变世界。 Ça va très bien, merci — naïve café. 🎉🚀 emoji too.\n\t- a list item\n';

t.test('plain text is counted like the library counts it', async (t) => {
  t.equal(countTextTokens('hello world'), count('hello world'));
  t.equal(countTextTokens(''), 0);
  t.equal(countTextTokens(PROSE), count(PROSE));
});

t.test('special-token text in user content is counted as plain text instead of throwing', async (t) => {
  t.ok(countTextTokens('say <|endoftext|> now') > 3);
});

t.test('a chat body counts role, content and name, plus framing per message and reply priming', async (t) => {
  const body = {
    model: 'gpt-4o',
    messages: [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', name: 'alice', content: 'hello world' },
    ],
  };
  const expected =
    3 + (3 + count('system') + count('You are terse.')) + (3 + count('user') + count('hello world') + 1 + count('alice'));
  t.equal(estimatePromptTokens(body), expected);
});

t.test('content-part arrays count only their text parts', async (t) => {
  const body = {
    messages: [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'What is in this image?' },
          { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } },
          { type: 'text', text: 'Be brief.' },
        ],
      },
    ],
  };
  t.equal(estimatePromptTokens(body), 3 + 3 + count('user') + count('What is in this image?') + count('Be brief.'));
});

t.test('assistant tool calls and tool schemas are counted as text', async (t) => {
  const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }];
  const body = {
    tools,
    messages: [{ role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] }],
  };
  const expected = 3 + 3 + count('assistant') + count('get_weather') + count('{"city":"Paris"}') + count(JSON.stringify(tools));
  t.equal(estimatePromptTokens(body), expected);
});

t.test('a completions prompt may be a string or an array of strings', async (t) => {
  t.equal(estimatePromptTokens({ prompt: 'Once upon a time' }), count('Once upon a time'));
  t.equal(estimatePromptTokens({ prompt: ['one two', 'three'] }), count('one two') + count('three'));
});

t.test('embedding input: strings count as text, token-id arrays count one per id', async (t) => {
  t.equal(estimatePromptTokens({ input: 'embed me' }), count('embed me'));
  t.equal(estimatePromptTokens({ input: ['a b', 'c'] }), count('a b') + count('c'));
  t.equal(estimatePromptTokens({ input: [101, 102, 103] }), 3);
  t.equal(estimatePromptTokens({ input: [[1, 2], [3]] }), 3);
});

t.test('bodies that are not requests estimate to 0', async (t) => {
  t.equal(estimatePromptTokens(null), 0);
  t.equal(estimatePromptTokens('text'), 0);
  t.equal(estimatePromptTokens([]), 0);
  t.equal(estimatePromptTokens({ model: 'x' }), 0);
});

t.test('an empty chat still costs the reply priming', async (t) => {
  t.equal(estimatePromptTokens({ messages: [] }), 3);
});

t.test('the stream counter over a short text equals the one-shot count', async (t) => {
  const counter = new StreamTokenCounter();
  feedInRandomPieces(counter, PROSE, 1, 7);
  t.equal(counter.total(), count(PROSE));
});

t.test('the stream counter over random splits stays within 1% of the one-shot count', async (t) => {
  const text = PROSE.repeat(400); // ~80 KB, crossing many flushes
  const expected = count(text);
  for (const seed of [1, 2, 3]) {
    const counter = new StreamTokenCounter();
    feedInRandomPieces(counter, text, seed, 40);
    const diff = Math.abs(counter.total() - expected);
    t.ok(diff <= Math.max(3, expected * 0.01), `seed ${seed}: ${counter.total()} vs ${expected}`);
  }
});

t.test('the stream counter handles text without whitespace within 1%', async (t) => {
  const text = '人工智能正在改变世界，我们一起学习。'.repeat(2000);
  const expected = count(text);
  const counter = new StreamTokenCounter();
  feedInRandomPieces(counter, text, 4, 30);
  t.ok(Math.abs(counter.total() - expected) <= Math.max(3, expected * 0.01), `${counter.total()} vs ${expected}`);
});

t.test('total() can be read mid-stream and counting continues after it', async (t) => {
  const counter = new StreamTokenCounter();
  counter.add('hello ');
  t.equal(counter.total(), count('hello '));
  counter.add('world');
  t.equal(counter.total(), count('hello world'));
});

t.test('pending text stays bounded over 1 MB of streamed prose', async (t) => {
  const text = PROSE.repeat(Math.ceil(1_048_576 / PROSE.length));
  const counter = new StreamTokenCounter();
  let maxPending = 0;
  feedInRandomPieces(counter, text, 5, 200, () => {
    maxPending = Math.max(maxPending, counter.pendingLength);
  });
  t.ok(maxPending <= STREAM_TEXT_HELD_MAX, `max pending ${maxPending}`);
  t.ok(counter.total() > 0);
});

t.test('pending text stays bounded without any whitespace, in random pieces or one 1 MB delta', async (t) => {
  const text = 'abcdefghij'.repeat(104_858);
  const pieces = new StreamTokenCounter();
  let maxPending = 0;
  // 256 KB suffices for the bound; every hard cut lands on a new offset, so BPE gets no cache help
  feedInRandomPieces(pieces, text.slice(0, 262_144), 6, 500, () => {
    maxPending = Math.max(maxPending, pieces.pendingLength);
  });
  t.ok(maxPending <= STREAM_TEXT_HELD_MAX, `max pending ${maxPending}`);
  const whole = new StreamTokenCounter();
  whole.add(text);
  t.ok(whole.pendingLength <= STREAM_TEXT_HELD_MAX, `pending after one add ${whole.pendingLength}`);
});

t.test('a hard cut never splits a surrogate pair', async (t) => {
  const text = '😀'.repeat(5000); // no whitespace, every char a surrogate pair
  const counter = new StreamTokenCounter();
  counter.add('x'); // shift the pairs so a naive cut at an even index would split one
  feedInRandomPieces(counter, text, 7, 9);
  const expected = count(`x${text}`);
  t.ok(Math.abs(counter.total() - expected) <= Math.max(3, expected * 0.01), `${counter.total()} vs ${expected}`);
});
