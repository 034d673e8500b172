import { request } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT, decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import { createTokenIssuer, type RampartTokenIssuer } from '../../identity/tokens/issuer.ts';
import { TEST_AUDIENCE, TEST_ISSUER, startProtectedServer, testIdentityDeps, type TestIdentity, type TestServer } from '../../identity/tokens/test-support.ts';
import { ACR_MFA } from '../../identity/types.ts';
import { principalHasMfa } from '../jwt/principal.ts';
import { TestClock, policyDeps } from '../jwt/test-harness.ts';
import type { PolicyHandlers, RequestContext } from '../types.ts';
import { NOT_RESPONSIBLE } from '../types.ts';
import { RECHECK_MS, createIdentityTokenHandlers, identityTokenPolicy } from './index.ts';

interface Answer {
  readonly status: number;
  readonly challenge: string | undefined;
  readonly json: Record<string, unknown>;
}

function call(url: string, headers: Array<[string, string]>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const grouped = new Map<string, string[]>();
    for (const [name, value] of headers) grouped.set(name, [...(grouped.get(name) ?? []), value]);
    const req = request(url, { method: 'GET', agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const challenge = res.headers['www-authenticate'];
        resolve({ status: res.statusCode!, challenge: Array.isArray(challenge) ? challenge.join(', ') : challenge, json: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown> });
      });
      res.on('error', reject);
    });
    for (const [name, values] of grouped) req.setHeader(name, values.length === 1 ? values[0]! : values);
    req.on('error', reject);
    req.end();
  });
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** A request context for calling onRequest directly (to see whether an answer was synchronous). */
function directContext(token: string): RequestContext {
  const req = { headers: { authorization: `Bearer ${token}` }, rawHeaders: ['Authorization', `Bearer ${token}`] } as unknown as IncomingMessage;
  return { req, requestId: 'r', method: 'GET', path: '/', query: '', clientAddress: '127.0.0.1', secure: false, routeId: 't', params: {}, principal: undefined, responseHeaders: [], locals: {} };
}

