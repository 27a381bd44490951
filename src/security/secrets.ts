// Everything the gateway does with secrets: how they are shown (masked), minted (relay keys),
// looked up (hashed) and kept at rest (channel keys, encrypted). Nothing here logs or echoes a secret.

import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

/** CONTRACT §2: first 5 + '...' + last 4; keys under 16 chars show only '...' and their last 2. */
export function maskSecret(secret: string): string {
  if (secret.length < 16) return `...${secret.slice(-2)}`;
  return `${secret.slice(0, 5)}...${secret.slice(-4)}`;
}

const KEY_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const KEY_LENGTH = 48;
// The largest multiple of 62 that fits a byte: bytes at or above it are dropped, so every
// character of the alphabet is exactly equally likely (a plain `byte % 62` favours the first 8).
const UNBIASED_LIMIT = 256 - (256 % KEY_ALPHABET.length);

export type RandomBytes = (size: number) => Buffer;

/** 'sk-' + 48 chars of [A-Za-z0-9] from a CSPRNG. `random` is a seam for tests. */
export function generateRelayKey(random: RandomBytes = randomBytes): string {
  return generateSecretToken('sk-', KEY_LENGTH, random);
}

/** `prefix` + `length` chars of [A-Za-z0-9] from a CSPRNG, each equally likely (relay keys, recharge codes). */
export function generateSecretToken(prefix: string, length: number, random: RandomBytes = randomBytes): string {
  let key = prefix;
  const total = prefix.length + length;
  while (key.length < total) {
    for (const byte of random(64)) {
      if (byte >= UNBIASED_LIMIT) continue;
      key += KEY_ALPHABET.charAt(byte % KEY_ALPHABET.length);
      if (key.length === total) break;
    }
  }
  return key;
}

/** Relay keys are stored and looked up by this hash only: hex SHA-256 of the whole key. */
export function hashRelayKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

export class EncryptionKeyError extends Error {
  override name = 'EncryptionKeyError';
}

export class SecretBoxError extends Error {
  override name = 'SecretBoxError';
}

export interface SecretBox {
  encrypt(plain: string): string;
  decrypt(stored: string): string;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})$/;
const BASE64_OR_EMPTY = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

function decodeKey(keyBase64: string): Buffer {
  // Buffer.from silently skips characters that are not base64, so a mistyped key would decode
  // to *some* bytes; check the text first and say which rule it broke (never the key itself).
  if (!BASE64.test(keyBase64)) throw new EncryptionKeyError('ENCRYPTION_KEY must be standard base64');
  const key = Buffer.from(keyBase64, 'base64');
  if (key.length !== 32) {
    throw new EncryptionKeyError(`ENCRYPTION_KEY must decode to exactly 32 bytes, got ${key.length}`);
  }
  return key;
}

function decodePart(part: string | undefined, name: string): Buffer {
  if (part === undefined || !BASE64_OR_EMPTY.test(part)) throw new SecretBoxError(`stored secret has a malformed ${name}`);
  return Buffer.from(part, 'base64');
}

/**
 * AES-256-GCM with a random 12-byte IV per secret, stored as `v1:<iv>:<tag>:<ciphertext>` (base64
 * parts). The version prefix lets a later key rotation or cipher change tell old rows apart.
 */
export function createSecretBox(keyBase64: string, random: RandomBytes = randomBytes): SecretBox {
  const key = decodeKey(keyBase64);
  return {
    encrypt(plain: string): string {
      const iv = random(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      const ciphertext = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      const tag = cipher.getAuthTag();
      return [VERSION, iv.toString('base64'), tag.toString('base64'), ciphertext.toString('base64')].join(':');
    },
    decrypt(stored: string): string {
      const [version, ivPart, tagPart, dataPart, ...rest] = stored.split(':');
      if (version !== VERSION || rest.length > 0) throw new SecretBoxError('stored secret has an unknown format');
      const iv = decodePart(ivPart, 'iv');
      const tag = decodePart(tagPart, 'tag');
      const data = decodePart(dataPart, 'ciphertext');
      if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) throw new SecretBoxError('stored secret has a malformed iv or tag');
      const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
      decipher.setAuthTag(tag);
      try {
        return Buffer.concat([decipher.update(data), decipher.final()]).toString('utf8');
      } catch (cause) {
        throw new SecretBoxError('cannot decrypt stored secret: wrong ENCRYPTION_KEY or tampered data', { cause });
      }
    },
  };
}
