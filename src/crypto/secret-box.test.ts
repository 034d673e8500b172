import { describe, expect, it } from 'vitest';
import { generateMasterKey, parseMasterKey } from './master-key.ts';
import { SecretBox, SecretBoxError, type SecretBoxErrorCode } from './secret-box.ts';

const masterKey = parseMasterKey(generateMasterKey());
const box = new SecretBox(masterKey);
const AAD = 'totp_secrets:usr_123';
const PLAINTEXT = 'JBSWY3DPEHPK3PXP-the-totp-seed';
const sealed = box.seal(PLAINTEXT, AAD);
const [version, keyId, iv, ciphertext, tag] = sealed.split('.') as [string, string, string, string, string];

/** Flips one bit of a base64url field, keeping it canonical base64url of the same length. */
function flipBit(field: string, byteIndex = 0): string {
  const bytes = Buffer.from(field, 'base64url');
  bytes[byteIndex] = (bytes[byteIndex] ?? 0) ^ 0x01;
  return bytes.toString('base64url');
}

const BASE64URL_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

function spareBitsVariant(field: string): string {
  const last = BASE64URL_ALPHABET.indexOf(field.at(-1) ?? 'A');
  const variant = field.slice(0, -1) + BASE64URL_ALPHABET[last ^ 1];
  if (!Buffer.from(variant, 'base64url').equals(Buffer.from(field, 'base64url'))) throw new Error('variant must decode to the same bytes');
  return variant;
}

function failure(action: () => unknown): SecretBoxError {
  try {
    action();
  } catch (error) {
    if (error instanceof SecretBoxError) return error;
    throw new Error(`expected SecretBoxError, got ${String(error)}`);
  }
  throw new Error('expected SecretBoxError, nothing was thrown');
}

