import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJwtHandlers } from '../jwt/index.ts';
import { ACR_MFA, type TokenGrant } from '../../identity/types.ts';
import {
  call,
  identityAuthenticator,
  identityJwtConfig,
  openTestIdentity,
  TestTokenIssuer,
  startHarness,
  testPolicyDeps,
  type Harness,
  type TestIdentity,
} from '../../identity/login/test-support.ts';
import { createMfaHandlers, mfaPolicy, type MfaPolicyConfig } from './index.ts';

const MISSING = `Bearer error="insufficient_user_authentication", error_description="A different authentication level is required", acr_values="urn:rampart:acr:mfa"`;
const MISSING_AND_STALE = `${MISSING}, max_age="300"`;
const STALE = `Bearer error="insufficient_user_authentication", error_description="More recent authentication is required", acr_values="urn:rampart:acr:mfa", max_age="300"`;

const defaults: MfaPolicyConfig = { require: true, stepUpFor: [], maxAge: '5m', acrValues: ['urn:rampart:acr:mfa'] };
const route = { id: 'r', public: false, methods: undefined, tls: true };

describe('mfa policy over HTTP with real tokens', () => {
  let identity: TestIdentity;
  let issuer: TestTokenIssuer;
  let harness: Harness;
  let external: Harness;
  const events = testPolicyDeps().events;

  beforeAll(async () => {
    identity = openTestIdentity('memory');
    issuer = await TestTokenIssuer.create(identity.deps);
    const now = identity.clock.now;
    const deps = { ...testPolicyDeps(events) };
    harness = await startHarness([
      { path: '/strict/*', authenticate: 'required', policies: [createMfaHandlers(defaults, deps, { now })] },
      { path: '/step-up/*', authenticate: 'required', policies: [createMfaHandlers({ ...defaults, require: false, stepUpFor: ['DELETE'] }, deps, { now })] },
      { path: '/both/*', authenticate: 'required', policies: [createMfaHandlers({ ...defaults, stepUpFor: ['DELETE', 'POST'] }, deps, { now })] },
    ]);
    harness.setAuthenticator(await identityAuthenticator(identity.deps.config, { jwk: issuer.publicJwk }, now));
    // An "external" issuer whose MFA is expressed only by its own acr value, mapped in the jwt policy's mfa config.
    external = await startHarness([{ path: '/ext/*', authenticate: 'required', policies: [createMfaHandlers(defaults, deps, { now })] }]);
    const jwtConfig = { ...identityJwtConfig(identity.deps.config, { jwk: issuer.publicJwk }), name: 'partner', mfa: { amrContains: ['mfa'], acrValues: ['urn:partner:loa:3'] } };
    external.setAuthenticator(await createJwtHandlers(jwtConfig, testPolicyDeps(), { now }));
  });
  afterAll(async () => {
    await harness.close();
    await external.close();
    await identity.close();
  });

  const token = async (grant: Partial<TokenGrant>) =>
    (await issuer.issue({ subject: 'usr_1', kind: 'user', roles: [], amr: ['pwd'], authTime: identity.clock.now(), scopes: [], refresh: false, ...grant })).access_token;

  it('refuses a principal without MFA with 401 and the exact RFC 9470 challenge', async () => {
    for (const amr of [['pwd'], ['pwd', 'pin'], ['pwd', 'kba'], []]) {
      const answer = await call(`${harness.url}/strict/thing`, { method: 'GET', bearer: await token({ amr }) });
      expect(answer.status, amr.join()).toBe(401);
      expect(answer.body.code).toBe('RAMPART_ERR_INSUFFICIENT_AUTHENTICATION');
      expect(answer.headers.get('www-authenticate')).toBe(MISSING);
    }
    expect(events.events.some((e) => e.type === 'auth.insufficient-authentication' && e.details?.reason === 'no-mfa')).toBe(true);
  });

  it('accepts amr otp / hwk / swk / mfa, and acr urn:rampart:acr:mfa without a second-factor amr', async () => {
    for (const grant of [{ amr: ['pwd', 'otp'] }, { amr: ['pwd', 'hwk'] }, { amr: ['swk'] }, { amr: ['mfa'] }, { amr: ['pwd'], acr: ACR_MFA }]) {
      const answer = await call(`${harness.url}/strict/thing`, { method: 'GET', bearer: await token(grant) });
      expect(answer.status, JSON.stringify(grant)).toBe(200);
    }
  });

  it('step-up methods: fresh MFA passes; stale MFA gets max_age; no MFA gets acr_values (and max_age when stale too)', async () => {
    const pwd = await token({ amr: ['pwd'] });
    const mfa = await token({ amr: ['pwd', 'otp'], acr: ACR_MFA });
    expect((await call(`${harness.url}/step-up/x`, { method: 'GET', bearer: pwd })).status).toBe(200);
    expect((await call(`${harness.url}/step-up/x`, { method: 'DELETE', bearer: mfa })).status).toBe(200);
    const noMfaFresh = await call(`${harness.url}/step-up/x`, { method: 'DELETE', bearer: pwd });
    expect(noMfaFresh.status).toBe(401);
    expect(noMfaFresh.headers.get('www-authenticate')).toBe(MISSING);

    identity.clock.advance(5 * 60_000 + 1000);
    const stale = await call(`${harness.url}/step-up/x`, { method: 'DELETE', bearer: mfa });
    expect(stale.status).toBe(401);
    expect(stale.body.code).toBe('RAMPART_ERR_INSUFFICIENT_AUTHENTICATION');
    expect(stale.headers.get('www-authenticate')).toBe(STALE);
    expect((await call(`${harness.url}/step-up/x`, { method: 'GET', bearer: mfa })).status).toBe(200);
    const neither = await call(`${harness.url}/step-up/x`, { method: 'DELETE', bearer: pwd });
    expect(neither.headers.get('www-authenticate')).toBe(MISSING_AND_STALE);

    // A step-up (auth_time now) satisfies it again.
    expect((await call(`${harness.url}/step-up/x`, { method: 'DELETE', bearer: await token({ amr: ['pwd', 'otp'], acr: ACR_MFA }) })).status).toBe(200);
  });

  it('require plus stepUpFor: MFA on every method, freshness on the listed ones', async () => {
    const mfa = await token({ amr: ['pwd', 'otp'] });
    identity.clock.advance(10 * 60_000 - 60_000);
    expect((await call(`${harness.url}/both/x`, { method: 'GET', bearer: mfa })).status).toBe(200);
    const post = await call(`${harness.url}/both/x`, { method: 'POST', bearer: mfa });
    expect(post.status).toBe(401);
    expect(post.headers.get('www-authenticate')).toBe(STALE);
    const noAuthTime = await call(`${harness.url}/both/x`, { method: 'DELETE', bearer: await token({ amr: ['pwd', 'otp'], authTime: 0 }) });
    expect(noAuthTime.headers.get('www-authenticate')).toBe(STALE);
  });

  it('external issuers: MFA as the jwt policy maps it (acr urn:partner:loa:3) counts; another acr does not', async () => {
    expect((await call(`${external.url}/ext/x`, { method: 'GET', bearer: await token({ amr: ['pwd'], acr: 'urn:partner:loa:3' }) })).status).toBe(200);
    const low = await call(`${external.url}/ext/x`, { method: 'GET', bearer: await token({ amr: ['pwd'], acr: 'urn:partner:loa:1' }) });
    expect(low.status).toBe(401);
    expect(low.headers.get('www-authenticate')).toBe(MISSING);
  });
});

