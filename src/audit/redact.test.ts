import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from './canonical-json.ts';
import { createPrivacy } from './privacy.ts';
import { MAX_DETAIL_DEPTH, MAX_DETAIL_MEMBERS, MAX_DETAIL_STRING, REDACTED, redactDetails, ruleFor } from './redact.ts';

const privacy = createPrivacy({ key: randomBytes(32) });

describe('redaction rules by member name', () => {
  const table: Array<[string, 'mask' | 'pseudonym' | 'keep']> = [
    ['password', 'mask'],
    ['newPassword', 'mask'],
    ['password_hash', 'mask'],
    ['passwd', 'mask'],
    ['client_secret', 'mask'],
    ['clientSecret', 'mask'],
    ['token', 'mask'],
    ['refresh_token', 'mask'],
    ['accessToken', 'mask'],
    ['api_key', 'mask'],
    ['X-API-Key', 'mask'],
    ['key', 'mask'],
    ['privateKey', 'mask'],
    ['authorization', 'mask'],
    ['Cookie', 'mask'],
    ['set-cookie', 'mask'],
    ['code', 'mask'],
    ['otp', 'mask'],
    ['sessionId', 'mask'],
    ['credential', 'mask'],
    ['username', 'pseudonym'],
    ['user_name', 'pseudonym'],
    ['email', 'pseudonym'],
    ['e-mail', 'pseudonym'],
    ['user', 'pseudonym'],
    ['phone', 'pseudonym'],
    ['credentialId', 'keep'],
    ['familyId', 'keep'],
    ['tokenHash', 'keep'],
    ['prefix', 'keep'],
    ['reason', 'keep'],
    ['check', 'keep'],
    ['rule', 'keep'],
    ['objectId', 'keep'],
    ['subject', 'keep'],
  ];
  it.each(table)('%s → %s', (name, rule) => {
    expect(ruleFor(name)).toBe(rule);
  });
});

describe('redactDetails', () => {
  it('masks secrets, pseudonymises identifiers, keeps the rest', () => {
    const out = redactDetails(
      {
        reason: 'wrong password',
        password: 'hunter2',
        nested: { client_secret: 's3cr3t', list: [{ token: 'tok' }] },
        username: 'Alice',
        user: '0123456789abcdef',
        credentialId: 'cred-1',
        count: 3,
        ok: true,
        none: null,
      },
      privacy,
    );
    expect(out).toEqual({
      reason: 'wrong password',
      password: REDACTED,
      nested: { client_secret: REDACTED, list: [{ token: REDACTED }] },
      username: privacy.pseudonym('alice'),
      user: '0123456789abcdef',
      credentialId: 'cred-1',
      count: 3,
      ok: true,
      none: null,
    });
  });

  it('pseudonymises a raw username under `user` and normalises case (one account, one pseudonym)', () => {
    expect(redactDetails({ user: 'ALICE' }, privacy).user).toBe(redactDetails({ user: 'alice' }, privacy).user);
    expect(redactDetails({ user: 'alice' }, privacy).user).toMatch(/^p:/);
  });

  it('masks credential-looking values under any name and replaces e-mail addresses inside text', () => {
    const jwt = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl';
    const out = redactDetails({ header: 'Bearer abc.def', seen: jwt, note: `login by bob@example.com from app`, uri: 'https://x.test/?a=1' }, privacy);
    expect(out.header).toBe(REDACTED);
    expect(out.seen).toBe(REDACTED);
    expect(out.note).toBe(`login by ${privacy.pseudonym('bob@example.com')} from app`);
    expect(out.uri).toBe('https://x.test/?a=1');
  });

  it('never throws and always returns canonicalisable output, whatever comes in', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    let deep: Record<string, unknown> = { leaf: 'x' };
    for (let i = 0; i < 50; i++) deep = { d: deep };
    const wide = Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`k${i}`, i]));
    const hostile: Array<Record<string, unknown>> = [
      JSON.parse('{"__proto__": {"polluted": true}, "constructor": {"prototype": 1}, "ok": 1}') as Record<string, unknown>,
      cyclic,
      deep,
      wide,
      { big: 'x'.repeat(1_000_000) },
      { arr: Array.from({ length: 10_000 }, (_, i) => i) },
      { n: Number.NaN, inf: Number.POSITIVE_INFINITY, big: 10n, f: () => 1, s: Symbol('s'), u: undefined },
      { d: new Date(0), bad: new Date(Number.NaN), m: new Map([[1, 2]]), b: Buffer.from('secret') },
      { surrogate: 'a\ud800b', ['\udc00key']: 1 },
      { ['k'.repeat(10_000)]: 'long key' },
    ];
    for (const input of hostile) {
      const out = redactDetails(input, privacy);
      const text = canonicalJson(out);
      expect(text.length).toBeLessThan(40_000);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    }
    expect(redactDetails(hostile[0], privacy)).toEqual({ ok: 1 });
    expect(Object.keys(redactDetails(wide, privacy))).toHaveLength(MAX_DETAIL_MEMBERS + 1);
    expect(redactDetails(wide, privacy)._droppedMembers).toBe(500 - MAX_DETAIL_MEMBERS);
    expect((redactDetails({ big: 'x'.repeat(1000) }, privacy).big as string).startsWith('x'.repeat(MAX_DETAIL_STRING) + '…[+')).toBe(true);
    expect(JSON.stringify(redactDetails(deep, privacy))).toContain('[truncated]');
    expect(JSON.stringify(redactDetails(deep, privacy)).split('"d"').length - 1).toBe(MAX_DETAIL_DEPTH);
    expect(redactDetails(hostile[7]!, privacy)).toEqual({ d: '1970-01-01T00:00:00.000Z', bad: null, m: '[object]', b: '[object]' });
  });

  it('returns {} for missing or non-object details', () => {
    expect(redactDetails(undefined, privacy)).toEqual({});
    expect(redactDetails([1, 2] as never, privacy)).toEqual({});
    expect(redactDetails('text' as never, privacy)).toEqual({});
  });
});
