import { hash as argon2Hash, parseOptions, verify as argon2Verify } from '@node-rs/argon2';
import { describe, expect, it, vi } from 'vitest';
import {
  ARGON2ID_OPTIONS,
  DUMMY_PASSWORD_HASH,
  MAX_PASSWORD_LENGTH,
  PasswordHashError,
  PasswordHasher,
  STORED_HASH_BOUNDS,
  checkPasswordPolicy,
  commonPasswordList,
  hashPassword,
  needsRehash,
  verifyPassword,
  verifyPasswordOrDummy,
} from './passwords.ts';

/** A hasher whose argon2 verify is the real one, wrapped to record every call. */
function spiedHasher(): { hasher: PasswordHasher; calls: { hash: string; password: string; result: boolean }[] } {
  const calls: { hash: string; password: string; result: boolean }[] = [];
  const hasher = new PasswordHasher({
    verify: async (hash, password) => {
      const result = await argon2Verify(hash, password);
      calls.push({ hash, password, result });
      return result;
    },
  });
  return { hasher, calls };
}

describe('argon2id password hashing', () => {
  it('hashes with argon2id at the OWASP parameters and verifies', async () => {
    const hash = await hashPassword('correct horse battery staple');
    expect(hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    const used = parseOptions(hash);
    expect(used).toMatchObject({ memoryCost: 19456, timeCost: 2, parallelism: 1, saltLen: 16 });
    expect(await verifyPassword(hash, 'correct horse battery staple')).toBe(true);
    expect(await verifyPassword(hash, 'correct horse battery stapl')).toBe(false);
    expect(await verifyPassword(hash, 'Correct horse battery staple')).toBe(false);
    expect(await hashPassword('correct horse battery staple')).not.toBe(hash);
    expect(needsRehash(hash)).toBe(false);
  });

  it('verifies the same password typed composed or decomposed (NFKC)', async () => {
    const hash = await hashPassword('caf\u00e9 au lait s\u00fbr');
    expect(await verifyPassword(hash, 'cafe\u0301 au lait su\u0302r')).toBe(true);
  });

  it('computes the dummy hash once, with the same parameters as real hashes', () => {
    expect(parseOptions(DUMMY_PASSWORD_HASH)).toMatchObject({
      algorithm: ARGON2ID_OPTIONS.algorithm,
      memoryCost: 19456,
      timeCost: 2,
      parallelism: 1,
    });
    expect(needsRehash(DUMMY_PASSWORD_HASH)).toBe(false);
  });

  it('runs one full argon2id verification against the dummy hash for an unknown user', async () => {
    const { hasher, calls } = spiedHasher();
    expect(await hasher.verifyOrDummy(undefined, 'whatever the attacker guessed')).toBe(false);
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ hash: DUMMY_PASSWORD_HASH, password: 'whatever the attacker guessed', result: false });
    // The exported function answers the same.
    expect(await verifyPasswordOrDummy(undefined, 'x')).toBe(false);
  });

  it('runs exactly one verification against the real hash for a known user', async () => {
    const { hasher, calls } = spiedHasher();
    const hash = await hasher.hash('a long enough password');
    expect(await hasher.verifyOrDummy(hash, 'a long enough password')).toBe(true);
    expect(await hasher.verifyOrDummy(hash, 'a wrong password!!')).toBe(false);
    expect(calls.map((call) => [call.hash === hash, call.result])).toEqual([
      [true, true],
      [true, false],
    ]);
  });

  it('still spends one verification on an empty or over-long password, then says false', async () => {
    const { hasher, calls } = spiedHasher();
    const hash = await hasher.hash('a long enough password');
    expect(await hasher.verify(hash, 'x'.repeat(MAX_PASSWORD_LENGTH + 1))).toBe(false);
    expect(await hasher.verify(hash, '')).toBe(false);
    expect(await hasher.verifyOrDummy(undefined, '')).toBe(false);
    expect(calls).toHaveLength(3);
    expect(calls.every((call) => call.hash === DUMMY_PASSWORD_HASH && call.result === false)).toBe(true);
  });

  // NFKC is quadratic in a run of combining marks (text/nfkc.ts): a long password is cut before it is normalised, to
  // a length that is over-long after NFKC whatever it holds, so every answer stays what it was.
  it('never hands NFKC more than 8 units per allowed character, and still answers a huge password of marks as over-long', async () => {
    const marks = 'a' + '\u0301\u0316'.repeat(50_000);
    const lengths: number[] = [];
    const original = String.prototype.normalize;
    const spy = vi.spyOn(String.prototype, 'normalize').mockImplementation(function (this: string, form?: string) {
      lengths.push(this.length);
      return original.call(this, form);
    });
    try {
      const { hasher, calls } = spiedHasher();
      expect(await hasher.verify(DUMMY_PASSWORD_HASH, marks)).toBe(false);
      expect(await hasher.verifyOrDummy(undefined, marks)).toBe(false);
      await expect(hasher.hash(marks)).rejects.toThrow(/at most 256/);
      expect(checkPasswordPolicy(marks)).toBe('password must be at most 256 characters long');
      expect(calls.every((call) => call.hash === DUMMY_PASSWORD_HASH && call.result === false)).toBe(true);
    } finally {
      spy.mockRestore();
    }
    expect(lengths.length).toBeGreaterThanOrEqual(4);
    expect(Math.max(...lengths)).toBe(MAX_PASSWORD_LENGTH * 8 + 1);
  });

  it('relies on a bound that holds for every code point: a character NFKC keeps decomposes to at most 4', () => {
    let longest = 0;
    for (let cp = 0; cp <= 0x10ffff; cp++) {
      if (cp >= 0xd800 && cp <= 0xdfff) continue;
      const c = String.fromCodePoint(cp);
      if (c.normalize('NFKC') !== c) continue;
      longest = Math.max(longest, [...c.normalize('NFKD')].length);
    }
    // NFKC never removes a code point, so n characters come from at most 4n code points, 8n UTF-16 units.
    expect(longest).toBe(4);
  });

  it('reports a corrupt stored hash as such, not as a wrong password', async () => {
    for (const corrupt of ['', 'not-a-hash', '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA', '$2b$10$abcdefghijklmnopqrstuv']) {
      await expect(verifyPassword(corrupt, 'a long enough password')).rejects.toThrow(PasswordHashError);
    }
    expect(needsRehash('not-a-hash')).toBe(true);
    expect(needsRehash('$argon2id$v=19$m=4096,t=3,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g')).toBe(true);
  });

  describe('a stored hash with hostile parameters is refused before argon2 sees it', () => {
    const SALT = 'c2FsdHNhbHRzYWx0c2FsdA';
    const OUTPUT = 'aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g';
    const stored = (params: string, version = 'v=19$') => `$argon2id$${version}${params}$${SALT}$${OUTPUT}`;
    const hostile: [string, string][] = [
      ['huge m (4 GiB)', stored('m=4294967295,t=2,p=1')],
      ['m just above the ceiling', stored(`m=${STORED_HASH_BOUNDS.maxMemoryKib + 1},t=2,p=1`)],
      ['huge t', stored('m=19456,t=4294967295,p=1')],
      ['t just above the ceiling', stored(`m=19456,t=${STORED_HASH_BOUNDS.maxTimeCost + 1},p=1`)],
      ['huge p', stored('m=19456,t=2,p=16777215')],
      ['p just above the ceiling', stored(`m=19456,t=2,p=${STORED_HASH_BOUNDS.maxParallelism + 1}`)],
      ['m below 8p', stored('m=64,t=1,p=16')],
      ['m zero', stored('m=0,t=2,p=1')],
      ['t zero', stored('m=19456,t=0,p=1')],
      ['p zero', stored('m=19456,t=2,p=0')],
      ['a number longer than 32 bits', stored('m=99999999999999999999,t=2,p=1')],
      ['non-numeric m', stored('m=lots,t=2,p=1')],
      ['negative t', stored('m=19456,t=-1,p=1')],
      ['fractional m', stored('m=19456.5,t=2,p=1')],
      ['exponent notation', stored('m=1e9,t=2,p=1')],
      ['leading zeros', stored('m=019456,t=2,p=1')],
      ['missing p', stored('m=19456,t=2')],
      ['missing all parameters', `$argon2id$v=19$$${SALT}$${OUTPUT}`],
      ['duplicate m', stored('m=19456,m=4294967295,t=2,p=1')],
      ['parameters out of order', stored('t=2,m=19456,p=1')],
      ['an extra parameter', stored('m=19456,t=2,p=1,keyid=aGk')],
      ['version 16', stored('m=19456,t=2,p=1', 'v=16$')],
      ['a huge version', stored('m=19456,t=2,p=1', 'v=4294967295$')],
      ['no version', stored('m=19456,t=2,p=1', '')],
      ['an extra field', `${stored('m=19456,t=2,p=1')}$${OUTPUT}`],
      ['argon2i instead of argon2id', stored('m=19456,t=2,p=1').replace('$argon2id$', '$argon2i$')],
      ['a huge output', `$argon2id$v=19$m=19456,t=2,p=1$${SALT}$${'A'.repeat(100_000)}`],
      ['whitespace around it', ` ${stored('m=19456,t=2,p=1')}\n`],
    ];
    it.each(hostile)('%s', async (_what, hash) => {
      const { hasher, calls } = spiedHasher();
      const started = performance.now();
      await expect(hasher.verify(hash, 'a long enough password')).rejects.toThrow(PasswordHashError);
      expect(performance.now() - started).toBeLessThan(2000);
      // argon2 only ever saw the dummy hash (one verification, as for any failed login), never the hostile one.
      expect(calls.map((call) => call.hash)).toEqual([DUMMY_PASSWORD_HASH]);
    });

    it('still verifies the hashes Rampart writes, and valid hashes within the bounds', async () => {
      const password = 'a long enough password';
      expect(await verifyPassword(await hashPassword(password), password)).toBe(true);
      const within = await argon2Hash(password, { ...ARGON2ID_OPTIONS, memoryCost: 65536, timeCost: 3, parallelism: 4 });
      expect(within).toMatch(/^\$argon2id\$v=19\$m=65536,t=3,p=4\$/);
      expect(await verifyPassword(within, password)).toBe(true);
      // Weaker than today's parameters: still within argon2's minimums, so it verifies (and needsRehash upgrades it).
      const weak = await argon2Hash(password, { ...ARGON2ID_OPTIONS, memoryCost: 4096, timeCost: 1 });
      expect(await verifyPassword(weak, password)).toBe(true);
      expect(needsRehash(weak)).toBe(true);
    });
  });

  it('refuses to hash an empty or over-long password', async () => {
    await expect(hashPassword('')).rejects.toThrow(PasswordHashError);
    await expect(hashPassword('x'.repeat(MAX_PASSWORD_LENGTH + 1))).rejects.toThrow(/at most 256/);
  });
});

