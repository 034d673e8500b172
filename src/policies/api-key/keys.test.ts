import { describe, expect, it } from 'vitest';
import { ApiKeyFormatError, ApiKeyParser, MAX_API_KEY_LENGTH, SECRET_LENGTH, generateApiKey, isRecordPrefix, looksLikeWholeApiKey, randomBase62 } from './keys.ts';
import { newId } from '../../crypto/random.ts';
import { addressBucket } from './lockout.ts';

describe('generateApiKey', () => {
  it('produces <prefix>_<12 base62>_<43 base64url> with the record prefix as its first part', () => {
    const { key, recordPrefix } = generateApiKey('rk');
    expect(key).toMatch(/^rk_[0-9A-Za-z]{12}_[A-Za-z0-9_-]{43}$/);
    expect(key.startsWith(`${recordPrefix}_`)).toBe(true);
    expect(recordPrefix).toMatch(/^rk_[0-9A-Za-z]{12}$/);
    // 256 bits of secret: 32 bytes once decoded.
    expect(Buffer.from(key.slice(recordPrefix.length + 1), 'base64url')).toHaveLength(32);
  });

  it('uses the configured prefix and refuses prefixes outside [a-z]{2,8}', () => {
    expect(generateApiKey('live').key.startsWith('live_')).toBe(true);
    for (const bad of ['', 'r', 'RK', 'abcdefghi', 'r_k', 'rk1', 'ŕk']) expect(() => generateApiKey(bad)).toThrow(ApiKeyFormatError);
  });

  it('never repeats a key or a public id', () => {
    const keys = new Set<string>();
    const prefixes = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const { key, recordPrefix } = generateApiKey();
      keys.add(key);
      prefixes.add(recordPrefix);
    }
    expect(keys.size).toBe(2000);
    expect(prefixes.size).toBe(2000);
  });

  it('every key it makes parses back to its record prefix', () => {
    const parser = new ApiKeyParser('rk');
    for (let i = 0; i < 500; i++) {
      const { key, recordPrefix } = generateApiKey('rk');
      expect(parser.recordPrefixOf(key)).toBe(recordPrefix);
    }
  });
});

describe('randomBase62', () => {
  it('uses all 62 characters and nothing else', () => {
    const text = randomBase62(20_000);
    expect(text).toMatch(/^[0-9A-Za-z]+$/);
    expect(new Set(text).size).toBe(62);
  });
});