describe('SecretBox', () => {
  it('round-trips strings, buffers and empty values, and writes the documented format', () => {
    expect(box.open(sealed, AAD).toString('utf8')).toBe(PLAINTEXT);
    const bytes = Buffer.from([0, 1, 2, 250, 255]);
    expect(box.open(box.seal(bytes, AAD), AAD)).toEqual(bytes);
    expect(box.open(box.seal('', AAD), AAD)).toEqual(Buffer.alloc(0));
    expect(version).toBe('v1');
    expect(keyId).toBe(box.keyId);
    expect(keyId).toMatch(/^k[A-Za-z0-9_-]{12}$/);
    expect(Buffer.from(iv, 'base64url')).toHaveLength(12);
    expect(Buffer.from(tag, 'base64url')).toHaveLength(16);
    expect(Buffer.from(ciphertext, 'base64url')).toHaveLength(Buffer.byteLength(PLAINTEXT));
    expect(sealed).not.toContain(Buffer.from(PLAINTEXT).toString('base64url').slice(2, 20));
  });

  it('uses a fresh IV for every seal', () => {
    const ivs = new Set(Array.from({ length: 200 }, () => box.seal(PLAINTEXT, AAD).split('.')[2]));
    expect(ivs.size).toBe(200);
  });

  it('derives the same key id and data key from the same master key, another from another', () => {
    const again = new SecretBox(Buffer.from(masterKey));
    expect(again.keyId).toBe(box.keyId);
    expect(again.open(sealed, AAD).toString()).toBe(PLAINTEXT);
    expect(new SecretBox(parseMasterKey(generateMasterKey())).keyId).not.toBe(box.keyId);
  });

  const hostile: [string, () => string, string, SecretBoxErrorCode][] = [
    ['tampered iv', () => [version, keyId, flipBit(iv), ciphertext, tag].join('.'), AAD, 'AUTHENTICATION_FAILED'],
    ['tampered ciphertext', () => [version, keyId, iv, flipBit(ciphertext, 3), tag].join('.'), AAD, 'AUTHENTICATION_FAILED'],
    ['tampered tag', () => [version, keyId, iv, ciphertext, flipBit(tag, 15)].join('.'), AAD, 'AUTHENTICATION_FAILED'],
    ['swapped ciphertext from another seal', () => [version, keyId, iv, box.seal(PLAINTEXT, AAD).split('.')[3], tag].join('.'), AAD, 'AUTHENTICATION_FAILED'],
    ['wrong aad (another record)', () => sealed, 'totp_secrets:usr_456', 'AUTHENTICATION_FAILED'],
    ['wrong aad (another table)', () => sealed, 'signing_keys:usr_123', 'AUTHENTICATION_FAILED'],
    ['aad differing only in case', () => sealed, AAD.toUpperCase(), 'AUTHENTICATION_FAILED'],
    ['sealed under another master key', () => new SecretBox(parseMasterKey(generateMasterKey())).seal(PLAINTEXT, AAD), AAD, 'UNKNOWN_KEY'],
    ['key id relabelled', () => [version, 'kAAAAAAAAAAAA', iv, ciphertext, tag].join('.'), AAD, 'UNKNOWN_KEY'],
    ['truncated tag', () => sealed.slice(0, -4), AAD, 'MALFORMED'],
    ['tag cut to 12 bytes', () => [version, keyId, iv, ciphertext, Buffer.from(tag, 'base64url').subarray(0, 12).toString('base64url')].join('.'), AAD, 'MALFORMED'],
    ['truncated to four fields', () => [version, keyId, iv, ciphertext].join('.'), AAD, 'MALFORMED'],
    ['truncated mid-iv', () => sealed.slice(0, version.length + keyId.length + 8), AAD, 'MALFORMED'],
    ['iv of 16 bytes', () => [version, keyId, Buffer.alloc(16, 7).toString('base64url'), ciphertext, tag].join('.'), AAD, 'MALFORMED'],
    ['empty iv', () => [version, keyId, '', ciphertext, tag].join('.'), AAD, 'MALFORMED'],
    ['extra field', () => `${sealed}.AAAA`, AAD, 'MALFORMED'],
    ['trailing dot', () => `${sealed}.`, AAD, 'MALFORMED'],
    ['wrong version v3', () => ['v3', keyId, iv, ciphertext, tag].join('.'), AAD, 'UNSUPPORTED_VERSION'],
    // v2 names a key-ring data key: a box without a ring (or another ring) does not have it.
    ['relabelled v2 without a key ring', () => ['v2', keyId, iv, ciphertext, tag].join('.'), AAD, 'UNKNOWN_KEY'],
    ['wrong version v0', () => ['v0', keyId, iv, ciphertext, tag].join('.'), AAD, 'UNSUPPORTED_VERSION'],
    ['upper-case version', () => ['V1', keyId, iv, ciphertext, tag].join('.'), AAD, 'MALFORMED'],
    ['no version', () => [keyId, iv, ciphertext, tag].join('.'), AAD, 'MALFORMED'],
    ['empty string', () => '', AAD, 'MALFORMED'],
    ['just dots', () => '....', AAD, 'MALFORMED'],
    ['non-base64 characters', () => [version, keyId, iv, `${ciphertext.slice(0, -1)}!`, tag].join('.'), AAD, 'MALFORMED'],
    ['standard base64 alphabet', () => [version, keyId, iv, ciphertext, `${tag.slice(0, -2)}+/`].join('.'), AAD, 'MALFORMED'],
    ['padding', () => [version, keyId, `${iv}==`, ciphertext, tag].join('.'), AAD, 'MALFORMED'],
    ['whitespace inside', () => [version, keyId, iv, ` ${ciphertext}`, tag].join('.'), AAD, 'MALFORMED'],
    ['trailing newline', () => `${sealed}\n`, AAD, 'MALFORMED'],
    // 16 bytes take 22 characters, whose last one carries 4 unused bits: same bytes, another spelling.
    ['tag with non-canonical spare bits', () => [version, keyId, iv, ciphertext, spareBitsVariant(tag)].join('.'), AAD, 'MALFORMED'],
    ['bad key id characters', () => [version, 'k/../../etc', iv, ciphertext, tag].join('.'), AAD, 'MALFORMED'],
    ['empty key id', () => [version, '', iv, ciphertext, tag].join('.'), AAD, 'MALFORMED'],
    ['over-long input', () => `v1.${keyId}.${iv}.${'A'.repeat(2 * 1024 * 1024)}.${tag}`, AAD, 'MALFORMED'],
    ['__proto__ as key id', () => [version, '__proto__', iv, ciphertext, tag].join('.'), AAD, 'UNKNOWN_KEY'],
    ['empty aad', () => sealed, '', 'INVALID_ARGUMENT'],
  ];

  it.each(hostile)('refuses %s with a clear error that never carries the secret', (_name, input, aad, code) => {
    const value = input();
    const error = failure(() => box.open(value, aad));
    expect(error.code).toBe(code);
    expect(error.name).toBe('SecretBoxError');
    expect(error.message).toMatch(/^(sealed value|the record identity)/);
    expect(error.message).not.toContain(PLAINTEXT);
    expect(error.message).not.toContain(masterKey.toString('base64url'));
    expect(error.message).not.toContain(masterKey.toString('hex'));
    expect(error.message).not.toContain(ciphertext);
  });

  it('refuses non-string input without crashing', () => {
    expect(failure(() => box.open(undefined as unknown as string, AAD)).code).toBe('MALFORMED');
    expect(failure(() => box.open(42 as unknown as string, AAD)).code).toBe('MALFORMED');
    expect(failure(() => box.seal(PLAINTEXT, '')).code).toBe('INVALID_ARGUMENT');
  });

  it('opens values sealed under a previous master key and says they need resealing', () => {
    const oldKey = parseMasterKey(generateMasterKey());
    const oldSealed = new SecretBox(oldKey).seal(PLAINTEXT, AAD);
    const rotated = new SecretBox(parseMasterKey(generateMasterKey()), { previousMasterKeys: [oldKey] });
    expect(rotated.open(oldSealed, AAD).toString()).toBe(PLAINTEXT);
    expect(rotated.needsReseal(oldSealed)).toBe(true);
    const resealed = rotated.seal(rotated.open(oldSealed, AAD), AAD);
    expect(rotated.needsReseal(resealed)).toBe(false);
    expect(failure(() => new SecretBox(oldKey).open(resealed, AAD)).code).toBe('UNKNOWN_KEY');
  });

  it('refuses a master key that is not a 32-byte Buffer', () => {
    expect(() => new SecretBox(Buffer.alloc(31, 1))).toThrow(/exactly 32 bytes/);
    expect(() => new SecretBox('x'.repeat(32) as unknown as Buffer)).toThrow(/exactly 32 bytes/);
  });
});
