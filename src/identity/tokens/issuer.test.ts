import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { hashSecret } from '../../crypto/hashing.ts';
import { TestClock } from '../../policies/jwt/test-harness.ts';
import type { IdentityStore } from '../../storage/ports.ts';
import { ACR_MFA } from '../types.ts';
import { FIRST_PARTY_CLIENT_ID, createTokenIssuer, type RampartTokenIssuer } from './issuer.ts';
import { TEST_AUDIENCE, TEST_ISSUER, testIdentityConfig, testIdentityDeps, type StoreKind, type TestIdentity } from './test-support.ts';

const DAY = 86_400_000;
const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const item of open.splice(0).reverse()) await item.close();
});

async function setup(kind: StoreKind, clock: TestClock, overrides: Parameters<typeof testIdentityConfig>[0] = {}): Promise<{ identity: TestIdentity; issuer: RampartTokenIssuer }> {
  const identity = testIdentityDeps(kind, clock.now, testIdentityConfig(overrides));
  open.push(identity);
  const issuer = await createTokenIssuer(identity);
  open.push(issuer);
  return { identity, issuer };
}

async function verifyWithJwks(issuer: RampartTokenIssuer, token: string, at: number) {
  const jwks = createLocalJWKSet((await issuer.jwks()) as unknown as Parameters<typeof createLocalJWKSet>[0]);
  return jwtVerify(token, jwks, { issuer: TEST_ISSUER, audience: TEST_AUDIENCE, typ: 'at+jwt', currentDate: new Date(at) });
}

describe.each(['memory', 'sqlite'] as const)('token issuer (%s store)', (kind) => {
  it('signs RFC 9068 access tokens with exactly the expected header and claims, and a hashed refresh family', async () => {
    const clock = new TestClock(Date.UTC(2030, 0, 1) + 1234);
    const { identity, issuer } = await setup(kind, clock);
    const authTime = clock.ms - 65_500;
    const response = await issuer.issue({
      subject: 'usr_alice',
      kind: 'user',
      roles: ['reader', 'writer'],
      tenant: 'acme',
      amr: ['pwd', 'otp'],
      acr: ACR_MFA,
      authTime,
      scopes: ['orders:read', 'orders:write'],
      refresh: true,
    });
    expect(Object.keys(response).sort()).toEqual(['access_token', 'expires_in', 'refresh_token', 'scope', 'token_type']);
    expect(response).toMatchObject({ token_type: 'Bearer', expires_in: 600, scope: 'orders:read orders:write' });
    expect(response.refresh_token).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const header = decodeProtectedHeader(response.access_token);
    const jwks = await issuer.jwks();
    expect(jwks.keys).toHaveLength(1);
    expect(header).toEqual({ alg: 'ES256', kid: jwks.keys[0]!.kid, typ: 'at+jwt' });

    const family = await identity.stores.sessions.findRefreshFamilyByToken(hashSecret(response.refresh_token!, identity.pepper));
    expect(family).toMatchObject({
      subject: 'usr_alice',
      clientId: null,
      scopes: ['orders:read', 'orders:write'],
      amr: ['pwd', 'otp'],
      acr: ACR_MFA,
      authTime,
      createdAt: clock.ms,
      expiresAt: clock.ms + 14 * DAY,
    });
    const claims = decodeJwt(response.access_token);
    const iat = Math.floor(clock.ms / 1000);
    expect(claims.jti).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(claims).toEqual({
      iss: TEST_ISSUER,
      aud: TEST_AUDIENCE,
      sub: 'usr_alice',
      client_id: FIRST_PARTY_CLIENT_ID,
      iat,
      nbf: iat,
      exp: iat + 600,
      jti: claims.jti,
      scope: 'orders:read orders:write',
      roles: ['reader', 'writer'],
      tenant: 'acme',
      amr: ['pwd', 'otp'],
      acr: ACR_MFA,
      auth_time: Math.floor(authTime / 1000),
      sid: family!.id,
    });
    const verified = await verifyWithJwks(issuer, response.access_token, clock.ms);
    expect(verified.protectedHeader.kid).toBe(header.kid);
  });

  it('issues client tokens without refresh token, tenant, acr or sid; sub equals client_id', async () => {
    const clock = new TestClock();
    const { issuer } = await setup(kind, clock);
    const response = await issuer.issue({
      subject: 'billing-service',
      kind: 'client',
      roles: ['billing'],
      amr: [],
      authTime: clock.ms,
      scopes: [],
      clientId: 'billing-service',
      refresh: false,
    });
    expect(Object.keys(response).sort()).toEqual(['access_token', 'expires_in', 'token_type']);
    const claims = decodeJwt(response.access_token);
    expect(claims.sub).toBe('billing-service');
    expect(claims.client_id).toBe('billing-service');
    for (const absent of ['tenant', 'acr', 'sid', 'scope']) expect(claims).not.toHaveProperty(absent);
    // Two tokens never share a jti.
    const again = decodeJwt((await issuer.issue({ subject: 'billing-service', kind: 'client', roles: [], amr: [], authTime: clock.ms, scopes: [], refresh: false })).access_token);
    expect(again.jti).not.toBe(claims.jti);
  });

  it('imports each private key once, not per token', async () => {
    const clock = new TestClock();
    const identity = testIdentityDeps(kind, clock.now);
    open.push(identity);
    let privateReads = 0;
    const counted = new Proxy(identity.stores.identities, {
      get(target, property, receiver) {
        if (property === 'getSigningKeyPrivateJwk') {
          return (kid: string) => {
            privateReads++;
            return target.getSigningKeyPrivateJwk(kid);
          };
        }
        const value = Reflect.get(target, property, receiver) as unknown;
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    }) as IdentityStore;
    const issuer = await createTokenIssuer({ ...identity, stores: { ...identity.stores, identities: counted, close: identity.stores.close } });
    open.push(issuer);
    for (let i = 0; i < 5; i++) {
      await issuer.issue({ subject: 'svc', kind: 'client', roles: [], amr: [], authTime: clock.ms, scopes: [], refresh: false });
      clock.advance(1);
    }
    expect(privateReads).toBe(1);
  });

  it('rotates keys with overlap: the next key is published before it signs, the old one verifies until its tokens expire', async () => {
    const clock = new TestClock(Date.UTC(2030, 0, 1));
    const start = clock.ms;
    // rotateEvery 10 days, overlap 2 days: the next key is made on day 8 and signs from day 10.
    const { identity, issuer } = await setup(kind, clock, { signing: { alg: 'ES256', rotateEveryMs: 10 * DAY, overlapMs: 2 * DAY } });
    const kidOf = (token: string) => decodeProtectedHeader(token).kid;
    const issueOne = async () => (await issuer.issue({ subject: 'svc', kind: 'client', roles: [], amr: [], authTime: clock.ms, scopes: [], refresh: false })).access_token;
    const published = async () => (await issuer.jwks()).keys.map((key) => key.kid);

    const first = (await published())[0]!;
    expect(await published()).toEqual([first]);

    clock.ms = start + 7 * DAY;
    await issuer.rotateIfDue();
    expect(await published()).toEqual([first]);

    clock.ms = start + 8 * DAY;
    await issuer.rotateIfDue();
    const keysNow = await published();
    expect(keysNow).toHaveLength(2);
    const second = keysNow.find((kid) => kid !== first)!;
    // Published, but not signing yet.
    expect(kidOf(await issueOne())).toBe(first);
    const records = await identity.stores.identities.listSigningKeys();
    expect(records.find((r) => r.kid === second)!.activatedAt).toBe(start + 10 * DAY);

    clock.ms = start + 10 * DAY - 1000;
    const lastOfFirst = await issueOne();
    expect(kidOf(lastOfFirst)).toBe(first);

    // From its activation time on, the new key signs even before the hourly check retires the old one.
    clock.ms = start + 10 * DAY;
    expect(kidOf(await issueOne())).toBe(second);
    await issuer.rotateIfDue();
    const afterRetire = await identity.stores.identities.listSigningKeys();
    expect(afterRetire.find((r) => r.kid === first)!.retiredAt).toBe(start + 10 * DAY);
    expect(await published()).toEqual([first, second]);

    // The old key's last token still verifies against the published set until it expires.
    clock.ms = start + 10 * DAY + 9 * 60_000;
    await expect(verifyWithJwks(issuer, lastOfFirst, clock.ms)).resolves.toBeDefined();
    await issuer.rotateIfDue();
    expect(await published()).toEqual([first, second]);

    // accessTokenTtl after retirement: unpublished and deleted.
    clock.ms = start + 10 * DAY + 10 * 60_000;
    await issuer.rotateIfDue();
    expect(await published()).toEqual([second]);
    expect((await identity.stores.identities.listSigningKeys()).map((r) => r.kid)).toEqual([second]);
    await expect(verifyWithJwks(issuer, lastOfFirst, start + 10 * DAY)).rejects.toMatchObject({ code: 'ERR_JWKS_NO_MATCHING_KEY' });

    // And the cycle goes on: the third key is made 8 days after the second became active.
    clock.ms = start + 18 * DAY;
    await issuer.rotateIfDue();
    expect(await published()).toHaveLength(2);
  });

  it('publishes public keys only', async () => {
    const clock = new TestClock();
    const { issuer } = await setup(kind, clock);
    for (const key of (await issuer.jwks()).keys) {
      for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) expect(key).not.toHaveProperty(member);
      expect(key).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
    }
  });
});

