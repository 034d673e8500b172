import { createHash, createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from './canonical-json.ts';
import { ChainHasher, EMPTY_HEAD, GENESIS_HASH, linkContent, linkText, type AuditEntryInput } from './chain.ts';

const inputs: AuditEntryInput[] = [
  { time: 1_767_225_600_123, type: 'auth.login-failed', actor: 'anonymous', client: 'h:00', route: null, requestId: null, outcome: 'failure', details: {} },
  { time: 0, type: 'authz.denied', actor: 'ü\u2028"quoted"\\', client: null, route: 'r', requestId: 'q', outcome: 'denied', details: { z: [1, { b: null, a: 'é😀' }], a: -0.5 } },
];

describe('audit chain links', () => {
  it('builds the canonical link text directly, byte-identical to canonicalJson of the entry', () => {
    const linked = new ChainHasher().link(EMPTY_HEAD, inputs);
    for (const { entry, detailsText } of linked) {
      const { hash: _hash, ...unhashed } = entry;
      expect(detailsText).toBe(canonicalJson(entry.details));
      expect(linkText(unhashed, detailsText)).toBe(canonicalJson(linkContent(unhashed)));
    }
  });

  it('hashes with SHA-256 without a key and HMAC-SHA-256 with one, each link naming the previous hash', () => {
    const key = randomBytes(32);
    for (const hasher of [new ChainHasher(), new ChainHasher(key)]) {
      const [first, second] = hasher.link(EMPTY_HEAD, inputs).map((l) => l.entry);
      expect(first!.seq).toBe(1);
      expect(first!.prev).toBe(GENESIS_HASH);
      expect(second!.prev).toBe(first!.hash);
      const { hash, ...rest } = second!;
      const text = canonicalJson(linkContent(rest));
      const expected = hasher.mode === 'sha256' ? createHash('sha256').update(text).digest('hex') : createHmac('sha256', key).update(text).digest('hex');
      expect(hash).toBe(expected);
      expect(hasher.hash(rest)).toBe(hash);
    }
    expect(new ChainHasher(key).keyId).toBe(new ChainHasher(key).keyId);
    expect(new ChainHasher(key).keyId).not.toBe(new ChainHasher(randomBytes(32)).keyId);
    expect(new ChainHasher().keyId).toBeNull();
  });

  it('refuses what has no canonical form instead of hashing something else', () => {
    const hasher = new ChainHasher();
    expect(() => hasher.link(EMPTY_HEAD, [{ ...inputs[0]!, actor: 'lone \ud800' }])).toThrow();
    expect(() => hasher.link(EMPTY_HEAD, [{ ...inputs[0]!, time: 1.5 }])).toThrow(/safe integers/);
    expect(() => hasher.link(EMPTY_HEAD, [{ ...inputs[0]!, details: { d: new Date() } }])).toThrow();
    expect(() => new ChainHasher(randomBytes(16))).toThrow(/at least 32 bytes/);
  });
});
