import { randomUUID } from 'node:crypto';
import { Ajv } from 'ajv';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey as JoseKey, type JWK } from 'jose';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { JwksCache, createJwtHandlers, jwtPolicy, type JwtConfig } from './index.ts';
import { freshnessSeconds } from './jwks.ts';
import { JwksServer, TestClock, policyDeps, recordingLogger, send, startPolicyServer, type OutcomeReport } from './test-harness.ts';

const ajv = new Ajv({ strict: false, useDefaults: true, allowUnionTypes: true });
const validateConfig = ajv.compile(jwtPolicy.schema);
const ISSUER = 'https://idp.example.test';
const AUDIENCE = 'orders-api';

interface Signer {
  readonly jwk: JWK;
  readonly privateKey: JoseKey;
}

async function signer(kid: string): Promise<Signer> {
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  return { jwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' }, privateKey };
}

let keyA: Signer;
let keyB: Signer;
beforeAll(async () => {
  keyA = await signer('key-a');
  keyB = await signer('key-b');
});

/** One issuer behind a real JWKS server, with an injected clock; everything is closed after each test. */
async function setup(options: { jwks?: Record<string, unknown>; keys?: object[]; cacheControl?: string | undefined; failure?: JwksServer['failure'] } = {}) {
  const clock = new TestClock();
  const server = await new JwksServer().start();
  server.keys = options.keys ?? [keyA.jwk];
  server.cacheControl = 'cacheControl' in options ? options.cacheControl : 'max-age=600';
  server.failure = options.failure;
  const { logger, lines } = recordingLogger();
  const deps = policyDeps(logger);
  const input = { name: 'corp-idp', issuer: ISSUER, audiences: [AUDIENCE], jwksUrl: server.url, jwks: options.jwks ?? {} };
  if (!validateConfig(input)) throw new Error(ajv.errorsText(validateConfig.errors));
  const handlers = await createJwtHandlers(input as unknown as JwtConfig, deps, { now: clock.now });
  const policyServer = await startPolicyServer(() => handlers);
  const cache = deps.shared.get<JwksCache>(`jwks:${server.url}`, () => {
    throw new Error('the policy should have created the JWKS cache');
  });
  await cache.whenIdle();
  const env = {
    clock,
    server,
    cache,
    lines,
    async token(key: Signer, kid = key.jwk.kid!): Promise<string> {
      return new SignJWT({ iss: ISSUER, aud: AUDIENCE, sub: 'alice', iat: clock.seconds, exp: clock.seconds + 3600, jti: randomUUID() })
        .setProtectedHeader({ alg: 'ES256', kid })
        .sign(key.privateKey);
    },
    send(jwt: string): Promise<OutcomeReport> {
      return send(`${policyServer.url}/orders`, [['authorization', `Bearer ${jwt}`]]);
    },
    async close() {
      await policyServer.close();
      await deps.shared.close();
      await server.close();
    },
  };
  cleanups.push(env.close);
  return env;
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((close) => close()));
});