describe.each(['EdDSA', 'RS256'] as const)('token issuer with %s keys', (alg) => {
  it('signs tokens that verify against its JWKS', async () => {
    const clock = new TestClock();
    const { issuer } = await setup('memory', clock, { signing: { alg, rotateEveryMs: 30 * DAY, overlapMs: DAY } });
    const { access_token: token } = await issuer.issue({ subject: 'svc', kind: 'client', roles: [], amr: [], authTime: clock.ms, scopes: ['a'], refresh: false });
    expect(decodeProtectedHeader(token).alg).toBe(alg);
    const verified = await verifyWithJwks(issuer, token, clock.ms);
    expect(verified.payload.scope).toBe('a');
  });
});

describe('at rest (SQLite file)', () => {
  it('holds neither refresh tokens nor private key material in plaintext', async () => {
    const clock = new TestClock();
    const { identity, issuer } = await setup('sqlite', clock);
    const response = await issuer.issue({ subject: 'usr_bob', kind: 'user', roles: [], amr: ['pwd'], authTime: clock.ms, scopes: [], refresh: true });
    const records = await identity.stores.identities.listSigningKeys();
    const privateJwk = await identity.stores.identities.getSigningKeyPrivateJwk(records[0]!.kid);
    const secretD = String(privateJwk!.d);
    await identity.stores.close();
    const dbDir = identity.dir!;
    const raw = Buffer.concat(readdirSync(dbDir).map((name) => readFileSync(join(dbDir, name))));
    expect(raw.includes(Buffer.from(records[0]!.kid))).toBe(true);
    expect(raw.includes(Buffer.from(response.refresh_token!))).toBe(false);
    expect(raw.includes(Buffer.from(secretD))).toBe(false);
    expect(raw.includes(Buffer.from(hashSecret(response.refresh_token!, identity.pepper)))).toBe(true);
  });
});