describe('password policy', () => {
  it('ships a list of common passwords, including long ones', () => {
    const list = commonPasswordList();
    expect(list.size).toBeGreaterThan(1900);
    for (const entry of ['123456', 'password', 'qwerty', 'qwertyqwerty', '1qaz2wsx3edc']) expect(list.has(entry)).toBe(true);
    expect([...list].every((entry) => entry === entry.toLowerCase() && !entry.startsWith('#'))).toBe(true);
    expect([...list].filter((entry) => [...entry].length >= 12).length).toBeGreaterThanOrEqual(1000);
  });

  const table: [string, string, string | null, string?][] = [
    ['too short', 'Tr0ub4dor&3', 'password must be at least 12 characters long'],
    ['empty', '', 'password must be at least 12 characters long'],
    ['12 characters, fine', 'mauve-otter7', null],
    ['a passphrase', 'correct horse battery staple', null],
    ['counted in characters, not UTF-16 units: 11 emoji', '🔑'.repeat(11), 'password must be at least 12 characters long'],
    ['12 distinct emoji', '🔑🦦🌵🎻🧲🛶🪁🧊🍋🎲🪴🦉', null],
    ['too long', 'a b'.repeat(100), 'password must be at most 256 characters long'],
    ['common and long', 'qwertyqwerty', 'password is too common'],
    ['common, any case', 'QwertyQwerty', 'password is too common'],
    ['common keyboard walk', '1qaz2wsx3edc', 'password is too common'],
    ['one repeated character', 'aaaaaaaaaaaaaaa', 'password is a repeated or sequential pattern'],
    ['repeated pair', 'xyxyxyxyxyxyxy', 'password is a repeated or sequential pattern'],
    ['repeated triple', 'k9!k9!k9!k9!', 'password is a repeated or sequential pattern'],
    ['ascending run', 'abcdefghijklmn', 'password is a repeated or sequential pattern'],
    ['a run broken midway is acceptable', '987654321zyx', null],
    ['descending letters', 'zyxwvutsrqpon', 'password is a repeated or sequential pattern'],
    ['contains the username', 'alice-is-my-password-2024', 'password must not contain the username', 'Alice'],
    ['username rule needs 3+ characters', 'al-mauve-otter7', null, 'al'],
    ['fullwidth username is the same username', 'xx-alice-yy-zz-ww', 'password must not contain the username', 'Ａｌｉｃｅ'],
    ['NFKC-folded common password', 'ｑｗｅｒｔｙｑｗｅｒｔｙ', 'password is too common'],
  ];
  it.each(table)('%s', (_name, password, reason, username) => {
    expect(checkPasswordPolicy(password, username === undefined ? {} : { username })).toBe(reason);
  });

  it('refuses non-strings', () => {
    expect(checkPasswordPolicy(undefined as unknown as string)).toBe('password must be a string');
  });
});
