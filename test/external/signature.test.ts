import { readFileSync } from 'node:fs';
import t from 'tap';
import { canonicalQuery, canonicalString, sign, verifySignature } from '../../src/external/signature.js';

interface Vector {
  name: string;
  secret: string;
  method: string;
  path: string;
  query: string;
  timestamp: string;
  nonce: string;
  body: string;
  canonical: string;
  signature: string;
}

const file = JSON.parse(readFileSync(new URL('./signature-vectors.json', import.meta.url), 'utf8')) as { vectors: Vector[] };
const vectors = file.vectors;

t.test('the vectors file holds the cases the docs rely on', async (t) => {
  t.ok(vectors.length >= 5);
});

for (const v of vectors) {
  t.test(`vector "${v.name}": canonical string`, async (t) => {
    const args = { method: v.method, path: v.path, timestamp: v.timestamp, nonce: v.nonce, query: v.query, body: v.body };
    t.equal(canonicalString(args), v.canonical);
  });

  t.test(`vector "${v.name}": canonical string from a Buffer body and a '?'-prefixed query`, async (t) => {
    const args = {
      method: v.method,
      path: v.path,
      timestamp: v.timestamp,
      nonce: v.nonce,
      query: v.query ? `?${v.query}` : undefined,
      body: Buffer.from(v.body, 'utf8'),
    };
    t.equal(canonicalString(args), v.canonical);
  });

  t.test(`vector "${v.name}": signature`, async (t) => {
    t.equal(sign(v.secret, v.canonical), v.signature);
    t.ok(verifySignature(v.secret, v.canonical, v.signature));
  });
}

t.test('a path given with its query string is signed without it', async (t) => {
  const canonical = canonicalString({ method: 'get', path: '/api/x?b=2&a=1', timestamp: '1', nonce: 'abcdefgh', query: 'b=2&a=1' });
  t.equal(canonical, 'GET&/api/x&1&abcdefgh&a=1&b=2');
});

t.test('query given as URLSearchParams or a record of decoded values matches the raw string', async (t) => {
  const raw = 'to=2026-01-31&q=new%20year&from=2026-01-01&m=b&m=a';
  const expected = 'from=2026-01-01&m=a&m=b&q=new year&to=2026-01-31';
  t.equal(canonicalQuery(raw), expected);
  t.equal(canonicalQuery(new URLSearchParams(raw)), expected);
  t.equal(canonicalQuery({ to: '2026-01-31', q: 'new year', from: '2026-01-01', m: ['b', 'a'] }), expected);
});

t.test("'+' in a raw query is a space, as form encoding defines", async (t) => {
  t.equal(canonicalQuery('q=new+year'), 'q=new year');
});

t.test('query keys sort by code point, not by UTF-16 unit', async (t) => {
  // U+FF21 (fullwidth A) sorts before U+1F600 by code point, after it by UTF-16 unit
  t.equal(canonicalQuery({ '\u{1F600}': '1', '\uFF21': '2' }), '\uFF21=2&\u{1F600}=1');
});

t.test('an empty query and an empty body are left out entirely', async (t) => {
  t.equal(canonicalString({ method: 'GET', path: '/p', timestamp: '1', nonce: 'n', query: '?', body: '' }), 'GET&/p&1&n');
  t.equal(canonicalString({ method: 'GET', path: '/p', timestamp: '1', nonce: 'n', query: {}, body: Buffer.alloc(0) }), 'GET&/p&1&n');
});

t.test('verify rejects a signature over a tampered body', async (t) => {
  const v = vectors.find((x) => x.method === 'POST');
  if (!v) throw new Error('no POST vector');
  const tampered = canonicalString({ ...v, body: v.body.replace('12.5', '125') });
  t.notOk(verifySignature(v.secret, tampered, v.signature));
});

t.test('verify rejects the right signature under another secret', async (t) => {
  const v = vectors[0];
  if (!v) throw new Error('no vector');
  t.notOk(verifySignature(`${v.secret}x`, v.canonical, v.signature));
});

t.test('verify accepts upper-case hex and rejects non-hex or wrong-length signatures', async (t) => {
  const v = vectors[0];
  if (!v) throw new Error('no vector');
  t.ok(verifySignature(v.secret, v.canonical, v.signature.toUpperCase()));
  t.notOk(verifySignature(v.secret, v.canonical, ''));
  t.notOk(verifySignature(v.secret, v.canonical, v.signature.slice(0, 62)));
  t.notOk(verifySignature(v.secret, v.canonical, `${v.signature}00`));
  t.notOk(verifySignature(v.secret, v.canonical, `${v.signature.slice(0, 63)}g`));
  t.notOk(verifySignature(v.secret, v.canonical, ` ${v.signature.slice(1)}`));
});