describe('ApiKeyParser (hostile input)', () => {
  const parser = new ApiKeyParser('rk');
  const { key, recordPrefix } = generateApiKey('rk');
  const secret = key.slice(recordPrefix.length + 1);
  const publicId = recordPrefix.slice(3);
  // The last secret character of a canonical encoding has its 2 low bits zero; flipping them spells the same bytes.
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const last = alphabet.indexOf(secret.at(-1)!);
  const nonCanonical = `${key.slice(0, -1)}${alphabet[last + 1]}`;

  const cases: Array<[string, string, RegExp]> = [
    ['empty', '', /empty key/],
    ['too short', key.slice(0, -1), /wrong length/],
    ['too long by one', `${key}A`, /wrong length/],
    ['far too long', 'rk_' + 'A'.repeat(5000), new RegExp(`longer than ${MAX_API_KEY_LENGTH}`)],
    ['wrong prefix', `pk${key.slice(2)}`, /does not start with "rk_"/],
    ['prefix upper-case', `RK${key.slice(2)}`, /does not start/],
    ['no prefix', key.slice(3), /does not start/],
    ['extra underscore after the prefix', `rk__${publicId.slice(1)}_${secret}`, /public id is not base62/],
    ['underscore inside the public id', `rk_${publicId.slice(0, 5)}_${publicId.slice(6)}_${secret}`, /public id is not base62/],
    ['public id one short, secret one long', `rk_${publicId.slice(1)}_A${secret}`, /public id is not base62|separator/],
    ['standard base64 alphabet in the secret', `${recordPrefix}_+${secret.slice(1)}`, /secret is not base64url/],
    ['padding in the secret', `${recordPrefix}_${secret.slice(0, -1)}=`, /secret is not base64url/],
    ['space inside', `${key.slice(0, 20)} ${key.slice(21)}`, /not base62|not base64url/],
    ['tab inside', `${key.slice(0, 30)}\t${key.slice(31)}`, /not base64url/],
    ['NUL inside', `${key.slice(0, 30)}\u0000${key.slice(31)}`, /not base64url/],
    ['newline inside', `${key.slice(0, 30)}\n${key.slice(31)}`, /not base64url/],
    ['Cyrillic a look-alike in the public id', `rk_${'\u0430'}${publicId.slice(1)}_${secret}`, /public id is not base62/],
    ['fullwidth digit look-alike in the secret', `${recordPrefix}_${'\uff11'}${secret.slice(1)}`, /not base64url/],
    ['Latin-1 letter in the secret', `${recordPrefix}_${'\u00e9'}${secret.slice(1)}`, /not base64url/],
    ['non-canonical last character', nonCanonical, /not canonical base64url/],
    ['record prefix alone', recordPrefix, /wrong length/],
  ];

  it.each(cases)('%s is refused with a reason that never contains the input', (_label, value, reason) => {
    expect(parser.recordPrefixOf(value)).toBeUndefined();
    const described = parser.describeMalformed(value);
    expect(described).toMatch(reason);
    if (value.length > 0) expect(described).not.toContain(value);
    expect(described).not.toContain(secret);
  });

  it('accepts the key itself (control case)', () => {
    expect(parser.recordPrefixOf(key)).toBe(recordPrefix);
  });

  it('a parser for another prefix refuses rk keys', () => {
    expect(new ApiKeyParser('live').recordPrefixOf(key)).toBeUndefined();
    expect(new ApiKeyParser('live').keyLength).toBe(5 + 12 + 1 + SECRET_LENGTH);
  });

  it('isRecordPrefix recognises <prefix>_<publicId> only', () => {
    expect(isRecordPrefix(recordPrefix)).toBe(true);
    expect(isRecordPrefix(recordPrefix, 'rk')).toBe(true);
    expect(isRecordPrefix(recordPrefix, 'live')).toBe(false);
    expect(isRecordPrefix(key)).toBe(false);
    expect(isRecordPrefix(`${recordPrefix}x`)).toBe(false);
  });
});

describe('addressBucket', () => {
  it.each([
    ['203.0.113.7', '203.0.113.7'],
    ['::ffff:203.0.113.7', '203.0.113.7'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:db8:1:2:ffff::1', '2001:db8:1:2::/64'],
    ['2001:0DB8:0001:0002::1', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['2001:db8:1:2::1.2.3.4', '2001:db8:1:2::/64'],
  ])('%s → %s', (address, bucket) => {
    expect(addressBucket(address)).toBe(bucket);
  });

  it('puts every address of one /64 in one bucket and the neighbouring /64 in another', () => {
    expect(addressBucket('2001:db8:1:2::a')).toBe(addressBucket('2001:db8:1:2:9999:8888:7777:6666'));
    expect(addressBucket('2001:db8:1:2::a')).not.toBe(addressBucket('2001:db8:1:3::a'));
  });
});

describe('looksLikeWholeApiKey', () => {
  it('recognises whole keys of any prefix and nothing else', () => {
    expect(looksLikeWholeApiKey(generateApiKey().key)).toBe(true);
    expect(looksLikeWholeApiKey(generateApiKey('live').key)).toBe(true);
    expect(looksLikeWholeApiKey(generateApiKey().recordPrefix)).toBe(false);
    // A record id whose random part puts `_` 13th once failed CI: ids are never whole keys.
    expect(looksLikeWholeApiKey('key_ABCDEFGHIJKL_mnopqrs')).toBe(false);
    for (let i = 0; i < 2000; i++) expect(looksLikeWholeApiKey(newId('key_'))).toBe(false);
  });
});
