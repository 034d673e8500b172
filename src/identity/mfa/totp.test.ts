import { describe, expect, it } from 'vitest';
import { deriveSecretPepper } from '../../crypto/hashing.ts';
import { generateMasterKey, parseMasterKey } from '../../crypto/master-key.ts';
import { generateRecoveryCodes, hashRecoveryCode, normaliseRecoveryCode } from './recovery-codes.ts';
import { decodeTotpSecret, encodeTotpSecret, generateTotpCode, generateTotpSecret, matchTotpStep, totpStep, totpUri } from './totp.ts';

// RFC 6238 Appendix B, SHA-1 rows (8-digit values there; authenticator apps show the last 6 digits).
const RFC_SECRET = Buffer.from('12345678901234567890', 'ascii');
const RFC_VECTORS: Array<[number, string]> = [
  [59, '287082'],
  [1111111109, '081804'],
  [1111111111, '050471'],
  [1234567890, '005924'],
  [2000000000, '279037'],
];

describe('TOTP primitives', () => {
  it('matches the RFC 6238 Appendix B SHA-1 test vectors', async () => {
    for (const [seconds, code] of RFC_VECTORS) {
      expect(await generateTotpCode(RFC_SECRET, seconds * 1000), `T=${seconds}`).toBe(code);
      expect(await matchTotpStep(RFC_SECRET, code, seconds * 1000)).toBe(totpStep(seconds * 1000));
    }
  });

  it('accepts exactly one step either side and reports the matched step', async () => {
    const now = 1_900_000_000_000;
    const secret = generateTotpSecret();
    expect(secret).toHaveLength(20);
    for (const offset of [-1, 0, 1]) expect(await matchTotpStep(secret, await generateTotpCode(secret, now + offset * 30_000), now)).toBe(totpStep(now) + offset);
    for (const offset of [-3, -2, 2, 3]) expect(await matchTotpStep(secret, await generateTotpCode(secret, now + offset * 30_000), now)).toBeNull();
  });

  it('refuses malformed codes before any HMAC', async () => {
    for (const code of ['', '12345', '1234567', 'abcdef', ' 12345', '１２３４５６', '123 45', '0x1234', '-12345']) {
      expect(await matchTotpStep(RFC_SECRET, code, 59_000), JSON.stringify(code)).toBeNull();
    }
  });

  it('builds the otpauth URI with percent-encoded label and explicit parameters; the secret round-trips', () => {
    const secret = generateTotpSecret();
    const uri = totpUri('ACME Co', 'ann:x@example.com', secret);
    expect(uri).toBe(`otpauth://totp/ACME%20Co:ann%3Ax%40example.com?secret=${encodeTotpSecret(secret)}&issuer=ACME%20Co&algorithm=SHA1&digits=6&period=30`);
    expect(Buffer.from(decodeTotpSecret(new URL(uri).searchParams.get('secret')!))).toEqual(secret);
  });
});

describe('recovery codes', () => {
  it('are 10 distinct codes of 16 Crockford base32 symbols (80 bits)', () => {
    const codes = generateRecoveryCodes();
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    for (const code of codes) expect(code).toMatch(/^([0-9a-hjkmnp-tv-z]{4}-){3}[0-9a-hjkmnp-tv-z]{4}$/);
  });

  it('normalise typed input (case, separators, Crockford look-alikes) and refuse anything else', () => {
    expect(normaliseRecoveryCode('ABCD-EFGH-JKMN-PQRS')).toBe('abcdefghjkmnpqrs');
    expect(normaliseRecoveryCode(' abcd efgh jkmn pqrs ')).toBe('abcdefghjkmnpqrs');
    expect(normaliseRecoveryCode('O1IL-0000-0000-0000')).toBe('0111000000000000');
    for (const bad of ['', 'abcd-efgh-jkmn', 'abcd-efgh-jkmn-pqrs-tvwx', 'abcd-efgh-jkmn-pqr!', 'u'.repeat(16), 'x'.repeat(100), 42, null]) {
      expect(normaliseRecoveryCode(bad), JSON.stringify(bad)).toBeNull();
    }
  });

  it('hash per user: the same code hashes differently for two users and never contains the code', () => {
    const pepper = deriveSecretPepper(parseMasterKey(generateMasterKey()));
    const code = normaliseRecoveryCode(generateRecoveryCodes(1)[0])!;
    const a = hashRecoveryCode('usr_a', code, pepper);
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(a).not.toBe(hashRecoveryCode('usr_b', code, pepper));
    expect(a).not.toContain(code);
  });
});