describe.each(['memory', 'sqlite'] as const)('identity-token policy (%s store)', (kind) => {
  const clock = new TestClock(Date.UTC(2030, 0, 1) + 500);
  let identity: TestIdentity;
  let issuer: RampartTokenIssuer;
  let handlers: PolicyHandlers;
  let server: TestServer;
  let url: string;
  let userId: string;
  let deps: ReturnType<typeof policyDeps>;

  beforeAll(async () => {
    identity = testIdentityDeps(kind, clock.now);
    userId = (await identity.stores.identities.createUser({ username: 'alice', passwordHash: '$argon2id$placeholder', roles: ['reader'], tenant: 'acme', createdAt: clock.ms })).id;
    await identity.stores.identities.createOAuthClient({ clientId: 'svc', secretHash: 'h'.repeat(64), name: 'svc', roles: ['robot'], scopes: ['jobs:run'], createdAt: clock.ms });
    issuer = await createTokenIssuer(identity);
    deps = { ...policyDeps(), stores: identity.stores } as ReturnType<typeof policyDeps>;
    handlers = await createIdentityTokenHandlers(
      { issuer: TEST_ISSUER, audience: TEST_AUDIENCE, realm: 'api', allowRevokedCheck: true, clockSkew: 5, maxTokenBytes: 8192 },
      deps,
      { now: clock.now },
    );
    server = await startProtectedServer(handlers);
    url = `${server.url}/orders`;
  });

  afterAll(async () => {
    await server?.close();
    await deps?.shared.close();
    await issuer?.close();
    await identity?.close();
  });

  const userToken = async (overrides: { refresh?: boolean } = {}) =>
    issuer.issue({ subject: userId, kind: 'user', roles: ['reader'], tenant: 'acme', amr: ['pwd', 'otp'], acr: ACR_MFA, authTime: clock.ms - 2000, scopes: ['orders:read'], refresh: overrides.refresh ?? false });
  const clientToken = async () =>
    (await issuer.issue({ subject: 'svc', kind: 'client', roles: ['robot'], amr: [], authTime: clock.ms, scopes: ['jobs:run'], clientId: 'svc', refresh: false })).access_token;
  const bearer = (token: string): Array<[string, string]> => [['authorization', `Bearer ${token}`]];

  /** Signs with the gateway's current private key, so only the property under test is wrong. */
  async function signWithOurKey(claims: Record<string, unknown>, header: Record<string, unknown> = {}): Promise<string> {
    const records = await identity.stores.identities.listSigningKeys();
    const record = records.at(-1)!;
    const key = await importJWK((await identity.stores.identities.getSigningKeyPrivateJwk(record.kid)) as JWK, record.alg);
    const iat = Math.floor(clock.ms / 1000);
    return new SignJWT({ iss: TEST_ISSUER, aud: TEST_AUDIENCE, sub: userId, client_id: 'rampart', iat, nbf: iat, exp: iat + 600, jti: `j-${Math.random()}`, roles: [], ...claims })
      .setProtectedHeader({ alg: record.alg, kid: record.kid, typ: 'at+jwt', ...header })
      .sign(key);
  }

  /** Signs a header jose would refuse to produce (unknown crit), with our ES256 key through WebCrypto. */
  async function signRawWithOurKey(header: Record<string, unknown>, claims: Record<string, unknown>): Promise<string> {
    const record = (await identity.stores.identities.listSigningKeys()).at(-1)!;
    const key = (await importJWK((await identity.stores.identities.getSigningKeyPrivateJwk(record.kid)) as JWK, 'ES256')) as CryptoKey;
    const input = `${b64({ alg: 'ES256', kid: record.kid, typ: 'at+jwt', ...header })}.${b64(claims)}`;
    const signature = await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, key, new TextEncoder().encode(input));
    return `${input}.${Buffer.from(signature).toString('base64url')}`;
  }

  async function signWithForeignKey(claims: Record<string, unknown>, kid = 'foreign-key'): Promise<string> {
    const { privateKey } = await generateKeyPair('ES256');
    const iat = Math.floor(clock.ms / 1000);
    return new SignJWT({ aud: TEST_AUDIENCE, sub: userId, client_id: 'rampart', iat, exp: iat + 600, jti: 'foreign', ...claims })
      .setProtectedHeader({ alg: 'ES256', kid, typ: 'at+jwt' })
      .sign(privateKey);
  }

  async function expectValidStillWorks(): Promise<void> {
    const answer = await call(url, bearer((await userToken()).access_token));
    expect(answer.status).toBe(200);
  }

  it('authenticates a user token: principal with kind, roles, tenant, amr, permissions, acr and auth_time', async () => {
    const { access_token: token } = await userToken();
    const answer = await call(url, bearer(token));
    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({ subject: userId, kind: 'user', method: 'identity-token', roles: ['reader'], tenant: 'acme', amr: ['pwd', 'otp'], permissions: ['orders:read'] });
    expect(answer.json.claims).toMatchObject({ acr: ACR_MFA, auth_time: Math.floor((clock.ms - 2000) / 1000), client_id: 'rampart' });
  });

  it('authenticates a client token as kind client, and marks MFA from acr', async () => {
    const answer = await call(url, bearer(await clientToken()));
    expect(answer.json).toMatchObject({ subject: 'svc', kind: 'client', method: 'identity-token', roles: ['robot'], permissions: ['jobs:run'] });

    const ctx = directContext((await userToken()).access_token);
    await handlers.onRequest!(ctx);
    expect(principalHasMfa(ctx.principal!)).toBe(true);
  });

  it('answers a known token synchronously from the cache until its checks are RECHECK_MS old', async () => {
    const { access_token: token } = await userToken();
    const first = handlers.onRequest!(directContext(token));
    expect(first).toBeInstanceOf(Promise);
    expect(await first).toBeUndefined();
    const ctx = directContext(token);
    expect(handlers.onRequest!(ctx)).toBeUndefined();
    expect(ctx.principal?.subject).toBe(userId);
    clock.ms += RECHECK_MS;
    const recheck = handlers.onRequest!(directContext(token));
    expect(recheck).toBeInstanceOf(Promise);
    expect(await recheck).toBeUndefined();
  });

  it('claims only its own tokens: a well-formed token of another issuer is NOT_RESPONSIBLE', async () => {
    const foreign = await signWithForeignKey({ iss: 'https://idp.example.com' });
    expect(handlers.hasCredential!(directContext(foreign))).toBe(false);
    expect(await handlers.onRequest!(directContext(foreign))).toBe(NOT_RESPONSIBLE);
    // Served alone on a route, the pipeline answers 401 with the challenge.
    const answer = await call(url, bearer(foreign));
    expect(answer.status).toBe(401);
    expect(answer.challenge).toBe('Bearer realm="api"');
    expect(handlers.hasCredential!(directContext((await userToken()).access_token))).toBe(true);
    expect(handlers.onRequest!({ ...directContext('x'), req: { headers: {}, rawHeaders: [] } as unknown as IncomingMessage })).toBe(NOT_RESPONSIBLE);
    expect(handlers.onRequest!(directContext('opaque-token-without-dots'))).toBe(NOT_RESPONSIBLE);
  });

  const hostile: Array<{ name: string; make: () => Promise<string> }> = [
    { name: 'our issuer, signed by a foreign key', make: () => signWithForeignKey({ iss: TEST_ISSUER }) },
    { name: 'another issuer\'s iss, signed with our key', make: () => signWithOurKey({ iss: 'https://idp.example.com' }) },
    { name: 'wrong audience', make: () => signWithOurKey({ aud: 'another-api' }) },
    { name: 'audience array without ours', make: () => signWithOurKey({ aud: ['a', 'b'] }) },
    { name: 'expired', make: () => signWithOurKey({ exp: Math.floor(clock.ms / 1000) - 60 }) },
    { name: 'nbf in the future', make: () => signWithOurKey({ nbf: Math.floor(clock.ms / 1000) + 120 }) },
    { name: 'iat in the future', make: () => signWithOurKey({ iat: Math.floor(clock.ms / 1000) + 120 }) },
    { name: 'no exp', make: () => signWithOurKey({ exp: undefined }) },
    { name: 'no jti', make: () => signWithOurKey({ jti: undefined }) },
    { name: 'no client_id', make: () => signWithOurKey({ client_id: undefined }) },
    { name: 'typ JWT instead of at+jwt', make: () => signWithOurKey({}, { typ: 'JWT' }) },
    { name: 'jku header', make: () => signWithOurKey({}, { jku: 'https://evil.example/jwks' }) },
    {
      name: 'crit with an unknown extension',
      make: () => {
        const iat = Math.floor(clock.ms / 1000);
        return signRawWithOurKey({ crit: ['x-evil'], 'x-evil': 1 }, { iss: TEST_ISSUER, aud: TEST_AUDIENCE, sub: userId, client_id: 'rampart', iat, exp: iat + 600, jti: 'crit' });
      },
    },
    { name: 'roles with a CR/LF', make: () => signWithOurKey({ roles: ['a\r\nx-admin: 1'] }) },
    {
      name: 'alg none with our kid',
      make: async () => `${b64({ alg: 'none', kid: (await issuer.jwks()).keys[0]!.kid, typ: 'at+jwt' })}.${b64({ iss: TEST_ISSUER, sub: userId })}.`,
    },
    {
      name: 'HS256 signed with our public key',
      make: async () => {
        const jwk = (await issuer.jwks()).keys[0]!;
        const secret = new TextEncoder().encode(JSON.stringify(jwk));
        const iat = Math.floor(clock.ms / 1000);
        return new SignJWT({ iss: TEST_ISSUER, aud: TEST_AUDIENCE, sub: userId, client_id: 'rampart', iat, exp: iat + 600, jti: 'hs' })
          .setProtectedHeader({ alg: 'HS256', kid: jwk.kid as string, typ: 'at+jwt' })
          .sign(secret);
      },
    },
    {
      name: 'tampered payload (roles widened)',
      make: async () => {
        const [header, payload, signature] = (await userToken()).access_token.split('.');
        const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as Record<string, unknown>;
        return `${header}.${b64({ ...claims, roles: ['admin'] })}.${signature}`;
      },
    },
    {
      name: 'duplicate alg header member',
      make: async () => {
        const [, payload, signature] = (await userToken()).access_token.split('.');
        const kid = (await issuer.jwks()).keys[0]!.kid as string;
        return `${Buffer.from(`{"alg":"ES256","kid":"${kid}","typ":"at+jwt","alg":"none"}`).toString('base64url')}.${payload}.${signature}`;
      },
    },
    { name: 'invalid base64url', make: async () => 'eyJhbGciOiJFUzI1NiJ9.!!!.abc' },
    { name: 'header JSON bomb', make: async () => `${Buffer.from('{"a":'.repeat(50) + '1' + '}'.repeat(50)).toString('base64url')}.e30.c2ln` },
    { name: 'token over 8 KB', make: async () => `eyJ${'a'.repeat(9000)}.e30.c2ln` },
    { name: 'empty bearer', make: async () => '' },
  ];

  it.each(hostile)('refuses $name with 401 invalid_token, then serves a valid token', async ({ make }) => {
    const token = await make();
    const answer = await call(url, [['authorization', token === '' ? 'Bearer' : `Bearer ${token}`]]);
    expect(answer.status).toBe(401);
    expect(answer.challenge).toBe('Bearer realm="api", error="invalid_token"');
    expect(answer.json.code).toBe('RAMPART_ERR_INVALID_CREDENTIAL');
    await expectValidStillWorks();
  });

  it('accepts the raw-signed control token (so the crit case fails on crit alone)', async () => {
    const iat = Math.floor(clock.ms / 1000);
    const token = await signRawWithOurKey({}, { iss: TEST_ISSUER, aud: TEST_AUDIENCE, sub: userId, client_id: 'rampart', iat, exp: iat + 600, jti: 'control' });
    expect((await call(url, bearer(token))).status).toBe(200);
  });

  it('refuses two Authorization headers and a token in the query string with 400 invalid_request', async () => {
    const { access_token: token } = await userToken();
    const twice = await call(url, [...bearer(token), ...bearer(token)]);
    expect(twice.status).toBe(400);
    expect(twice.challenge).toBe('Bearer error="invalid_request"');
    const query = await call(`${url}?access_token=${token}`, []);
    expect(query.status).toBe(400);
    await expectValidStillWorks();
  });

  it('refuses a revoked jti: at once when not cached, within RECHECK_MS when it was', async () => {
    const cached = (await userToken()).access_token;
    const fresh = (await userToken()).access_token;
    expect((await call(url, bearer(cached))).status).toBe(200);
    for (const token of [cached, fresh]) {
      const { jti, exp } = decodeJwt(token);
      await identity.stores.sessions.revokeAccessToken(jti!, exp! * 1000);
    }
    expect((await call(url, bearer(fresh))).status).toBe(401);
    // The documented latency: the cached "not revoked" answer is reused for at most RECHECK_MS.
    expect((await call(url, bearer(cached))).status).toBe(200);
    clock.ms += RECHECK_MS;
    const refused = await call(url, bearer(cached));
    expect(refused.status).toBe(401);
    expect(refused.challenge).toContain('invalid_token');
    await expectValidStillWorks();
  });

  it('refuses the access tokens of a revoked refresh family (logout, reuse detection)', async () => {
    const response = await userToken({ refresh: true });
    expect((await call(url, bearer(response.access_token))).status).toBe(200);
    const sid = decodeJwt(response.access_token).sid as string;
    await identity.stores.sessions.revokeRefreshFamily(sid, clock.ms, 'logout');
    clock.ms += RECHECK_MS;
    expect((await call(url, bearer(response.access_token))).status).toBe(401);
    await expectValidStillWorks();
  });

  it('refuses tokens issued before the user\'s password change, and accepts those issued after', async () => {
    const before = (await userToken()).access_token;
    const sameSecond = async () => (await userToken()).access_token;
    expect((await call(url, bearer(before))).status).toBe(200);
    clock.ms += 1000;
    await identity.stores.identities.setPasswordHash(userId, '$argon2id$changed', clock.ms + 300);
    const inSameSecond = await sameSecond();
    clock.ms += RECHECK_MS;
    expect((await call(url, bearer(before))).status).toBe(401);
    // Issued in the very second of the change: it may predate it, so it is refused too (see index.ts).
    expect((await call(url, bearer(inSameSecond))).status).toBe(401);
    clock.ms += 1000;
    const after = (await userToken()).access_token;
    expect((await call(url, bearer(after))).status).toBe(200);
  });

  it('refuses tokens of disabled users and disabled clients', async () => {
    const user = (await userToken()).access_token;
    const client = await clientToken();
    expect((await call(url, bearer(user))).status).toBe(200);
    expect((await call(url, bearer(client))).status).toBe(200);
    await identity.stores.identities.updateUser(userId, { disabled: true });
    await identity.stores.identities.updateOAuthClient('svc', { disabled: true });
    clock.ms += RECHECK_MS;
    try {
      expect((await call(url, bearer(user))).status).toBe(401);
      expect((await call(url, bearer(client))).status).toBe(401);
    } finally {
      await identity.stores.identities.updateUser(userId, { disabled: false });
      await identity.stores.identities.updateOAuthClient('svc', { disabled: false });
    }
  });

  it('refuses tokens signed by a key deleted from the store, cached or not', async () => {
    clock.ms += 60_000;
    const cached = (await userToken()).access_token;
    const fresh = (await userToken()).access_token;
    expect((await call(url, bearer(cached))).status).toBe(200);
    const kid = decodeProtectedHeader(cached).kid!;
    await identity.stores.identities.deleteSigningKey(kid);
    // Within the key refresh interval (30 s) plus RECHECK_MS.
    clock.ms += 35_000;
    expect((await call(url, bearer(cached))).status).toBe(401);
    expect((await call(url, bearer(fresh))).status).toBe(401);
    // The issuer makes a new key; its tokens are accepted.
    await issuer.rotateIfDue();
    clock.ms += 61_000;
    const next = (await userToken()).access_token;
    expect(decodeProtectedHeader(next).kid).not.toBe(kid);
    expect((await call(url, bearer(next))).status).toBe(200);
  });

  it('accepts tokens signed by a key another node added after start (unknown kid → one store read)', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const publicJwk = await exportJWK(publicKey);
    await identity.stores.identities.addSigningKey({ kid: 'node-2-key', alg: 'ES256', publicJwk: { ...publicJwk, kid: 'node-2-key' }, privateJwk: { ...(await exportJWK(privateKey)) }, createdAt: clock.ms, activatedAt: clock.ms });
    clock.ms += 2000;
    const iat = Math.floor(clock.ms / 1000);
    const token = await new SignJWT({ iss: TEST_ISSUER, aud: TEST_AUDIENCE, sub: userId, client_id: 'rampart', iat, exp: iat + 600, jti: 'n2', roles: [] })
      .setProtectedHeader({ alg: 'ES256', kid: 'node-2-key', typ: 'at+jwt' })
      .sign(privateKey);
    expect((await call(url, bearer(token))).status).toBe(200);
  });
});

describe('identity-token definition', () => {
  it('is an authenticator in the authenticate phase, before jwt, that needs the stores', () => {
    expect(identityTokenPolicy).toMatchObject({ name: 'identity-token', phase: 'authenticate', order: 5, authenticates: true, requiresStores: true });
    expect(identityTokenPolicy.schema.required).toEqual(['issuer', 'audience']);
    expect(identityTokenPolicy.check!({ issuer: 'i', audience: 'a', realm: 'r', allowRevokedCheck: false, clockSkew: 5, maxTokenBytes: 8192 }, 'routes[0].identity-token', { id: 'x', public: false, methods: undefined, tls: true })).toHaveLength(1);
  });

  it('refuses to start without stores', async () => {
    await expect(createIdentityTokenHandlers({ issuer: 'i', audience: 'a', realm: 'r', allowRevokedCheck: true, clockSkew: 5, maxTokenBytes: 8192 }, policyDeps())).rejects.toThrow(/stores/);
  });
});