describe('JWKS cache: freshness', () => {
  it('honours Cache-Control max-age and refreshes a stale set in the background', async () => {
    const env = await setup({ cacheControl: 'public, max-age=120' });
    expect(env.server.fetches).toBe(1);
    expect((await env.send(await env.token(keyA))).outcome).toBe('continue');
    env.clock.advance(100);
    expect((await env.send(await env.token(keyA))).outcome).toBe('continue');
    expect(env.server.fetches).toBe(1);
    env.clock.advance(21);
    // Stale: the request is still served from the cached set while a fetch replaces it.
    expect((await env.send(await env.token(keyA))).outcome).toBe('continue');
    await env.cache.whenIdle();
    expect(env.server.fetches).toBe(2);
    env.clock.advance(60);
    expect((await env.send(await env.token(keyA))).outcome).toBe('continue');
    expect(env.server.fetches).toBe(2);
  });

  it('bounds a short max-age below by minRefreshInterval', async () => {
    const env = await setup({ cacheControl: 'max-age=1', jwks: { minRefreshInterval: 30 } });
    env.clock.advance(20);
    await env.send(await env.token(keyA));
    await env.cache.whenIdle();
    expect(env.server.fetches).toBe(1);
    env.clock.advance(11);
    await env.send(await env.token(keyA));
    await env.cache.whenIdle();
    expect(env.server.fetches).toBe(2);
  });

  it('bounds a long max-age above by maxMaxAge, and uses defaultMaxAge without one', async () => {
    const long = await setup({ cacheControl: 'max-age=99999999', jwks: { maxMaxAge: 3600 } });
    long.clock.advance(3599);
    await long.send(await long.token(keyA));
    await long.cache.whenIdle();
    expect(long.server.fetches).toBe(1);
    long.clock.advance(2);
    await long.send(await long.token(keyA));
    await long.cache.whenIdle();
    expect(long.server.fetches).toBe(2);

    const none = await setup({ cacheControl: undefined, jwks: { defaultMaxAge: 300 } });
    none.clock.advance(299);
    await none.send(await none.token(keyA));
    await none.cache.whenIdle();
    expect(none.server.fetches).toBe(1);
    none.clock.advance(2);
    await none.send(await none.token(keyA));
    await none.cache.whenIdle();
    expect(none.server.fetches).toBe(2);
  });

  it.each([
    ['max-age=120', undefined, 120],
    ['public, max-age=120', '20', 100],
    ['max-age="60"', undefined, 60],
    ['no-store', undefined, 0],
    ['no-cache, max-age=600', undefined, 0],
    ['max-age=10', '50', 0],
    ['s-maxage=60', undefined, undefined],
    ['max-age=abc', undefined, undefined],
  ])('reads Cache-Control %j with Age %j as %j seconds', (cacheControl, age, expected) => {
    expect(freshnessSeconds(cacheControl, age)).toBe(expected);
  });
});

describe('JWKS cache: key rotation', () => {
  it('accepts the new kid after the unknown-kid refetch, and stops accepting the removed kid', async () => {
    const env = await setup({ jwks: { minRefreshInterval: 30 } });
    const oldCached = await env.token(keyA);
    expect(await env.send(oldCached)).toMatchObject({ outcome: 'continue', synchronous: false });
    expect(await env.send(oldCached)).toMatchObject({ outcome: 'continue', synchronous: true });

    // The issuer rotates: key-b published, key-a removed.
    env.server.keys = [keyB.jwk];
    env.clock.advance(5);
    // Within minRefreshInterval of the last fetch, an unknown kid does not fetch: refused.
    const early = await env.send(await env.token(keyB));
    expect(early).toMatchObject({ outcome: 'problem', code: 'RAMPART_ERR_INVALID_CREDENTIAL', detail: expect.stringContaining('unknown kid') });
    expect(env.server.fetches).toBe(1);
    // The cached set still has key-a: its tokens, cached or new, are accepted until the set is replaced.
    expect((await env.send(oldCached)).outcome).toBe('continue');
    expect((await env.send(await env.token(keyA))).outcome).toBe('continue');

    env.clock.advance(30);
    const rotated = await env.token(keyB);
    expect(await env.send(rotated)).toMatchObject({ outcome: 'continue', principal: { subject: 'alice' } });
    expect(env.server.fetches).toBe(2);

    // key-a is gone from the set: its cached token and new ones are refused, without another fetch.
    expect(await env.send(oldCached)).toMatchObject({ outcome: 'problem', detail: expect.stringContaining('unknown kid') });
    expect(await env.send(await env.token(keyA))).toMatchObject({ outcome: 'problem', code: 'RAMPART_ERR_INVALID_CREDENTIAL' });
    expect(env.server.fetches).toBe(2);
    expect(await env.send(rotated)).toMatchObject({ outcome: 'continue', synchronous: true });
  });

  it('overlapping rotation: both kids verify while both are published', async () => {
    const env = await setup({ keys: [keyA.jwk, keyB.jwk] });
    expect((await env.send(await env.token(keyA))).outcome).toBe('continue');
    expect((await env.send(await env.token(keyB))).outcome).toBe('continue');
  });

  it('refetches for unknown kids at most once per minRefreshInterval, concurrent requests sharing the fetch', async () => {
    const env = await setup({ jwks: { minRefreshInterval: 30 } });
    env.clock.advance(31);
    const burst = async () =>
      Promise.all(
        await Promise.all(Array.from({ length: 100 }, async () => env.send(await env.token(keyA, `kid-${randomUUID()}`)))),
      );
    const first = await burst();
    expect(first.every((a) => a.outcome === 'problem' && a.code === 'RAMPART_ERR_INVALID_CREDENTIAL')).toBe(true);
    expect(env.server.fetches).toBe(2);
    env.clock.advance(10);
    await burst();
    expect(env.server.fetches).toBe(2);
    env.clock.advance(21);
    await burst();
    expect(env.server.fetches).toBe(3);
    // Valid tokens were never blocked by the flood.
    expect((await env.send(await env.token(keyA))).outcome).toBe('continue');
  });
});

