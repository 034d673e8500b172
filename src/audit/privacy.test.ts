import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createPrivacy, ipv6Groups, PrivacyConfigError, truncateAddress } from './privacy.ts';

const key = randomBytes(32);

describe('client address privacy', () => {
  it('hash (default): keyed, 128 bits, equal for equal addresses in any spelling', () => {
    const p = createPrivacy({ key });
    const a = p.address('203.0.113.7');
    expect(a).toMatch(/^h:[0-9a-f]{32}$/);
    expect(p.address('::ffff:203.0.113.7')).toBe(a);
    expect(p.address('203.0.113.8')).not.toBe(a);
    expect(p.address('2001:DB8::1')).toBe(p.address('2001:db8:0:0::1'));
    // Another key, another value: a stolen database cannot be reversed by hashing every IPv4 address.
    expect(createPrivacy({ key: randomBytes(32) }).address('203.0.113.7')).not.toBe(a);
  });

  it('truncate: IPv4 /24 and IPv6 /48', () => {
    const p = createPrivacy({ key, addresses: 'truncate' });
    expect(p.address('203.0.113.77')).toBe('203.0.113.0/24');
    expect(p.address('::ffff:10.1.2.3')).toBe('10.1.2.0/24');
    expect(p.address('2001:db8:1234:5678::1')).toBe('2001:db8:1234::/48');
    expect(p.address('::1')).toBe('0:0:0::/48');
  });

  it('keep: the address, normalised', () => {
    const p = createPrivacy({ key, addresses: 'keep' });
    expect(p.address('203.0.113.77')).toBe('203.0.113.77');
    expect(p.address('::ffff:203.0.113.77')).toBe('203.0.113.77');
    expect(p.address('2001:DB8::1')).toBe('2001:db8::1');
  });

  it('no address is null', () => {
    const p = createPrivacy({ key, addresses: 'keep' });
    expect(p.address(undefined)).toBeNull();
    expect(p.address('')).toBeNull();
  });

  const hostile = ['not-an-ip', '203.0.113.7; DROP TABLE', '1.2.3.4.5', '\u0000', 'a'.repeat(10_000), '999.1.1.1', '203.0.113.7\n', '<script>'];
  it.each(hostile)('never stores a non-address as is, in any mode: %j', (input) => {
    for (const addresses of ['hash', 'truncate', 'keep'] as const) {
      const stored = createPrivacy({ key, addresses }).address(input);
      expect(stored).toMatch(/^h:[0-9a-f]{32}$/);
    }
  });

  it('refuses a short key and an unknown mode', () => {
    expect(() => createPrivacy({ key: randomBytes(16) })).toThrow(PrivacyConfigError);
    expect(() => createPrivacy({ key, addresses: 'plain' as never })).toThrow(PrivacyConfigError);
  });
});

describe('IPv6 parsing for truncation', () => {
  const cases: Array<[string, number[] | null]> = [
    ['::', [0, 0, 0, 0, 0, 0, 0, 0]],
    ['::1', [0, 0, 0, 0, 0, 0, 0, 1]],
    ['2001:db8::', [0x2001, 0xdb8, 0, 0, 0, 0, 0, 0]],
    ['1:2:3:4:5:6:7:8', [1, 2, 3, 4, 5, 6, 7, 8]],
    ['::ffff:1.2.3.4', [0, 0, 0, 0, 0, 0xffff, 0x0102, 0x0304]],
    ['::1.2.3.4', [0, 0, 0, 0, 0, 0, 0x0102, 0x0304]],
    ['64:ff9b::192.0.2.33', [0x64, 0xff9b, 0, 0, 0, 0, 0xc000, 0x0221]],
    ['1:2:3:4:5:6:1.2.3.4', [1, 2, 3, 4, 5, 6, 0x0102, 0x0304]],
    ['fe80::1%eth0', [0xfe80, 0, 0, 0, 0, 0, 0, 1]],
    ['1.2.3.4', null],
    ['1::2::3', null],
    ['12345::', null],
  ];
  it.each(cases)('%s', (text, groups) => {
    expect(ipv6Groups(text)).toEqual(groups);
  });

  it('truncateAddress refuses what is not an address', () => {
    expect(truncateAddress('example.com')).toBeNull();
  });
});

describe('identifier pseudonyms', () => {
  it('are keyed, stable and distinct from address hashes', () => {
    const p = createPrivacy({ key });
    expect(p.pseudonym('alice')).toMatch(/^p:[0-9a-f]{32}$/);
    expect(p.pseudonym('alice')).toBe(p.pseudonym('alice'));
    expect(p.pseudonym('alice')).not.toBe(p.pseudonym('bob'));
    expect(p.pseudonym('203.0.113.7').slice(2)).not.toBe(p.address('203.0.113.7')!.slice(2));
  });
});
