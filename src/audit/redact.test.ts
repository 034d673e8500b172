import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from './canonical-json.ts';
import { createPrivacy } from './privacy.ts';
import { MAX_DETAIL_DEPTH, MAX_DETAIL_MEMBERS, MAX_DETAIL_STRING, REDACTED, redactDetails, ruleFor } from './redact.ts';
import { mulberry32 } from '../detect/traces.ts';
import { streamSafe } from '../text/nfkc.ts';

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

  it('finds JWT-like text exactly where the regex it replaced does, in linear time', () => {
    const JWT_LIKE = /eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/;
    const rows = [
      'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl',
      'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.',
      'token=eyJabcd.efgh.',
      'eyJabc.efgh.',
      'eyJabcd.efg.',
      'eyJabcd.efgh',
      'xeyJabcd.efgh.ijk',
      'eyJeyJabcd.efgh.',
      'eyJab.eyJabcd.efgh.',
      'eyJabcd.eyJ1.efgh.',
      'eyJabcd..efgh.',
      'a eyJ b eyJaaaa.bbbb. c',
      'eyJaaaa-eyJbbbb.cccc_.',
      'EYJaaaa.bbbb.',
      'eyJ\u00e9aaaa.bbbb.',
    ];
    // And random strings over the characters that matter.
    const next = mulberry32(99);
    const alphabet = ['e', 'y', 'J', 'eyJ', 'a', '-', '_', '.', ' ', '0'];
    for (let i = 0; i < 3000; i++) rows.push(Array.from({ length: 2 + Math.floor(next() * 30) }, () => alphabet[Math.floor(next() * alphabet.length)]).join(''));
    for (const text of rows) expect(redactDetails({ note: text }, privacy).note === REDACTED, text).toBe(JWT_LIKE.test(text));
    // The shape that made the regex quadratic (1.5 s at 64 KB), at 1 MB, and a token behind it.
    const run = 'eyJaa-'.repeat(200_000);
    expect(redactDetails({ iss: run }, privacy).iss).not.toBe(REDACTED);
    expect(redactDetails({ iss: `${run} eyJhbGci.eyJzdWIi.sig` }, privacy).iss).toBe(REDACTED);
  });

  it('takes pseudonyms of long values at bounded cost (NFKC of the first 4,096 characters only)', () => {
    const long = 'a\u0301'.repeat(100_000);
    const a = redactDetails({ user: long }, privacy).user;
    expect(a).toMatch(/^p:[0-9a-f]{32}$/);
    expect(redactDetails({ user: long }, privacy).user).toBe(a);
    expect(a).toBe(privacy.pseudonym(long.slice(0, 4096).normalize('NFKC').toLowerCase()));
  });

  it('takes pseudonyms with stream-safe NFKC: 4,096 combining marks in a row are sorted 30 at a time, not at once', () => {
    // Plain NFKC sorts a run of marks in quadratic time (text/nfkc.ts); a joiner every 30 marks bounds it.
    const marks = `a${'\u0301\u0316'.repeat(2048)}`;
    const a = redactDetails({ user: marks }, privacy).user;
    expect(a).toBe(privacy.pseudonym(streamSafe(marks.slice(0, 4096)).normalize('NFKC').toLowerCase()));
    expect(a).not.toBe(privacy.pseudonym(marks.slice(0, 4096).normalize('NFKC').toLowerCase()));
    // Text without such a run is pseudonymised exactly as before.
    expect(redactDetails({ user: 'Ａｌｉｃｅ' }, privacy).user).toBe(privacy.pseudonym('alice'));
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