describe('JWKS cache: outages', () => {
  it.each([
    ['HTTP 500', 500 as const],
    ['a body that is not JSON', 'not-json' as const],
    ['a body over the size limit', 'huge' as const],
    ['no answer before the timeout', 'hang' as const],
  ])('keeps the last good set through %s, logs it, and recovers', async (_name, failure) => {
    const env = await setup({ cacheControl: 'max-age=60', jwks: { minRefreshInterval: 30, timeout: 200 } });
    env.server.failure = failure;
    env.clock.advance(61);
    expect((await env.send(await env.token(keyA))).outcome).toBe('continue');
    await env.cache.whenIdle();
    expect(env.server.fetches).toBe(2);
    expect(env.lines.some((l) => l.msg === 'jwks fetch failed; keeping the last good key set' && l.keptKeys === 1)).toBe(true);
    env.clock.advance(31);
    expect((await env.send(await env.token(keyA))).outcome).toBe('continue');
    await env.cache.whenIdle();
    expect(env.server.fetches).toBe(3);

    env.server.failure = undefined;
    env.server.keys = [keyA.jwk, keyB.jwk];
    env.clock.advance(31);
    expect((await env.send(await env.token(keyB))).outcome).toBe('continue');
  });

  it('fails closed (401 invalid_token) before the first successful fetch, then recovers', async () => {
    const env = await setup({ failure: 503, jwks: { minRefreshInterval: 30 } });
    expect(env.cache.ready).toBe(false);
    const refused = await env.send(await env.token(keyA));
    expect(refused).toMatchObject({
      outcome: 'problem',
      code: 'RAMPART_ERR_INVALID_CREDENTIAL',
      detail: expect.stringContaining('jwks unavailable'),
      headers: { 'www-authenticate': 'Bearer realm="rampart", error="invalid_token"' },
    });
    env.server.failure = undefined;
    env.clock.advance(31);
    expect((await env.send(await env.token(keyA))).outcome).toBe('continue');
    expect(env.cache.ready).toBe(true);
  });

  it('skips unusable keys with a log line and keeps the usable ones', async () => {
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const privateJwk = { ...(await exportJWK(privateKey)), kid: 'leaked-private' };
    const env = await setup({
      keys: [
        privateJwk,
        { kty: 'oct', kid: 'symmetric', k: 'c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0' },
        { ...keyB.jwk, kid: undefined },
        { ...keyB.jwk, kid: 'broken', x: 'AAAA' },
        { ...keyB.jwk, kid: 'encryption', use: 'enc' },
        { ...keyB.jwk, kid: 'wrong-alg', alg: 'RS256' },
        'not an object' as unknown as object,
        keyA.jwk,
        { ...keyB.jwk, kid: 'key-a' },
      ],
    });
    expect((await env.send(await env.token(keyA))).outcome).toBe('continue');
    const skipped = env.lines.filter((l) => l.msg === 'jwks key skipped').map((l) => l.reason as string);
    expect(skipped).toHaveLength(8);
    expect(skipped.join('\n')).toMatch(/private member "d"/);
    expect(skipped.join('\n')).toMatch(/symmetric/);
    expect(skipped.join('\n')).toMatch(/appears twice/);
    // The private key's public half must not have become a verification key either.
    const forged = await new SignJWT({ iss: ISSUER, aud: AUDIENCE, sub: 'alice', exp: env.clock.seconds + 60 })
      .setProtectedHeader({ alg: 'ES256', kid: 'leaked-private' })
      .sign(privateKey);
    expect((await env.send(forged)).outcome).toBe('problem');
  });

  it('close() aborts a fetch in flight', async () => {
    const server = await new JwksServer().start();
    server.failure = 'hang';
    const arrived = server.nextFetch();
    const cache = new JwksCache({
      url: server.url,
      algorithms: new Set(['ES256']),
      minRefreshInterval: 30,
      defaultMaxAge: 600,
      maxMaxAge: 86_400,
      timeout: 60_000,
      maxBytes: 1_048_576,
      logger: recordingLogger().logger,
    });
    await arrived;
    cache.close();
    await cache.whenIdle();
    expect(cache.ready).toBe(false);
    await server.close();
  });
});
