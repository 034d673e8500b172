import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MasterKeyError, deriveSubkey, generateMasterKey, parseMasterKey } from './master-key.ts';

const key = randomBytes(32);
// A key whose base64 form contains both '+' and '/' (and so differs from base64url).
const symbolKey = Buffer.from('fb' + 'ff'.repeat(30) + 'fe', 'hex');

const BASE64URL_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

function spareBitsVariant(text: string): string {
  const last = BASE64URL_ALPHABET.indexOf(text.at(-1) ?? 'A');
  const variant = text.slice(0, -1) + BASE64URL_ALPHABET[last ^ 1];
  if (!Buffer.from(variant, 'base64url').equals(Buffer.from(text, 'base64url'))) throw new Error('variant must decode to the same bytes');
  return variant;
}

describe('parseMasterKey', () => {
  const accepted: [string, string, Buffer][] = [
    ['lower-case hex', key.toString('hex'), key],
    ['upper-case hex', key.toString('hex').toUpperCase(), key],
    ['base64 with padding', key.toString('base64'), key],
    ['base64 without padding', key.toString('base64').replace(/=$/, ''), key],
    ['base64url', key.toString('base64url'), key],
    ['base64url with padding', `${key.toString('base64url')}=`, key],
    ['base64 with + and /', symbolKey.toString('base64'), symbolKey],
    ['base64url with - and _', symbolKey.toString('base64url'), symbolKey],
    ['a key file with a trailing newline', `${key.toString('base64url')}\n`, key],
    ['surrounding spaces', `  ${key.toString('hex')}\t\r\n`, key],
  ];
  it.each(accepted)('accepts %s', (_name, text, expected) => {
    expect(parseMasterKey(text)).toEqual(expected);
  });

  const refused: [string, string, RegExp][] = [
    ['empty', '', /must be 32 bytes .* \(got 0 characters\)/],
    ['31 bytes of hex', randomBytes(31).toString('hex'), /got 62 characters/],
    ['33 bytes of hex', randomBytes(33).toString('hex'), /got 66 characters/],
    ['31 bytes of base64', randomBytes(31).toString('base64'), /must be 32 bytes/],
    ['33 bytes of base64url', randomBytes(33).toString('base64url'), /must be 32 bytes/],
    ['a truncated key file', key.toString('base64url').slice(0, 30), /got 30 characters/],
    ['hex with a non-hex digit', `${key.toString('hex').slice(0, 63)}g`, /must be 32 bytes/],
    ['mixed base64 and base64url alphabets', `+_${symbolKey.toString('base64').slice(2)}`, /must be 32 bytes/],
    ['double padding', `${key.toString('base64url')}==`, /must be 32 bytes/],
    ['whitespace inside', `${key.toString('hex').slice(0, 32)} ${key.toString('hex').slice(32)}`, /must be 32 bytes/],
    // 32 bytes take 43 characters whose last one carries 2 unused bits: same key, another spelling.
    ['non-canonical spare bits', spareBitsVariant(key.toString('base64url')), /not canonically encoded/],
    ['all zero bytes', Buffer.alloc(32).toString('hex'), /placeholder/],
    ['one repeated byte', Buffer.alloc(32, 0x41).toString('base64'), /placeholder/],
    ['a passphrase', 'correct horse battery staple correct horse', /must be 32 bytes/],
    ['a PEM header', '-----BEGIN PRIVATE KEY-----', /must be 32 bytes/],
  ];
  it.each(refused)('refuses %s without echoing the input', (_name, text, message) => {
    let caught: unknown;
    try {
      parseMasterKey(text);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(MasterKeyError);
    expect((caught as Error).message).toMatch(message);
    if (text.trim().length > 0) expect((caught as Error).message).not.toContain(text.trim().slice(0, 16));
  });

  it('refuses non-strings', () => {
    expect(() => parseMasterKey(undefined as unknown as string)).toThrow(MasterKeyError);
    expect(() => parseMasterKey(Buffer.alloc(32, 3) as unknown as string)).toThrow(MasterKeyError);
  });

  it('generates keys it can parse back', () => {
    const generated = generateMasterKey();
    expect(parseMasterKey(generated)).toHaveLength(32);
    expect(generateMasterKey()).not.toBe(generated);
  });
});

describe('deriveSubkey', () => {
  it('derives stable, independent 32-byte keys per purpose and salt', () => {
    const a = deriveSubkey(key, 'purpose-a');
    expect(a).toHaveLength(32);
    expect(deriveSubkey(Buffer.from(key), 'purpose-a')).toEqual(a);
    expect(deriveSubkey(key, 'purpose-b')).not.toEqual(a);
    expect(deriveSubkey(key, 'purpose-a', 'salt')).not.toEqual(a);
    expect(deriveSubkey(randomBytes(32), 'purpose-a')).not.toEqual(a);
    expect(a).not.toEqual(key);
  });

  it('is HKDF-SHA-256 (RFC 5869 extract-then-expand, one block)', () => {
    const salt = Buffer.from('salt');
    const prk = createHmac('sha256', salt).update(key).digest();
    const okm = createHmac('sha256', prk).update(Buffer.concat([Buffer.from('info'), Buffer.from([1])])).digest();
    expect(deriveSubkey(key, 'info', salt)).toEqual(okm);
    expect(() => deriveSubkey(Buffer.alloc(22, 0x0b), 'info')).toThrow(/exactly 32 bytes/);
  });
});
