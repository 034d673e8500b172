/**
 * The passkey endpoints without a browser (the browser ceremonies are in test/webauthn.e2e.test.ts): challenge
 * store bounds, configuration checks, hostile request bodies, who may register, and failed assertions counting
 * in the brute-force counters until the account locks. Real stores (memory and SQLite), real HTTP.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { hashPassword } from '../../crypto/passwords.ts';
import { loginEndpoint } from '../login/endpoint.ts';
import { createLoginMfaState } from '../login/state.ts';
import { call, identityAuthenticator, openTestIdentity, startHarness, TestTokenIssuer, type Harness, type JsonAnswer, type TestIdentity } from '../login/test-support.ts';
import {
  ChallengeStore,
  WEBAUTHN_CHALLENGE_TTL_MS,
  webauthnLoginOptionsEndpoint,
  webauthnLoginVerifyEndpoint,
  webauthnRegisterOptionsEndpoint,
  webauthnRegisterVerifyEndpoint,
  type WebAuthnOptions,
} from './endpoints.ts';

const PASSWORD = 'quartz-meadow-copper-19';
const ORIGIN = 'https://app.rampart.test';

describe('ChallengeStore', () => {
  it('is single use, bound to its user, and expires', () => {
    const store = new ChallengeStore(10);
    store.put('k', 'u1', 'c1', 0);
    expect(store.take('k', 'u1', 1)).toBe('c1');
    expect(store.take('k', 'u1', 2)).toBeUndefined();
    store.put('k', 'u1', 'c2', 0);
    expect(store.take('k', 'u2', 1)).toBeUndefined();
    expect(store.take('k', 'u1', 1)).toBeUndefined(); // a wrong-user attempt spent it
    store.put('k', 'u1', 'c3', 0);
    expect(store.take('k', 'u1', WEBAUTHN_CHALLENGE_TTL_MS)).toBeUndefined();
  });

  it('keeps one challenge per key and stays within its bound', () => {
    const store = new ChallengeStore(3);
    store.put('a', 'u', 'old', 0);
    store.put('a', 'u', 'new', 0);
    expect(store.size).toBe(1);
    for (let i = 0; i < 10; i++) store.put(`k${i}`, 'u', `c${i}`, 0);
    expect(store.size).toBe(3);
    expect(store.take('k9', 'u', 1)).toBe('c9');
    expect(store.take('k0', 'u', 1)).toBeUndefined();
  });
});

describe('configuration', () => {
  const identity = openTestIdentity('memory');
  afterAll(() => identity.close());
  it.each([
    [{ rpId: '', origins: [ORIGIN] }, /rpId is empty/],
    [{ rpId: 'rampart.test', origins: [] }, /no origins/],
    [{ rpId: 'rampart.test', origins: ['https://evil.test'] }, /not within rpId/],
    [{ rpId: 'rampart.test', origins: ['https://notrampart.test'] }, /not within rpId/],
    [{ rpId: 'rampart.test', origins: ['https://app.rampart.test/path'] }, /not a bare origin/],
  ])('refuses %j', (bad, message) => {
    expect(() => webauthnLoginOptionsEndpoint(identity.deps, undefined as never, { rpName: 'x', ...bad })).toThrow(message);
  });
});

describe.each(['memory', 'sqlite'] as const)('passkey endpoints over %s stores', (kind) => {
  let identity: TestIdentity;
  let issuer: TestTokenIssuer;
  let harness: Harness;
  let userId: string;
  const credentialId = randomBytes(32).toString('base64url');
  const post = (path: string, json: unknown, bearer?: string): Promise<JsonAnswer> =>
    call(`${harness.url}${path}`, { json, ...(bearer !== undefined ? { bearer } : {}) });
  const fakeAssertion = {
    id: credentialId,
    rawId: credentialId,
    type: 'public-key',
    clientExtensionResults: {},
    response: { clientDataJSON: 'e30', authenticatorData: 'AAAA', signature: 'AAAA' },
  };

  beforeAll(async () => {
    identity = openTestIdentity(kind);
    const { deps } = identity;
    const now = deps.now();
    const passwordHash = await hashPassword(PASSWORD);
    userId = (await deps.stores.identities.createUser({ username: 'vera', passwordHash, roles: ['customer'], createdAt: now - 1000 })).id;
    await deps.stores.identities.createUser({ username: 'walt', passwordHash, roles: ['customer'], createdAt: now - 1000 });
    // Vera has TOTP (so the login answers mfa_required) and a passkey whose key this test does not hold.
    await deps.stores.identities.setTotpSecret(userId, randomBytes(20), now);
    await deps.stores.identities.confirmTotp(userId, now);
    await deps.stores.identities.addWebAuthnCredential({ id: credentialId, userId, publicKey: randomBytes(77), counter: 3, transports: ['internal'], createdAt: now });
    issuer = await TestTokenIssuer.create(deps);
    const state = createLoginMfaState(deps, { delay: async () => {} });
    const options: WebAuthnOptions = { rpId: 'rampart.test', rpName: 'Rampart', origins: [ORIGIN], state };
    harness = await startHarness([
      { path: '/auth/login', endpoint: loginEndpoint(deps, issuer, { state }) },
      { path: '/auth/webauthn/register/options', authenticate: 'optional', endpoint: webauthnRegisterOptionsEndpoint(deps, issuer, options) },
      { path: '/auth/webauthn/register/verify', authenticate: 'optional', endpoint: webauthnRegisterVerifyEndpoint(deps, issuer, options) },
      { path: '/auth/webauthn/login/options', endpoint: webauthnLoginOptionsEndpoint(deps, issuer, options) },
      { path: '/auth/webauthn/login/verify', endpoint: webauthnLoginVerifyEndpoint(deps, issuer, options) },
    ]);
    harness.setAuthenticator(await identityAuthenticator(deps.config, { jwk: issuer.publicJwk }, deps.now));
  });

  afterAll(async () => {
    await harness?.close();
    await issuer?.close();
    await identity?.close();
  });

  async function mfaToken(username = 'vera'): Promise<string> {
    const answer = await post('/auth/login', { username, password: PASSWORD });
    expect(answer.body.mfa_required).toBe(true);
    return answer.body.mfa_token as string;
  }

  it.each([
    ['an array', []],
    ['a string', 'x'],
    ['an unknown member', { mfa_token: 'mfa_x', roles: ['admin'] }],
    ['a non-string mfa_token', { mfa_token: 7 }],
    ['a missing mfa_token', { response: fakeAssertion }],
    ['a response that is a string', { mfa_token: 'mfa_x', response: 'x' }],
    ['a response without rawId', { mfa_token: 'mfa_x', response: { ...fakeAssertion, rawId: undefined } }],
    ['a response of another type', { mfa_token: 'mfa_x', response: { ...fakeAssertion, type: 'password' } }],
    ['a response whose response is null', { mfa_token: 'mfa_x', response: { ...fakeAssertion, response: null } }],
    ['a __proto__ member', JSON.parse('{"__proto__": {"x": 1}, "mfa_token": "mfa_x"}') as unknown],
  ])('login/verify refuses %s with 400 or 415', async (_name, body) => {
    const answer = await post('/auth/webauthn/login/verify', body);
    expect([400, 415]).toContain(answer.status);
    expect(answer.headers.get('content-type')).toContain('application/problem+json');
  });

  it('refuses GET with 405, a deeply nested body, and unknown or forged mfa_tokens with 401', async () => {
    expect((await call(`${harness.url}/auth/webauthn/login/options`, { method: 'GET' })).status).toBe(405);
    let deep: unknown = 'x';
    for (let i = 0; i < 40; i++) deep = { a: deep };
    expect((await post('/auth/webauthn/login/options', { mfa_token: 'x', deep })).status).toBe(400);
    for (const token of ['mfa_' + 'A'.repeat(43), 'enr_' + 'A'.repeat(43), '', 'x'.repeat(5000)]) {
      expect((await post('/auth/webauthn/login/options', { mfa_token: token })).status).toBe(401);
      expect((await post('/auth/webauthn/login/verify', { mfa_token: token, response: fakeAssertion })).status).toBe(401);
    }
  });

  it('answers login options only for an mfa_token, listing the user\'s credentials', async () => {
    const token = await mfaToken();
    const options = await post('/auth/webauthn/login/options', { mfa_token: token });
    expect(options.status).toBe(200);
    expect(options.body).toMatchObject({ rpId: 'rampart.test', allowCredentials: [{ id: credentialId, type: 'public-key', transports: ['internal'] }] });
    expect(options.body.challenge).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('registration needs a bearer; a token without MFA cannot add a passkey next to an existing factor', async () => {
    expect((await post('/auth/webauthn/register/options', {})).status).toBe(401);
    expect((await post('/auth/webauthn/register/options', {}, 'not.a.jwt')).status).toBe(401);
    const walt = await post('/auth/login', { username: 'walt', password: PASSWORD });
    const bearer = walt.body.access_token as string;
    const options = await post('/auth/webauthn/register/options', {}, bearer);
    expect(options.status).toBe(200);
    expect(options.body).toMatchObject({ rp: { id: 'rampart.test' }, user: { name: 'walt' }, attestation: 'none', authenticatorSelection: { residentKey: 'preferred', userVerification: 'preferred' } });
    // A response that is not a real attestation is refused, and the challenge is gone afterwards.
    const forged = { id: 'AAAA', rawId: 'AAAA', type: 'public-key', clientExtensionResults: {}, response: { clientDataJSON: 'e30', attestationObject: 'AAAA' } };
    expect((await post('/auth/webauthn/register/verify', { response: forged }, bearer)).status).toBe(401);
    expect((await post('/auth/webauthn/register/verify', { response: forged }, bearer)).status).toBe(401);
    expect(identity.events.events.some((e) => e.type === 'mfa.webauthn-registration-failed')).toBe(true);
  });

  it('counts failed assertions in the brute-force counters until the account is locked', async () => {
    const limit = identity.deps.config.bruteForce.maxFailuresPerAccount;
    // One mfa_token allows MAX_ATTEMPTS (5) tries; a new password login would reset the account counter
    // (login/brute-force.ts recordSuccess), so the whole run uses one token.
    expect(limit).toBeLessThanOrEqual(5);
    const token = await mfaToken();
    for (let failure = 0; failure < limit; failure++) {
      expect((await post('/auth/webauthn/login/options', { mfa_token: token })).status).toBe(200);
      const refused = await post('/auth/webauthn/login/verify', { mfa_token: token, response: fakeAssertion });
      expect(refused.status).toBe(401);
    }
    expect(identity.events.events.filter((e) => e.type === 'auth.mfa-failed' && e.details?.method === 'webauthn').length).toBeGreaterThanOrEqual(limit);
    // Locked: even the right password is now refused.
    expect((await post('/auth/login', { username: 'vera', password: PASSWORD })).status).toBe(401);
    // The stored counter never moved.
    expect((await identity.stores.identities.getWebAuthnCredential(credentialId))?.counter).toBe(3);
  });
});
