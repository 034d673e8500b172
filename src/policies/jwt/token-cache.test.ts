import { Ajv } from 'ajv';
import { SignJWT, exportSPKI, generateKeyPair, type CryptoKey as JoseKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJwtHandlers, jwtPolicy, type JwtConfig } from './index.ts';
import { TestClock, policyDeps, send, startPolicyServer } from './test-harness.ts';
import { TokenCache } from './token-cache.ts';

describe('TokenCache', () => {
  it('serves an entry until its deadline, never at or after it', () => {
    const cache = new TokenCache<string>(10);
    cache.set('t', 'alice', 1000);
    expect(cache.get('t', 999)?.value).toBe('alice');
    expect(cache.get('t', 1000)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('is bounded: a full cache evicts its oldest entry', () => {
    const cache = new TokenCache<number>(3);
    for (let i = 0; i < 4; i++) cache.set(`t${i}`, i, 10_000);
    expect(cache.size).toBe(3);
    expect(cache.get('t0', 0)).toBeUndefined();
    expect(cache.get('t3', 0)?.value).toBe(3);
    // Setting an existing token again makes it the newest.
    cache.set('t1', 11, 10_000);
    cache.set('t4', 4, 10_000);
    expect(cache.get('t2', 0)).toBeUndefined();
    expect(cache.get('t1', 0)?.value).toBe(11);
  });

  it('is bounded in memory too: the oldest entries go until the new one fits, and one larger than the bound is not kept', () => {
    // Tokens count two bytes a character; values what the caller says.
    const cache = new TokenCache<number>(100, 1000);
    for (let i = 0; i < 4; i++) cache.set(`t${i}`, i, 10_000, undefined, 200 - 4);
    expect(cache.size).toBe(4);
    expect(cache.bytes).toBe(800);
    cache.set('t4', 4, 10_000, undefined, 400 - 4);
    expect(cache.bytes).toBe(1000);
    expect(cache.get('t0', 0)).toBeUndefined();
    expect(cache.get('t1', 0)?.value).toBe(1);
    expect(cache.get('t4', 0)?.value).toBe(4);
    // Replacing an entry releases what it held before.
    cache.set('t4', 44, 10_000, undefined, 100 - 4);
    expect(cache.bytes).toBe(700);
    expect(cache.size).toBe(4);
    // Larger than the whole bound: not stored, and nothing is evicted for it.
    cache.set('huge', 0, 10_000, undefined, 2000);
    expect(cache.get('huge', 0)).toBeUndefined();
    expect(cache.size).toBe(4);
    // Expiry, delete and clear release their bytes.
    cache.set('short', 5, 10, undefined, 290);
    expect(cache.bytes).toBe(1000);
    expect(cache.get('short', 10)).toBeUndefined();
    cache.delete('t1');
    expect(cache.bytes).toBe(500);
    cache.clear();
    expect(cache.bytes).toBe(0);
  });

  it('never confuses two tokens that share their tail (the Map key), it only lets them displace each other', () => {
    const cache = new TokenCache<string>(10);
    const tail = 'x'.repeat(64);
    cache.set(`alice.${tail}`, 'alice', 10_000);
    expect(cache.get(`mallory.${tail}`, 0)).toBeUndefined();
    expect(cache.get(`alice.${tail}`, 0)?.value).toBe('alice');
    cache.delete(`mallory.${tail}`);
    expect(cache.get(`alice.${tail}`, 0)?.value).toBe('alice');
    cache.set(`bob.${tail}`, 'bob', 10_000);
    expect(cache.get(`alice.${tail}`, 0)).toBeUndefined();
    expect(cache.get(`bob.${tail}`, 0)?.value).toBe('bob');
  });

  it('stores nothing with maxEntries 0, and keeps the tag', () => {
    const off = new TokenCache<number>(0);
    off.set('t', 1, 10_000);
    expect(off.size).toBe(0);
    const tagged = new TokenCache<number>(1);
    tagged.set('t', 1, 10_000, 'kid-1');
    expect(tagged.get('t', 0)?.tag).toBe('kid-1');
  });
});

describe('jwt verified-token cache bounds', () => {
  const ajv = new Ajv({ strict: false, useDefaults: true });
  const validate = ajv.compile(jwtPolicy.schema);
  const clock = new TestClock();
  const deps = policyDeps();
  let privateKey: JoseKey;
  let url: string;
  let close: () => Promise<void>;

  beforeAll(async () => {
    const pair = await generateKeyPair('ES256', { extractable: true });
    privateKey = pair.privateKey;
    const config = { name: 'c', issuer: 'https://idp', audiences: ['api'], keys: [{ alg: 'ES256', pem: await exportSPKI(pair.publicKey) }], cache: { maxEntries: 100, maxTtl: 300 } };
    if (!validate(config)) throw new Error(ajv.errorsText(validate.errors));
    const handlers = await createJwtHandlers(config as unknown as JwtConfig, deps, { now: clock.now });
    const server = await startPolicyServer(() => handlers);
    url = `${server.url}/x`;
    close = server.close;
  });
  afterAll(async () => {
    await close();
    await deps.shared.close();
  });

  const sign = (exp: number) =>
    new SignJWT({ iss: 'https://idp', aud: 'api', sub: 'alice', iat: clock.seconds, exp }).setProtectedHeader({ alg: 'ES256' }).sign(privateKey);
  const ask = (jwt: string) => send(url, [['authorization', `Bearer ${jwt}`]]);

  it('never serves a token from the cache past its exp', async () => {
    const jwt = await sign(clock.seconds + 100);
    expect(await ask(jwt)).toMatchObject({ outcome: 'continue', synchronous: false });
    clock.advance(99);
    expect(await ask(jwt)).toMatchObject({ outcome: 'continue', synchronous: true });
    clock.advance(2);
    // Past exp but within the 30 s clock skew: verified again (and accepted), not served from the cache.
    expect(await ask(jwt)).toMatchObject({ outcome: 'continue', synchronous: false });
    clock.advance(30);
    expect(await ask(jwt)).toMatchObject({ outcome: 'problem', code: 'RAMPART_ERR_INVALID_CREDENTIAL', detail: expect.stringContaining('ERR_JWT_EXPIRED') });
  });

  it('keeps a long-lived token at most maxTtl', async () => {
    const jwt = await sign(clock.seconds + 86_400);
    expect(await ask(jwt)).toMatchObject({ outcome: 'continue', synchronous: false });
    clock.advance(299);
    expect(await ask(jwt)).toMatchObject({ outcome: 'continue', synchronous: true });
    clock.advance(2);
    expect(await ask(jwt)).toMatchObject({ outcome: 'continue', synchronous: false });
  });
});
