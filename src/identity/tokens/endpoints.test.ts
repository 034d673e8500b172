import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalJWKSet, decodeJwt, jwtVerify } from 'jose';
import { hashSecret } from '../../crypto/hashing.ts';
import { TestClock } from '../../policies/jwt/test-harness.ts';
import { ACR_MFA } from '../types.ts';
import { jwksEndpoint, revocationEndpoint, tokenEndpoint } from './endpoints.ts';
import { createTokenIssuer, type RampartTokenIssuer } from './issuer.ts';
import { TEST_AUDIENCE, TEST_ISSUER, basicAuth, startEndpointServer, testIdentityConfig, testIdentityDeps, type TestIdentity, type TestServer } from './test-support.ts';

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
  readonly json: Record<string, unknown>;
}

const FORM = 'application/x-www-form-urlencoded';

/** A request with headers as [name, value] pairs (a header may repeat: one line per pair). */
function send(url: string, options: { method?: string; headers?: Array<[string, string]>; body?: string | Buffer } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const grouped = new Map<string, string[]>();
    for (const [name, value] of options.headers ?? []) grouped.set(name, [...(grouped.get(name) ?? []), value]);
    const req = request(url, { method: options.method ?? 'POST', agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: Record<string, unknown> = {};
        try {
          json = JSON.parse(text) as Record<string, unknown>;
        } catch {
          // not JSON (empty 200 of the revocation endpoint)
        }
        resolve({ status: res.statusCode!, headers: res.headers, text, json });
      });
      res.on('error', reject);
    });
    for (const [name, values] of grouped) req.setHeader(name, values.length === 1 ? values[0]! : values);
    // A server that answers before reading the whole body may reset the connection: the answer already arrived.
    req.on('error', (error) => (error as NodeJS.ErrnoException).code === 'ECONNRESET' || (error as NodeJS.ErrnoException).code === 'EPIPE' ? undefined : reject(error));
    req.end(options.body);
  });
}

function form(fields: Record<string, string> | Array<[string, string]>): string {
  return new URLSearchParams(fields).toString();
}

const BILLING_SECRET = 'billing-secret-with-256-bits-of-entropy-xyz';
const OTHER_SECRET = 'other-secret-with-256-bits-of-entropy-abcdef';