describe('mfa policy definition', () => {
  it('runs in the mfa phase with order 10', () => {
    expect(mfaPolicy.phase).toBe('mfa');
    expect(mfaPolicy.order).toBe(10);
    expect(mfaPolicy.authenticates).toBeUndefined();
  });

  it('check(): refuses public routes and a zero maxAge with step-up; warns when it requires nothing or matches no method', () => {
    expect(mfaPolicy.check!(defaults, 'routes[0].mfa', route)).toEqual([]);
    expect(mfaPolicy.check!(defaults, 'routes[1].mfa', { ...route, public: true })).toEqual([
      { path: 'routes[1].mfa', message: expect.stringContaining('needs an authenticated route') },
    ]);
    expect(mfaPolicy.check!({ ...defaults, stepUpFor: ['DELETE'], maxAge: 0 }, 'routes[2].mfa', route)[0]).toMatchObject({ path: 'routes[2].mfa.maxAge' });
    expect(mfaPolicy.check!({ ...defaults, require: false }, 'routes[3].mfa', route)[0]).toMatchObject({ severity: 'warning' });
    expect(mfaPolicy.check!({ ...defaults, stepUpFor: ['DELETE'] }, 'routes[4].mfa', { ...route, methods: ['GET'] })[0]).toMatchObject({
      path: 'routes[4].mfa.stepUpFor',
      severity: 'warning',
    });
  });

  it('with no principal (no authenticator ran) fails closed with 401', async () => {
    const handlers = createMfaHandlers(defaults, testPolicyDeps());
    const server = await startHarness([{ path: '/open', policies: [handlers] }]);
    try {
      const answer = await call(`${server.url}/open`, { method: 'GET' });
      expect(answer.status).toBe(401);
      expect(answer.body.code).toBe('RAMPART_ERR_UNAUTHENTICATED');
    } finally {
      await server.close();
    }
  });
});
