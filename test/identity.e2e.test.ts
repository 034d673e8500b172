/**
 * The built-in identity provider through the running gateway (issue 3): password login, access tokens accepted by
 * the identity-token policy, refresh rotation with reuse detection, TOTP enrolment and MFA login, step-up for a
 * sensitive method (RFC 9470), client credentials, revocation, and the JWKS.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { startRecordingUpstream, startTestGateway, loadTestConfig, type RecordingUpstream, type TestGateway } from './helpers.ts';
import { openConfiguredStores, type ConfiguredStores } from '../src/storage/configured.ts';
import { hashPassword } from '../src/crypto/passwords.ts';
import { hashSecret } from '../src/crypto/hashing.ts';
import { decodeTotpSecret, generateTotpCode } from '../src/identity/mfa/totp.ts';

const DOC = {
  storage: 'memory:',
  identity: { issuer: 'https://rampart.test', accessTokenTtl: '10m' },
  routes: [
    { id: 'auth', match: { path: '/auth/**' }, upstream: 'rampart:identity', public: true },
    { id: 'jwks', match: { path: '/.well-known/jwks.json', methods: ['GET'] }, upstream: 'rampart:identity', public: true },
    { id: 'orders', match: { path: '/orders/**' }, upstream: 'UPSTREAM', authenticate: ['identity-token'] },
    { id: 'secure', match: { path: '/secure/**' }, upstream: 'UPSTREAM', authenticate: ['identity-token'], sensitivity: 'sensitive', mfa: { require: false, stepUpFor: ['DELETE'], maxAge: '5m' } },
    { id: 'signed', match: { path: '/signed/**' }, upstream: 'UPSTREAM', authenticate: ['identity-token'], forwardIdentity: { as: 'jwt', audience: 'orders-service' } },
  ],
};

describe('built-in identity through the gateway', () => {
  let upstream: RecordingUpstream;
  let gw: TestGateway;
  let stores: ConfiguredStores;
  const password = 'correct horse battery staple 42';

  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${gw.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const form = (path: string, fields: Record<string, string>, headers: Record<string, string> = {}) =>
    fetch(`${gw.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams(fields).toString(),
    });

  beforeAll(async () => {
    upstream = await startRecordingUpstream();
    const doc = JSON.parse(JSON.stringify(DOC).replaceAll('UPSTREAM', upstream.url)) as Record<string, unknown>;
    stores = await openConfiguredStores(loadTestConfig(doc));
    const now = Date.now();
    await stores.stores.identities.createUser({ username: 'alice', passwordHash: await hashPassword(password), roles: ['customer'], createdAt: now });
    await stores.stores.identities.createOAuthClient({
      clientId: 'billing-job',
      secretHash: hashSecret('billing-secret-0123456789abcdef', stores.pepper),
      name: 'billing',
      roles: ['billing'],
      scopes: ['orders:read'],
      createdAt: now,
    });
    gw = await startTestGateway(doc, { stores });
  });

  afterAll(async () => {
    await gw?.close();
    await stores?.stores.close();
    await upstream?.close();
  });

  it('logs in with a password and calls a protected route with the access token', async () => {
    const wrong = await post('/auth/login', { username: 'alice', password: 'not the password at all' });
    expect(wrong.status).toBe(401);
    const unknown = await post('/auth/login', { username: 'mallory', password: 'not the password at all' });
    expect(unknown.status).toBe(401);
    expect(await unknown.json()).toMatchObject({ code: (await wrong.json() as { code: string }).code });

    const res = await post('/auth/login', { username: 'alice', password });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const tokens = (await res.json()) as { access_token: string; refresh_token: string; token_type: string; expires_in: number };
    expect(tokens.token_type).toBe('Bearer');
    expect(tokens.expires_in).toBe(600);
    expect(decodeProtectedHeader(tokens.access_token)).toMatchObject({ alg: 'ES256', typ: 'at+jwt' });
    expect(decodeJwt(tokens.access_token)).toMatchObject({ iss: 'https://rampart.test', aud: 'rampart', amr: ['pwd'] });

    expect((await fetch(`${gw.url}/orders/1`)).status).toBe(401);
    const call = await fetch(`${gw.url}/orders/1`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(call.status).toBe(200);
    const seen = upstream.seen.at(-1)!;
    expect(seen.headers['x-rampart-auth-method']).toBe('identity-token');
    expect(seen.headers['x-rampart-roles']).toBe('customer');
  });

  it('rotates refresh tokens and revokes the whole family when a used one comes back (RFC 9700)', async () => {
    const login = (await (await post('/auth/login', { username: 'alice', password })).json()) as { refresh_token: string };
    const first = await form('/auth/token', { grant_type: 'refresh_token', refresh_token: login.refresh_token });
    expect(first.status).toBe(200);
    const rotated = (await first.json()) as { refresh_token: string; access_token: string };
    expect(rotated.refresh_token).not.toBe(login.refresh_token);
    const reuse = await form('/auth/token', { grant_type: 'refresh_token', refresh_token: login.refresh_token });
    expect(reuse.status).toBe(400);
    expect(await reuse.json()).toEqual({ error: 'invalid_grant' });
    const afterReuse = await form('/auth/token', { grant_type: 'refresh_token', refresh_token: rotated.refresh_token });
    expect(afterReuse.status).toBe(400);
    expect(gw.events.events.some((e) => e.type === 'auth.refresh-token-reuse')).toBe(true);
  });

  it('enrols TOTP, then requires it at login, and demands step-up for DELETE on a sensitive route', async () => {
    const first = (await (await post('/auth/login', { username: 'alice', password })).json()) as { access_token: string };
    const bearer = { authorization: `Bearer ${first.access_token}` };
    const enrol = await post('/auth/mfa/totp/enroll', {}, bearer);
    expect(enrol.status).toBe(200);
    const { otpauth_uri, qr_code } = (await enrol.json()) as { otpauth_uri: string; qr_code: string };
    expect(otpauth_uri).toMatch(/^otpauth:\/\/totp\/Rampart:alice\?secret=[A-Z2-7]+/);
    expect(qr_code).toMatch(/^data:image\/png;base64,/);
    const secret = decodeTotpSecret(new URL(otpauth_uri).searchParams.get('secret')!);
    // Codes of successive time steps (the verifier accepts ±1 step), each newer than the last one used.
    const code = (offsetSteps: number) => generateTotpCode(secret, Date.now() + offsetSteps * 30_000);
    const confirm = await post('/auth/mfa/totp/confirm', { code: await code(-1) }, bearer);
    expect(confirm.status).toBe(200);
    expect(((await confirm.json()) as { recovery_codes: string[] }).recovery_codes).toHaveLength(10);

    // A DELETE on the sensitive route with a single-factor token: RFC 9470 step-up challenge.
    const refused = await fetch(`${gw.url}/secure/records/9`, { method: 'DELETE', headers: bearer });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toContain('error="insufficient_user_authentication"');
    expect(refused.headers.get('www-authenticate')).toContain('acr_values="urn:rampart:acr:mfa"');
    // GET needs no step-up.
    expect((await fetch(`${gw.url}/secure/records/9`, { headers: bearer })).status).toBe(200);

    // Login now asks for the second factor.
    const challenge = (await (await post('/auth/login', { username: 'alice', password })).json()) as { mfa_required: boolean; mfa_token: string };
    expect(challenge.mfa_required).toBe(true);
    const verified = await post('/auth/mfa/verify', { mfa_token: challenge.mfa_token, code: await code(0) });
    expect(verified.status).toBe(200);
    const mfaTokens = (await verified.json()) as { access_token: string };
    expect(decodeJwt(mfaTokens.access_token)).toMatchObject({ acr: 'urn:rampart:acr:mfa' });
    const replay = await post('/auth/mfa/verify', { mfa_token: challenge.mfa_token, code: await code(0) });
    expect(replay.status).toBe(401);

    const allowed = await fetch(`${gw.url}/secure/records/9`, { method: 'DELETE', headers: { authorization: `Bearer ${mfaTokens.access_token}` } });
    expect(allowed.status).toBe(200);

    // Step-up from the single-factor session: a fresh code gives a fresh MFA token.
    const stepUp = await post('/auth/mfa/step-up', { code: await code(1) }, bearer);
    expect(stepUp.status).toBe(200);
    const fresh = (await stepUp.json()) as { access_token: string };
    const afterStepUp = await fetch(`${gw.url}/secure/records/9`, { method: 'DELETE', headers: { authorization: `Bearer ${fresh.access_token}` } });
    expect(afterStepUp.status).toBe(200);
  });

  it('serves the passkey endpoints (the ceremony itself runs in Chromium: test/webauthn.e2e.test.ts)', async () => {
    expect((await post('/auth/webauthn/register/options', {})).status).toBe(401);
    // alice has TOTP by now: her password login asks for the second factor...
    const { mfa_token } = (await (await post('/auth/login', { username: 'alice', password })).json()) as { mfa_token: string };
    expect(mfa_token).toMatch(/^mfa_/);
    // ...and a user without a passkey gets no passkey challenge: refused like any failed second factor.
    const options = await post('/auth/webauthn/login/options', { mfa_token });
    expect(options.status).toBe(401);
    expect(await options.json()).toMatchObject({ code: 'RAMPART_ERR_INVALID_CREDENTIAL' });
    expect(gw.events.events.some((e) => e.type === 'auth.mfa-failed' && e.details?.method === 'webauthn')).toBe(true);
  });

  it('issues client-credentials tokens to a machine client and publishes the signing keys', async () => {
    const basic = `Basic ${Buffer.from('billing-job:billing-secret-0123456789abcdef').toString('base64')}`;
    const res = await form('/auth/token', { grant_type: 'client_credentials' }, { authorization: basic });
    expect(res.status).toBe(200);
    const { access_token } = (await res.json()) as { access_token: string; refresh_token?: string };
    expect(decodeJwt(access_token)).toMatchObject({ sub: 'billing-job', client_id: 'billing-job', scope: 'orders:read' });
    const call = await fetch(`${gw.url}/orders/1`, { headers: { authorization: `Bearer ${access_token}` } });
    expect(call.status).toBe(200);
    const bad = await form('/auth/token', { grant_type: 'client_credentials' }, { authorization: `Basic ${Buffer.from('billing-job:wrong').toString('base64')}` });
    expect(bad.status).toBe(401);
    expect(await bad.json()).toEqual({ error: 'invalid_client' });

    const jwks = await fetch(`${gw.url}/.well-known/jwks.json`);
    expect(jwks.status).toBe(200);
    const { keys } = (await jwks.json()) as { keys: Array<{ kid: string; d?: string }> };
    expect(keys.some((k) => k.kid === decodeProtectedHeader(access_token).kid)).toBe(true);
    expect(keys.every((k) => k.d === undefined)).toBe(true);
  });

  it('passes the principal upstream as a gateway-signed JWT on routes that ask for it (verifiable with the JWKS)', async () => {
    const basic = `Basic ${Buffer.from('billing-job:billing-secret-0123456789abcdef').toString('base64')}`;
    const token = ((await (await form('/auth/token', { grant_type: 'client_credentials' }, { authorization: basic })).json()) as { access_token: string }).access_token;
    const res = await fetch(`${gw.url}/signed/x`, { headers: { authorization: `Bearer ${token}`, 'x-rampart-identity': 'forged' } });
    expect(res.status).toBe(200);
    const seen = upstream.seen.at(-1)!;
    expect(seen.headers['x-rampart-subject']).toBeUndefined();
    const assertion = seen.headers['x-rampart-identity'] as string;
    expect(assertion).not.toBe('forged');
    const jwks = (await (await fetch(`${gw.url}/.well-known/jwks.json`)).json()) as { keys: never[] };
    const { payload, protectedHeader } = await jwtVerify(assertion, createLocalJWKSet({ keys: jwks.keys }), {
      issuer: 'https://rampart.test',
      audience: 'orders-service',
    });
    expect(protectedHeader.typ).toBe('rampart-identity+jwt');
    expect(payload).toMatchObject({ sub: 'billing-job', kind: 'client', method: 'identity-token', roles: ['billing'] });
    // The same principal reuses its assertion instead of signing per request.
    await fetch(`${gw.url}/signed/y`, { headers: { authorization: `Bearer ${token}` } });
    expect(upstream.seen.at(-1)!.headers['x-rampart-identity']).toBe(assertion);
  });

  it('revokes an access token (RFC 7009): the gateway refuses it within the documented 5 s', async () => {
    const basic = `Basic ${Buffer.from('billing-job:billing-secret-0123456789abcdef').toString('base64')}`;
    const token = ((await (await form('/auth/token', { grant_type: 'client_credentials' }, { authorization: basic })).json()) as { access_token: string }).access_token;
    expect((await fetch(`${gw.url}/orders/1`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    const revoke = await form('/auth/revoke', { token, token_type_hint: 'access_token' }, { authorization: basic });
    expect(revoke.status).toBe(200);
    const deadline = Date.now() + 8000;
    let status = 200;
    while (Date.now() < deadline) {
      status = (await fetch(`${gw.url}/orders/1`, { headers: { authorization: `Bearer ${token}` } })).status;
      if (status === 401) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(status).toBe(401);
  });
});
