import { randomBytes } from 'node:crypto';
import t from 'tap';
import { createSecretBox, generateRelayKey, hashRelayKey, maskSecret } from '../../src/security/secrets.js';

t.test('secrets of 16 chars or more show their first 5 and last 4', async (t) => {
  t.equal(maskSecret('sk-abcdefghijklmnopqrstuvwxyz'), 'sk-ab...wxyz');
  t.equal(maskSecret('0123456789abcdef'), '01234...cdef');
});

t.test('secrets under 16 chars show only their last 2', async (t) => {
  t.equal(maskSecret('0123456789abcde'), '...de');
  t.equal(maskSecret('ab'), '...ab');
  t.equal(maskSecret(''), '...');
});

t.test('a relay key is sk- and 48 alphanumerics', async (t) => {
  const key = generateRelayKey();
  t.match(key, /^sk-[A-Za-z0-9]{48}$/);
  t.not(generateRelayKey(), key);
});

t.test('relay key generation drops the bytes that would bias the alphabet', async (t) => {
  // 248..255 must be skipped; 0 → 'A', 61 → '9', 62 → 'A' again
  const bytes = [248, 255, 0, 250, 61, 62];
  let served = 0;
  const source = (size: number): Buffer => {
    const chunk = Buffer.alloc(size, 1); // 1 → 'B' once the scripted bytes run out
    for (let i = 0; i < size && served < bytes.length; i++) chunk[i] = bytes[served++] ?? 1;
    return chunk;
  };
  t.equal(generateRelayKey(source), `sk-A9A${'B'.repeat(45)}`);
});

t.test('relay key characters are spread evenly over the alphabet', async (t) => {
  const counts = new Map<string, number>();
  for (let i = 0; i < 2000; i++) {
    for (const ch of generateRelayKey().slice(3)) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  }
  t.equal(counts.size, 62);
  // 96000 draws, 1548 expected per char; ±20% is far beyond chance (σ ≈ 39)
  for (const [ch, n] of counts) if (n < 1238 || n > 1858) t.fail(`char ${ch} drawn ${n} times`);
});

t.test('the key hash is hex SHA-256', async (t) => {
  t.equal(hashRelayKey('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
});

const KEY = randomBytes(32).toString('base64');

t.test('a secret box round-trips text, including empty and non-ASCII', async (t) => {
  const box = createSecretBox(KEY);
  for (const plain of ['sk-upstream-key-123', '', '密钥 🔑']) t.equal(box.decrypt(box.encrypt(plain)), plain);
});

t.test('stored secrets are versioned and never contain the plaintext', async (t) => {
  const stored = createSecretBox(KEY).encrypt('sk-upstream-key-123');
  t.match(stored, /^v1:[A-Za-z0-9+/]{16}:[A-Za-z0-9+/]{22}==:[A-Za-z0-9+/=]+$/);
  t.notMatch(stored, /upstream/);
});

t.test('each encryption uses a fresh IV', async (t) => {
  const box = createSecretBox(KEY);
  t.not(box.encrypt('same'), box.encrypt('same'));
});

t.test('decrypting with another key throws', async (t) => {
  const stored = createSecretBox(KEY).encrypt('secret');
  const other = createSecretBox(randomBytes(32).toString('base64'));
  t.throws(() => other.decrypt(stored), { name: 'SecretBoxError', message: /wrong ENCRYPTION_KEY or tampered/ });
});

t.test('a tampered ciphertext, tag or iv throws', async (t) => {
  const box = createSecretBox(KEY);
  const stored = box.encrypt('a secret long enough to flip');
  const parts = stored.split(':');
  for (const index of [1, 2, 3]) {
    const bytes = Buffer.from(parts[index] ?? '', 'base64');
    bytes[0] = (bytes[0] ?? 0) ^ 1;
    const tampered = parts.map((p, i) => (i === index ? bytes.toString('base64') : p)).join(':');
    t.throws(() => box.decrypt(tampered), { name: 'SecretBoxError' }, `part ${index}`);
  }
});

t.test('malformed stored values throw', async (t) => {
  const box = createSecretBox(KEY);
  const stored = box.encrypt('x');
  for (const bad of ['', 'plain', stored.replace(/^v1/, 'v2'), `${stored}:extra`, stored.replace(/:[^:]+:/, ':***:')]) {
    t.throws(() => box.decrypt(bad), { name: 'SecretBoxError' }, JSON.stringify(bad));
  }
});

t.test('the key must be base64 of exactly 32 bytes', async (t) => {
  t.throws(() => createSecretBox(randomBytes(16).toString('base64')), { name: 'EncryptionKeyError', message: /exactly 32 bytes, got 16/ });
  t.throws(() => createSecretBox(randomBytes(33).toString('base64')), { name: 'EncryptionKeyError', message: /got 33/ });
  t.throws(() => createSecretBox(''), { name: 'EncryptionKeyError' });
  t.throws(() => createSecretBox(`${KEY.slice(0, 10)}!${KEY.slice(11)}`), { name: 'EncryptionKeyError', message: /base64/ });
});

t.test('the key error never repeats the key', async (t) => {
  const key = randomBytes(31).toString('base64');
  try {
    createSecretBox(key);
    t.fail('expected a throw');
  } catch (error) {
    t.notMatch(String(error), key);
  }
});