describe.each(['memory', 'sqlite'] as const)('OAuth endpoints (%s store)', (kind) => {
  const clock = new TestClock(Date.UTC(2030, 0, 1));
  let identity: TestIdentity;
  let issuer: RampartTokenIssuer;
  let server: TestServer;
  let tokenUrl: string;
  let revokeUrl: string;
  let userId: string;

  beforeAll(async () => {
    identity = testIdentityDeps(kind, clock.now);
    const ids = identity.stores.identities;
    await ids.createOAuthClient({ clientId: 'billing', secretHash: hashSecret(BILLING_SECRET, identity.pepper), name: 'Billing', roles: ['billing'], scopes: ['invoices:read', 'invoices:write'], tenant: 'acme', createdAt: clock.ms });
    await ids.createOAuthClient({ clientId: 'other', secretHash: hashSecret(OTHER_SECRET, identity.pepper), name: 'Other', roles: [], scopes: ['x'], createdAt: clock.ms });
    await ids.createOAuthClient({ clientId: 'retired', secretHash: hashSecret('retired-secret', identity.pepper), name: 'Retired', roles: [], scopes: [], disabled: true, createdAt: clock.ms });
    userId = (await ids.createUser({ username: 'alice', passwordHash: '$argon2id$v=19$m=19456,t=2,p=1$placeholder$placeholder', roles: ['reader'], tenant: 'acme', createdAt: clock.ms })).id;
    issuer = await createTokenIssuer(identity);
    server = await startEndpointServer({
      '/auth/token': tokenEndpoint(identity, issuer),
      '/auth/revoke': revocationEndpoint(identity),
      '/.well-known/jwks.json': jwksEndpoint(issuer),
    });
    tokenUrl = `${server.url}/auth/token`;
    revokeUrl = `${server.url}/auth/revoke`;
  });

  afterAll(async () => {
    await server?.close();
    await issuer?.close();
    await identity?.close();
  });

  async function verify(token: string) {
    const jwks = createLocalJWKSet((await issuer.jwks()) as unknown as Parameters<typeof createLocalJWKSet>[0]);
    return (await jwtVerify(token, jwks, { issuer: TEST_ISSUER, audience: TEST_AUDIENCE, typ: 'at+jwt', currentDate: new Date(clock.ms) })).payload;
  }

  const validBasic = () =>
    send(tokenUrl, { headers: [['content-type', FORM], ['authorization', basicAuth('billing', BILLING_SECRET)]], body: form({ grant_type: 'client_credentials' }) });

  async function expectValidStillWorks(): Promise<void> {
    const answer = await validBasic();
    expect(answer.status).toBe(200);
    expect(typeof answer.json.access_token).toBe('string');
  }

  async function userRefreshToken(options: { clientId?: string; scopes?: string[] } = {}): Promise<string> {
    const response = await issuer.issue({
      subject: userId,
      kind: 'user',
      roles: ['reader'],
      tenant: 'acme',
      amr: ['pwd', 'otp'],
      acr: ACR_MFA,
      authTime: clock.ms,
      scopes: options.scopes ?? ['profile', 'orders:read'],
      ...(options.clientId ? { clientId: options.clientId } : {}),
      refresh: true,
    });
    return response.refresh_token!;
  }

  const refresh = (token: string, extra: Record<string, string> = {}, headers: Array<[string, string]> = []) =>
    send(tokenUrl, { headers: [['content-type', FORM], ...headers], body: form({ grant_type: 'refresh_token', refresh_token: token, ...extra }) });

  describe('client_credentials', () => {
    it('issues an access token to a client authenticating with HTTP Basic (RFC 6749 §2.3.1)', async () => {
      const answer = await validBasic();
      expect(answer.status).toBe(200);
      expect(answer.headers['content-type']).toBe('application/json');
      expect(answer.headers['cache-control']).toBe('no-store');
      expect(answer.headers.pragma).toBe('no-cache');
      expect(Object.keys(answer.json).sort()).toEqual(['access_token', 'expires_in', 'scope', 'token_type']);
      expect(answer.json).toMatchObject({ token_type: 'Bearer', expires_in: 600, scope: 'invoices:read invoices:write' });
      const claims = await verify(answer.json.access_token as string);
      expect(claims).toMatchObject({ sub: 'billing', client_id: 'billing', roles: ['billing'], tenant: 'acme', scope: 'invoices:read invoices:write', amr: [] });
    });

    it('accepts client_secret_post and narrows to the requested scope', async () => {
      const answer = await send(tokenUrl, {
        headers: [['content-type', `${FORM}; charset=utf-8`]],
        body: form({ grant_type: 'client_credentials', client_id: 'billing', client_secret: BILLING_SECRET, scope: 'invoices:read' }),
      });
      expect(answer.status).toBe(200);
      expect(answer.json.scope).toBe('invoices:read');
      expect((await verify(answer.json.access_token as string)).scope).toBe('invoices:read');
    });

    it('decodes form-urlencoded Basic credentials', async () => {
      const secret = 'a secret:with+odd/chars%';
      await identity.stores.identities.createOAuthClient({ clientId: 'odd.client', secretHash: hashSecret(secret, identity.pepper), name: 'Odd', roles: [], scopes: [], createdAt: clock.ms });
      const answer = await send(tokenUrl, { headers: [['content-type', FORM], ['authorization', basicAuth('odd.client', secret)]], body: form({ grant_type: 'client_credentials' }) });
      expect(answer.status).toBe(200);
      expect(answer.json).not.toHaveProperty('scope');
    });

    it('ignores unrecognised parameters (RFC 6749 §3.2), including prototype names', async () => {
      const answer = await send(tokenUrl, {
        headers: [['content-type', FORM], ['authorization', basicAuth('billing', BILLING_SECRET)]],
        body: '__proto__=x&constructor=y&grant_type=client_credentials&audience=elsewhere',
      });
      expect(answer.status).toBe(200);
      expect((await verify(answer.json.access_token as string)).aud).toBe(TEST_AUDIENCE);
    });

    const basic = (id: string, secret: string): [string, string] => ['authorization', basicAuth(id, secret)];
    const hostile: Array<{ name: string; headers: Array<[string, string]>; body: string | Buffer; status: number; error: string }> = [
      { name: 'wrong secret (Basic)', headers: [['content-type', FORM], basic('billing', 'nope')], body: form({ grant_type: 'client_credentials' }), status: 401, error: 'invalid_client' },
      { name: 'wrong secret (post)', headers: [['content-type', FORM]], body: form({ grant_type: 'client_credentials', client_id: 'billing', client_secret: 'nope' }), status: 401, error: 'invalid_client' },
      { name: 'unknown client', headers: [['content-type', FORM], basic('ghost', BILLING_SECRET)], body: form({ grant_type: 'client_credentials' }), status: 401, error: 'invalid_client' },
      { name: 'disabled client with its right secret', headers: [['content-type', FORM], basic('retired', 'retired-secret')], body: form({ grant_type: 'client_credentials' }), status: 401, error: 'invalid_client' },
      { name: 'no client authentication', headers: [['content-type', FORM]], body: form({ grant_type: 'client_credentials' }), status: 401, error: 'invalid_client' },
      { name: 'public client id only', headers: [['content-type', FORM]], body: form({ grant_type: 'client_credentials', client_id: 'billing' }), status: 401, error: 'invalid_client' },
      { name: 'Basic and client_secret_post together', headers: [['content-type', FORM], basic('billing', BILLING_SECRET)], body: form({ grant_type: 'client_credentials', client_id: 'billing', client_secret: BILLING_SECRET }), status: 400, error: 'invalid_request' },
      { name: 'Basic with another client_id in the body', headers: [['content-type', FORM], basic('billing', BILLING_SECRET)], body: form({ grant_type: 'client_credentials', client_id: 'other' }), status: 400, error: 'invalid_request' },
      { name: 'client_secret without client_id', headers: [['content-type', FORM]], body: form({ grant_type: 'client_credentials', client_secret: BILLING_SECRET }), status: 400, error: 'invalid_request' },
      { name: 'two Authorization headers', headers: [['content-type', FORM], basic('billing', BILLING_SECRET), basic('billing', BILLING_SECRET)], body: form({ grant_type: 'client_credentials' }), status: 400, error: 'invalid_request' },
      { name: 'Basic that is not base64', headers: [['content-type', FORM], ['authorization', 'Basic %%%not-base64%%%']], body: form({ grant_type: 'client_credentials' }), status: 401, error: 'invalid_client' },
      { name: 'Basic without a colon', headers: [['content-type', FORM], ['authorization', `Basic ${Buffer.from('billing').toString('base64')}`]], body: form({ grant_type: 'client_credentials' }), status: 401, error: 'invalid_client' },
      { name: 'Basic with broken percent-encoding', headers: [['content-type', FORM], ['authorization', `Basic ${Buffer.from('billing:%E0%A4%A').toString('base64')}`]], body: form({ grant_type: 'client_credentials' }), status: 401, error: 'invalid_client' },
      { name: 'Bearer instead of Basic', headers: [['content-type', FORM], ['authorization', 'Bearer abc.def.ghi']], body: form({ grant_type: 'client_credentials' }), status: 401, error: 'invalid_client' },
      { name: 'repeated grant_type', headers: [['content-type', FORM], basic('billing', BILLING_SECRET)], body: 'grant_type=client_credentials&grant_type=client_credentials', status: 400, error: 'invalid_request' },
      { name: 'repeated scope', headers: [['content-type', FORM], basic('billing', BILLING_SECRET)], body: 'grant_type=client_credentials&scope=invoices:read&scope=invoices:write', status: 400, error: 'invalid_request' },
      { name: 'JSON instead of a form', headers: [['content-type', 'application/json'], basic('billing', BILLING_SECRET)], body: JSON.stringify({ grant_type: 'client_credentials' }), status: 400, error: 'invalid_request' },
      { name: 'no content type', headers: [basic('billing', BILLING_SECRET)], body: form({ grant_type: 'client_credentials' }), status: 400, error: 'invalid_request' },
      { name: 'multipart body', headers: [['content-type', 'multipart/form-data; boundary=x'], basic('billing', BILLING_SECRET)], body: '--x\r\nContent-Disposition: form-data; name="grant_type"\r\n\r\nclient_credentials\r\n--x--', status: 400, error: 'invalid_request' },
      { name: 'scope wider than the client\'s', headers: [['content-type', FORM], basic('billing', BILLING_SECRET)], body: form({ grant_type: 'client_credentials', scope: 'invoices:read admin' }), status: 400, error: 'invalid_scope' },
      { name: 'malformed scope (double space)', headers: [['content-type', FORM], basic('billing', BILLING_SECRET)], body: form({ grant_type: 'client_credentials', scope: 'invoices:read  invoices:write' }), status: 400, error: 'invalid_scope' },
      { name: 'malformed scope (quote)', headers: [['content-type', FORM], basic('billing', BILLING_SECRET)], body: form({ grant_type: 'client_credentials', scope: 'invoices:"read' }), status: 400, error: 'invalid_scope' },
      { name: 'empty scope', headers: [['content-type', FORM], basic('billing', BILLING_SECRET)], body: form({ grant_type: 'client_credentials', scope: '' }), status: 400, error: 'invalid_scope' },
      { name: 'missing grant_type', headers: [['content-type', FORM], basic('billing', BILLING_SECRET)], body: form({ scope: 'invoices:read' }), status: 400, error: 'invalid_request' },
      { name: 'empty body', headers: [['content-type', FORM], basic('billing', BILLING_SECRET)], body: '', status: 400, error: 'invalid_request' },
      { name: 'unsupported grant (password)', headers: [['content-type', FORM], basic('billing', BILLING_SECRET)], body: form({ grant_type: 'password', username: 'alice', password: 'x' }), status: 400, error: 'unsupported_grant_type' },
      { name: 'unsupported grant (authorization_code)', headers: [['content-type', FORM], basic('billing', BILLING_SECRET)], body: form({ grant_type: 'authorization_code', code: 'x' }), status: 400, error: 'unsupported_grant_type' },
      { name: 'body over maxBodySize', headers: [['content-type', FORM], basic('billing', BILLING_SECRET)], body: `grant_type=client_credentials&pad=${'a'.repeat(100_000)}`, status: 400, error: 'invalid_request' },
      { name: 'body that is not UTF-8', headers: [['content-type', FORM], basic('billing', BILLING_SECRET)], body: Buffer.concat([Buffer.from('grant_type=client_credentials&x='), Buffer.from([0xff, 0xfe])]), status: 400, error: 'invalid_request' },
    ];

    it.each(hostile)('refuses $name with an RFC 6749 $error, then serves a valid request', async ({ headers, body, status, error }) => {
      const answer = await send(tokenUrl, { headers, body });
      expect(answer.status).toBe(status);
      expect(answer.json).toEqual({ error });
      expect(answer.headers['content-type']).toBe('application/json');
      expect(answer.headers['cache-control']).toBe('no-store');
      if (error === 'invalid_client') expect(answer.headers['www-authenticate']).toBe('Basic realm="rampart"');
      else expect(answer.headers['www-authenticate']).toBeUndefined();
      await expectValidStillWorks();
    });

    it('gives unknown, disabled and wrong-secret clients one identical answer', async () => {
      const bodies = await Promise.all(
        [basicAuth('ghost', 'x'), basicAuth('retired', 'retired-secret'), basicAuth('other', 'wrong')].map((authorization) =>
          send(tokenUrl, { headers: [['content-type', FORM], ['authorization', authorization]], body: form({ grant_type: 'client_credentials' }) }),
        ),
      );
      const shapes = bodies.map((a) => ({ status: a.status, text: a.text, challenge: a.headers['www-authenticate'], length: a.headers['content-length'] }));
      expect(new Set(shapes.map((s) => JSON.stringify(s))).size).toBe(1);
      await expectValidStillWorks();
    });

    it('answers 405 to anything but POST', async () => {
      const answer = await send(tokenUrl, { method: 'GET' });
      expect(answer.status).toBe(405);
      expect(answer.headers.allow).toBe('POST');
    });
  });

  describe('refresh_token', () => {
    it('rotates: the new token works once; replaying a used one revokes the whole family and raises an event', async () => {
      const first = await userRefreshToken();
      const rotated = await refresh(first);
      expect(rotated.status).toBe(200);
      expect(Object.keys(rotated.json).sort()).toEqual(['access_token', 'expires_in', 'refresh_token', 'scope', 'token_type']);
      const second = rotated.json.refresh_token as string;
      expect(second).not.toBe(first);
      const claims = await verify(rotated.json.access_token as string);
      expect(claims).toMatchObject({ sub: userId, client_id: 'rampart', roles: ['reader'], tenant: 'acme', amr: ['pwd', 'otp'], acr: ACR_MFA, scope: 'profile orders:read' });
      const family = await identity.stores.sessions.findRefreshFamilyByToken(hashSecret(first, identity.pepper));
      expect(claims.sid).toBe(family!.id);

      const third = await refresh(second);
      expect(third.status).toBe(200);
      const current = third.json.refresh_token as string;

      const eventsBefore = identity.events.events.length;
      const replay = await refresh(second);
      expect(replay.status).toBe(400);
      expect(replay.json).toEqual({ error: 'invalid_grant' });
      // The legitimate holder's current token is dead too: the family is revoked (RFC 9700 §4.14.2).
      const afterReuse = await refresh(current);
      expect(afterReuse.json).toEqual({ error: 'invalid_grant' });
      expect((await identity.stores.sessions.getRefreshFamily(family!.id))!.revokedAt).not.toBeNull();
      const reuse = identity.events.events.slice(eventsBefore).filter((e) => e.type === 'auth.refresh-token-reuse');
      expect(reuse).toHaveLength(1);
      expect(reuse[0]).toMatchObject({ severity: 'high', details: { familyId: family!.id, subject: userId } });
      const serialized = JSON.stringify(reuse[0]);
      for (const token of [first, second, current]) expect(serialized).not.toContain(token);
    });

    it('lets the scope narrow but never widen, and a refused widening does not spend the token', async () => {
      const token = await userRefreshToken();
      const wider = await refresh(token, { scope: 'profile admin' });
      expect(wider.json).toEqual({ error: 'invalid_scope' });
      const narrower = await refresh(token, { scope: 'profile' });
      expect(narrower.status).toBe(200);
      expect(narrower.json.scope).toBe('profile');
      expect((await verify(narrower.json.access_token as string)).scope).toBe('profile');
      // The family keeps its grant: the next rotation may ask for the original scope again.
      const again = await refresh(narrower.json.refresh_token as string);
      expect(again.json.scope).toBe('profile orders:read');
    });

    it('refuses unknown, missing and absurd refresh tokens', async () => {
      expect((await refresh('never-issued-refresh-token')).json).toEqual({ error: 'invalid_grant' });
      expect((await refresh('x'.repeat(5000))).json).toEqual({ error: 'invalid_grant' });
      const missing = await send(tokenUrl, { headers: [['content-type', FORM]], body: form({ grant_type: 'refresh_token' }) });
      expect(missing.json).toEqual({ error: 'invalid_request' });
    });

    it('ends the family when the user changed their password after it was issued', async () => {
      const token = await userRefreshToken();
      const family = await identity.stores.sessions.findRefreshFamilyByToken(hashSecret(token, identity.pepper));
      clock.advance(60);
      await identity.stores.identities.setPasswordHash(userId, '$argon2id$v=19$m=19456,t=2,p=1$new$new', clock.ms);
      expect((await refresh(token)).json).toEqual({ error: 'invalid_grant' });
      expect((await identity.stores.sessions.getRefreshFamily(family!.id))!.revokedAt).toBe(clock.ms);
      // A family from a login after the change works.
      clock.advance(1);
      expect((await refresh(await userRefreshToken())).status).toBe(200);
    });

    it('ends the family of a disabled user', async () => {
      const token = await userRefreshToken();
      await identity.stores.identities.updateUser(userId, { disabled: true });
      try {
        expect((await refresh(token)).json).toEqual({ error: 'invalid_grant' });
      } finally {
        await identity.stores.identities.updateUser(userId, { disabled: false });
      }
      expect((await refresh(token)).json).toEqual({ error: 'invalid_grant' });
    });

    it('binds a registered client\'s refresh token to that client (RFC 6749 §6)', async () => {
      const token = await userRefreshToken({ clientId: 'billing' });
      const unauthenticated = await refresh(token);
      expect(unauthenticated.status).toBe(401);
      expect(unauthenticated.json).toEqual({ error: 'invalid_client' });
      const otherClient = await refresh(token, {}, [['authorization', basicAuth('other', OTHER_SECRET)]]);
      expect(otherClient.json).toEqual({ error: 'invalid_grant' });
      const owner = await refresh(token, {}, [['authorization', basicAuth('billing', BILLING_SECRET)]]);
      expect(owner.status).toBe(200);
      expect((await verify(owner.json.access_token as string)).client_id).toBe('billing');
    });

    it('ends the refresh family of a deleted client', async () => {
      await identity.stores.identities.createOAuthClient({ clientId: 'short-lived', secretHash: hashSecret('sl-secret', identity.pepper), name: 'SL', roles: [], scopes: [], createdAt: clock.ms });
      const token = await userRefreshToken({ clientId: 'short-lived' });
      await identity.stores.identities.deleteOAuthClient('short-lived');
      expect((await refresh(token)).json).toEqual({ error: 'invalid_grant' });
      const family = await identity.stores.sessions.findRefreshFamilyByToken(hashSecret(token, identity.pepper));
      expect(family!.revokedReason).toBe('client deleted');
    });
  });

  describe('revocation (RFC 7009)', () => {
    const revoke = (fields: Record<string, string>, headers: Array<[string, string]> = []) =>
      send(revokeUrl, { headers: [['content-type', FORM], ...headers], body: form(fields) });

    it('revokes a first-party refresh token without client authentication, and its whole family', async () => {
      const token = await userRefreshToken();
      const rotated = await refresh(token);
      const current = rotated.json.refresh_token as string;
      const answer = await revoke({ token: current, token_type_hint: 'refresh_token' });
      expect(answer.status).toBe(200);
      expect(answer.headers['cache-control']).toBe('no-store');
      expect((await refresh(current)).json).toEqual({ error: 'invalid_grant' });
      const family = await identity.stores.sessions.findRefreshFamilyByToken(hashSecret(current, identity.pepper));
      expect(family!.revokedAt).not.toBeNull();
    });

    it('puts a verified access token\'s jti on the deny list until its exp, whatever the hint says', async () => {
      const { access_token: token } = await issuer.issue({ subject: userId, kind: 'user', roles: [], amr: ['pwd'], authTime: clock.ms, scopes: [], refresh: false });
      const { jti, exp } = decodeJwt(token);
      expect(await identity.stores.sessions.isAccessTokenRevoked(jti!)).toBe(false);
      expect((await revoke({ token, token_type_hint: 'refresh_token' })).status).toBe(200);
      expect(await identity.stores.sessions.isAccessTokenRevoked(jti!)).toBe(true);
      // Kept until the token's own expiry, then purged.
      await identity.stores.sessions.purgeExpired(exp! * 1000 - 1);
      expect(await identity.stores.sessions.isAccessTokenRevoked(jti!)).toBe(true);
      await identity.stores.sessions.purgeExpired(exp! * 1000 + 1);
      expect(await identity.stores.sessions.isAccessTokenRevoked(jti!)).toBe(false);
    });

    it('requires the owning client\'s authentication for a client\'s token', async () => {
      const token = (await validBasic()).json.access_token as string;
      const { jti } = decodeJwt(token);
      const anonymous = await revoke({ token });
      expect(anonymous.status).toBe(401);
      expect(anonymous.json).toEqual({ error: 'invalid_client' });
      const wrongSecret = await revoke({ token }, [['authorization', basicAuth('billing', 'wrong')]]);
      expect(wrongSecret.status).toBe(401);
      // Another client: 200 (no oracle), and nothing is revoked.
      expect((await revoke({ token }, [['authorization', basicAuth('other', OTHER_SECRET)]])).status).toBe(200);
      expect(await identity.stores.sessions.isAccessTokenRevoked(jti!)).toBe(false);
      expect((await revoke({ token, client_id: 'billing', client_secret: BILLING_SECRET })).status).toBe(200);
      expect(await identity.stores.sessions.isAccessTokenRevoked(jti!)).toBe(true);
    });

    it('answers 200 for unknown, foreign, expired and malformed tokens (RFC 7009 §2.2)', async () => {
      const expired = (await validBasic()).json.access_token as string;
      clock.advance(601);
      for (const token of ['never-issued', 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.', expired, 'a.b.c', 'x'.repeat(5000), `eyJ${'a'.repeat(3000)}.b.c`]) {
        const answer = await revoke({ token }, [['authorization', basicAuth('billing', BILLING_SECRET)]]);
        expect(answer.status).toBe(200);
      }
      expect(await identity.stores.sessions.isAccessTokenRevoked(decodeJwt(expired).jti!)).toBe(false);
    });

    it('refuses a request without a token, or with a repeated one', async () => {
      expect((await revoke({})).json).toEqual({ error: 'invalid_request' });
      const repeated = await send(revokeUrl, { headers: [['content-type', FORM]], body: 'token=a&token=b' });
      expect(repeated.json).toEqual({ error: 'invalid_request' });
    });
  });

  describe('JWKS', () => {
    it('publishes the keys with a 5-minute public cache lifetime', async () => {
      const answer = await send(`${server.url}/.well-known/jwks.json`, { method: 'GET' });
      expect(answer.status).toBe(200);
      expect(answer.headers['cache-control']).toBe('public, max-age=300');
      expect(answer.headers['content-type']).toBe('application/jwk-set+json');
      expect(answer.json).toEqual(await issuer.jwks());
      expect((await send(`${server.url}/.well-known/jwks.json`, { method: 'POST' })).status).toBe(405);
    });
  });
});

describe('brute force against client authentication', () => {
  const clock = new TestClock(Date.UTC(2030, 0, 1));
  let identity: TestIdentity;
  let server: TestServer;
  let issuer: RampartTokenIssuer;

  beforeAll(async () => {
    identity = testIdentityDeps('memory', clock.now, testIdentityConfig({ bruteForce: { windowMs: 900_000, maxFailuresPerAccount: 3, maxFailuresPerAddress: 6, lockForMs: 600_000 } }));
    for (const clientId of ['target', 'bystander']) {
      await identity.stores.identities.createOAuthClient({ clientId, secretHash: hashSecret(`${clientId}-secret`, identity.pepper), name: clientId, roles: [], scopes: [], createdAt: clock.ms });
    }
    issuer = await createTokenIssuer(identity);
    server = await startEndpointServer({ '/token': tokenEndpoint(identity, issuer) });
  });
  afterAll(async () => {
    await server?.close();
    await issuer?.close();
    await identity?.close();
  });

  const attempt = (clientId: string, secret: string) =>
    send(`${server.url}/token`, { headers: [['content-type', FORM], ['authorization', basicAuth(clientId, secret)]], body: form({ grant_type: 'client_credentials' }) });
  const lockouts = () => identity.events.events.filter((e) => e.type === 'auth.brute-force-lockout');

  it('locks a client_id after maxFailuresPerAccount, answers invalid_client even to the right secret, once per lock', async () => {
    for (let i = 0; i < 3; i++) expect((await attempt('target', 'guess')).status).toBe(401);
    expect(lockouts()).toHaveLength(1);
    expect(lockouts()[0]).toMatchObject({ details: { target: 'oauth-client', scope: 'client_id', clientId: 'target' } });
    const locked = await attempt('target', 'target-secret');
    expect(locked.status).toBe(401);
    expect(locked.json).toEqual({ error: 'invalid_client' });
    await attempt('target', 'guess');
    expect(lockouts()).toHaveLength(1);
    // Another client from the same address is not locked by the client_id lock.
    expect((await attempt('bystander', 'bystander-secret')).status).toBe(200);
    clock.advance(601);
    expect((await attempt('target', 'target-secret')).status).toBe(200);
  });

  it('locks an address after maxFailuresPerAddress across client ids', async () => {
    clock.advance(1000);
    for (const id of ['a1', 'a2', 'a3', 'a4', 'a5', 'a6']) await attempt(id, 'guess');
    const byAddress = lockouts().filter((e) => (e.details as { scope: string }).scope === 'address');
    expect(byAddress).toHaveLength(1);
    expect((await attempt('bystander', 'bystander-secret')).status).toBe(401);
    clock.advance(601);
    expect((await attempt('bystander', 'bystander-secret')).status).toBe(200);
  });
});
