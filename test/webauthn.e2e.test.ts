/**
 * Passkeys as a second factor (issue 3, point 6), end to end in Debian's headless Chromium with its DevTools
 * virtual authenticator (CDP `WebAuthn` domain): registration with a bearer token, then password login →
 * `mfa_token` → `navigator.credentials.get` → tokens with amr ["pwd", "hwk"] and acr MFA; a replayed assertion
 * is refused; a cloned authenticator (same key, lower signature counter) is refused and reported.
 *
 * The page is served by the test itself on http://localhost:<port> (a secure context, WebAuthn L3 §5.1: rpId
 * `localhost`). Until the lead wires the webauthn endpoints into the identity service, this test runs them on the
 * login test harness (login/test-support.ts: node:http on port 0 with the real `jwt` policy as bearer
 * authenticator, real stores, the real token issuer) next to the real login endpoint, which shares the pending
 * `mfa_token` state with them through one IdentityDeps object.
 *
 * Needs /usr/bin/chromium (Debian package `chromium`); without it the test FAILS, naming the package.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type CDPSession, type Page } from 'playwright-core';
import { hashPassword } from '../src/crypto/passwords.ts';
import { ACR_MFA } from '../src/identity/types.ts';
import { loginEndpoint } from '../src/identity/login/endpoint.ts';
import { createLoginMfaState } from '../src/identity/login/state.ts';
import type { EndpointContext } from '../src/identity/login/http.ts';
import {
  call,
  identityAuthenticator,
  openTestIdentity,
  startHarness,
  TestClock,
  TestTokenIssuer,
  type Harness,
  type JsonAnswer,
  type TestIdentity,
} from '../src/identity/login/test-support.ts';
import {
  webauthnLoginOptionsEndpoint,
  webauthnLoginVerifyEndpoint,
  webauthnRegisterOptionsEndpoint,
  webauthnRegisterVerifyEndpoint,
  type WebAuthnOptions,
} from '../src/identity/webauthn/endpoints.ts';

const CHROMIUM = '/usr/bin/chromium';
const PASSWORD = 'velvet-harbour-lantern-73';

/** The page: two hand-written helpers around navigator.credentials (base64url <-> ArrayBuffer), no network. */
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>rampart passkeys</title></head><body>
<script>
const toBuffer = (text) => {
  let s = text.replace(/-/g, '+').replace(/_/g, '/');
  while (s.length % 4 !== 0) s += '=';
  const binary = atob(s);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes.buffer;
};
const toText = (buffer) => {
  const bytes = new Uint8Array(buffer);
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, '');
};
const descriptors = (list) => (list || []).map((c) => ({ ...c, id: toBuffer(c.id) }));
window.rampartRegister = async (options) => {
  const publicKey = { ...options, challenge: toBuffer(options.challenge), user: { ...options.user, id: toBuffer(options.user.id) }, excludeCredentials: descriptors(options.excludeCredentials) };
  const credential = await navigator.credentials.create({ publicKey });
  return {
    id: credential.id, rawId: toText(credential.rawId), type: credential.type,
    authenticatorAttachment: credential.authenticatorAttachment || undefined,
    clientExtensionResults: credential.getClientExtensionResults(),
    response: {
      clientDataJSON: toText(credential.response.clientDataJSON),
      attestationObject: toText(credential.response.attestationObject),
      transports: credential.response.getTransports(),
    },
  };
};
window.rampartAuthenticate = async (options) => {
  const publicKey = { ...options, challenge: toBuffer(options.challenge), allowCredentials: descriptors(options.allowCredentials) };
  const credential = await navigator.credentials.get({ publicKey });
  return {
    id: credential.id, rawId: toText(credential.rawId), type: credential.type,
    authenticatorAttachment: credential.authenticatorAttachment || undefined,
    clientExtensionResults: credential.getClientExtensionResults(),
    response: {
      clientDataJSON: toText(credential.response.clientDataJSON),
      authenticatorData: toText(credential.response.authenticatorData),
      signature: toText(credential.response.signature),
      userHandle: credential.response.userHandle ? toText(credential.response.userHandle) : undefined,
    },
  };
};
document.title = 'ready';
</script></body></html>`;

/** A clock that follows real time (the browser's ceremonies run in real time) but is still injected. */
class WallClock extends TestClock {
  override readonly now = (): number => Date.now();
}

type Json = Record<string, unknown>;

describe('passkeys (WebAuthn) in headless Chromium with a virtual authenticator', () => {
  let identity: TestIdentity;
  let issuer: TestTokenIssuer;
  let harness: Harness;
  let browser: Browser | undefined;
  let page: Page;
  let cdp: CDPSession;
  let authenticatorId: string;
  let origin: string;
  let userId: string;

  const post = (path: string, json: unknown, bearer?: string): Promise<JsonAnswer> =>
    call(`${harness.url}${path}`, { json, ...(bearer !== undefined ? { bearer } : {}) });

  beforeAll(async () => {
    try {
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      });
    } catch (error) {
      throw new Error(
        `Debian's Chromium is required at ${CHROMIUM} for the passkey test: install it with \`apt-get install -y chromium\` ` +
          `(playwright-core only drives it; never \`npx playwright install\`). Launch failed: ${(error as Error).message.split('\n')[0]}`,
      );
    }

    identity = openTestIdentity('memory', {}, new WallClock());
    const { deps } = identity;
    userId = (await deps.stores.identities.createUser({ username: 'paula', passwordHash: await hashPassword(PASSWORD), roles: ['customer'], createdAt: deps.now() - 1000 })).id;
    issuer = await TestTokenIssuer.create(deps);
    const state = createLoginMfaState(deps, { delay: async () => {} });

    // Endpoints need the origin, known once the server listens: routes delegate to these, set right after.
    const late: Record<string, (ctx: EndpointContext) => Promise<void>> = {};
    const delegate = (name: string) => (ctx: EndpointContext) => late[name]!(ctx);
    harness = await startHarness([
      {
        path: '/',
        endpoint: async (ctx) => {
          ctx.res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
          ctx.res.end(PAGE);
        },
      },
      { path: '/auth/login', endpoint: loginEndpoint(deps, issuer, { state }) },
      { path: '/auth/webauthn/register/options', authenticate: 'optional', endpoint: delegate('registerOptions') },
      { path: '/auth/webauthn/register/verify', authenticate: 'optional', endpoint: delegate('registerVerify') },
      { path: '/auth/webauthn/login/options', endpoint: delegate('loginOptions') },
      { path: '/auth/webauthn/login/verify', endpoint: delegate('loginVerify') },
    ]);
    harness.setAuthenticator(await identityAuthenticator(deps.config, { jwk: issuer.publicJwk }, deps.now));
    origin = `http://localhost:${new URL(harness.url).port}`;
    const options: WebAuthnOptions = { rpId: 'localhost', rpName: 'Rampart test', origins: [origin], state };
    late.registerOptions = webauthnRegisterOptionsEndpoint(deps, issuer, options);
    late.registerVerify = webauthnRegisterVerifyEndpoint(deps, issuer, options);
    late.loginOptions = webauthnLoginOptionsEndpoint(deps, issuer, options);
    late.loginVerify = webauthnLoginVerifyEndpoint(deps, issuer, options);

    const context = await browser.newContext();
    page = await context.newPage();
    await page.goto(`${origin}/`);
    await page.waitForFunction(() => document.title === 'ready');
    cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    ({ authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
    }));
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await harness?.close();
    await issuer?.close();
    await identity?.close();
  });

  const register = (options: Json): Promise<Json> => page.evaluate((o) => (window as unknown as { rampartRegister(o: Json): Promise<Json> }).rampartRegister(o), options);
  const authenticate = (options: Json): Promise<Json> =>
    page.evaluate((o) => (window as unknown as { rampartAuthenticate(o: Json): Promise<Json> }).rampartAuthenticate(o), options);

  async function passwordLogin(): Promise<Json> {
    const answer = await post('/auth/login', { username: 'paula', password: PASSWORD });
    expect(answer.status).toBe(200);
    return answer.body;
  }

  /** Password login → mfa_token → options → assertion in the browser. */
  async function assertion(): Promise<{ mfaToken: string; response: Json }> {
    const login = await passwordLogin();
    expect(login.mfa_required).toBe(true);
    expect(login.methods).toEqual(['webauthn']);
    const mfaToken = login.mfa_token as string;
    const options = await post('/auth/webauthn/login/options', { mfa_token: mfaToken });
    expect(options.status).toBe(200);
    return { mfaToken, response: await authenticate(options.body) };
  }

  it('registers a passkey with a bearer token; refuses without one', async () => {
    expect((await post('/auth/webauthn/register/options', {})).status).toBe(401);

    const tokens = await passwordLogin();
    expect(tokens.access_token).toEqual(expect.any(String));
    const bearer = tokens.access_token as string;
    const options = await post('/auth/webauthn/register/options', {}, bearer);
    expect(options.status).toBe(200);
    expect(options.headers.get('cache-control')).toBe('no-store');
    expect(options.body).toMatchObject({ rp: { id: 'localhost', name: 'Rampart test' }, user: { name: 'paula' }, attestation: 'none' });

    const response = await register(options.body);
    const verified = await post('/auth/webauthn/register/verify', { response }, bearer);
    expect(verified.status).toBe(200);
    expect(verified.body.credential_id).toBe(response.id);
    const stored = await identity.stores.identities.listWebAuthnCredentials(userId);
    expect(stored.map((c) => c.id)).toEqual([response.id]);

    // The challenge was single use: the same registration response again is refused.
    expect((await post('/auth/webauthn/register/verify', { response }, bearer)).status).toBe(401);
    // With a second factor now present, a password-only token cannot add another passkey (RFC 9470 challenge).
    const again = await post('/auth/webauthn/register/options', {}, bearer);
    expect(again.status).toBe(401);
    expect(again.headers.get('www-authenticate')).toContain('insufficient_user_authentication');
  });

  it('finishes a password login with the passkey: tokens with amr pwd+hwk and acr MFA', async () => {
    // The user has a passkey and no TOTP: the password step must ask for the passkey (methods: ['webauthn']).
    const { mfaToken, response } = await assertion();
    const verified = await post('/auth/webauthn/login/verify', { mfa_token: mfaToken, response });
    expect(verified.status).toBe(200);
    expect(verified.headers.get('cache-control')).toBe('no-store');
    const claims = await issuer.claims(verified.body.access_token as string);
    expect(claims).toMatchObject({ sub: userId, amr: ['pwd', 'hwk'], acr: ACR_MFA });
    expect(verified.body.refresh_token).toEqual(expect.any(String));
    expect(identity.events.events.some((e) => e.type === 'auth.mfa-succeeded' && e.details?.method === 'webauthn')).toBe(true);

    // Replay: the same body again (mfa_token spent, challenge spent) is refused.
    const replay = await post('/auth/webauthn/login/verify', { mfa_token: mfaToken, response });
    expect(replay.status).toBe(401);

    // Replay with a fresh login and fresh options: the old assertion signs the old challenge, refused.
    const login = await passwordLogin();
    const fresh = login.mfa_token as string;
    expect((await post('/auth/webauthn/login/options', { mfa_token: fresh })).status).toBe(200);
    const stale = await post('/auth/webauthn/login/verify', { mfa_token: fresh, response });
    expect(stale.status).toBe(401);
    expect(identity.events.events.some((e) => e.type === 'auth.mfa-failed' && e.details?.method === 'webauthn')).toBe(true);

    // The same mfa_token still serves a genuine attempt (one attempt fewer), with new options.
    const options = await post('/auth/webauthn/login/options', { mfa_token: fresh });
    const genuine = await authenticate(options.body);
    const ok = await post('/auth/webauthn/login/verify', { mfa_token: fresh, response: genuine });
    expect(ok.status).toBe(200);
  });

  it('refuses a cloned authenticator whose signature counter did not grow, and reports it', async () => {
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    expect(credentials).toHaveLength(1);
    const original = credentials[0]!;
    expect(original.signCount).toBeGreaterThan(0);
    // The clone: the same private key with its counter back at 0, as a copy made earlier would present it.
    // (Chrome allows one internal virtual authenticator per environment, so the copy replaces the original there.)
    await cdp.send('WebAuthn.removeCredential', { authenticatorId, credentialId: original.credentialId });
    await cdp.send('WebAuthn.addCredential', { authenticatorId, credential: { ...original, signCount: 0 } });

    const [before] = await identity.stores.identities.listWebAuthnCredentials(userId);
    const { mfaToken, response } = await assertion();
    const refused = await post('/auth/webauthn/login/verify', { mfa_token: mfaToken, response });
    expect(refused.status).toBe(401);
    const clone = identity.events.events.find((e) => e.type === 'auth.webauthn-clone-suspected');
    expect(clone).toMatchObject({ severity: 'high', details: { userId, credentialId: before!.id } });
    // The stored counter did not move back.
    expect((await identity.stores.identities.getWebAuthnCredential(before!.id))?.counter).toBe(before!.counter);
  });
});
