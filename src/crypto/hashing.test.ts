import { describe, expect, it } from 'vitest';
import { deriveSecretPepper, hashSecret } from './hashing.ts';
import { generateMasterKey, parseMasterKey } from './master-key.ts';
import { SecretBox } from './secret-box.ts';

describe('hashSecret', () => {
  it('is HMAC-SHA-256 in hex (RFC 4231 test case 2)', () => {
    expect(hashSecret('what do ya want for nothing?', Buffer.from('Jefe'))).toBe(
      '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    );
  });

  it('is deterministic per pepper and differs across peppers and inputs', () => {
    const masterKey = parseMasterKey(generateMasterKey());
    const pepper = deriveSecretPepper(masterKey);
    const hash = hashSecret('rk_live_AbCd1234_secret', pepper);
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(hashSecret('rk_live_AbCd1234_secret', deriveSecretPepper(Buffer.from(masterKey)))).toBe(hash);
    expect(hashSecret('rk_live_AbCd1234_secreT', pepper)).not.toBe(hash);
    expect(hashSecret('rk_live_AbCd1234_secret', deriveSecretPepper(parseMasterKey(generateMasterKey())))).not.toBe(hash);
  });

  it('derives a pepper distinct from the master key and from the SecretBox key id', () => {
    const masterKey = parseMasterKey(generateMasterKey());
    const pepper = deriveSecretPepper(masterKey);
    expect(pepper).toHaveLength(32);
    expect(pepper).not.toEqual(masterKey);
    expect(pepper.toString('base64url')).not.toContain(new SecretBox(masterKey).keyId.slice(1));
  });
});
