/**
 * Login + TOTP + step-up end to end over real HTTP (issue 3, "Must show"): a user created with the `rampart users`
 * CLI in a SQLite store named by a config file; password login; TOTP enrolment with codes computed by otplib from
 * the secret in the otpauth URI, as an authenticator app would; login with MFA; a route that demands step-up for
 * DELETE refusing a password-only token and a stale MFA token with the RFC 9470 challenge, then accepting the
 * token the step-up endpoint issues.
 *
 * The pipeline here is a small node:http server running the real pieces in gateway order (identity-token
 * authenticator → mfa policy → endpoint or upstream stand-in), because the gateway's identity service is not wired
 * yet; time is an injected clock shared by every piece.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Command } from 'commander';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pino } from 'pino';
import { decodeJwt } from 'jose';
import { generate } from 'otplib';
import { registerUserCommands } from '../src/cli/user-commands.ts';
import { loadConfigFile } from '../src/config/load.ts';
import { ACR_MFA, type IdentityDeps } from '../src/identity/types.ts';
import { loginEndpoint } from '../src/identity/login/endpoint.ts';
import { createLoginMfaState } from '../src/identity/login/state.ts';
import { call, startHarness, TestClock, testIdentityConfig, testPolicyDeps, TestTokenIssuer, type Harness } from '../src/identity/login/test-support.ts';
import { confirmEndpoint, enrollEndpoint, mfaVerifyEndpoint, stepUpEndpoint } from '../src/identity/mfa/endpoints.ts';
import { RecordingSecurityEvents } from '../src/observe/events.ts';
import { createIdentityTokenHandlers } from '../src/policies/identity-token/index.ts';
import { createMfaHandlers } from '../src/policies/mfa/index.ts';
import { openConfiguredStores, type ConfiguredStores } from '../src/storage/configured.ts';
import { generateMasterKey } from '../src/crypto/master-key.ts';

const PASSWORD = 'harbour-mosaic-pepper-71';
const STEP_S = 30;

describe('login → TOTP enrolment → MFA login → step-up (end to end)', () => {
  const clock = new TestClock();
  let dir: string;
  let configFile: string;
  let opened: ConfiguredStores;
  let issuer: TestTokenIssuer;
  let harness: Harness;
  const events = new RecordingSecurityEvents();

  /** What an authenticator app shows for the base32 secret at the (injected) current time. */
  const appCode = (secret: string, offsetSeconds = 0) => generate({ secret, epoch: Math.floor(clock.now() / 1000) + offsetSeconds });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rampart-login-mfa-'));
    configFile = join(dir, 'rampart.json');
    writeFileSync(
      configFile,
      JSON.stringify({
        mode: 'development',
        listen: { host: '127.0.0.1', port: 0 },
        admin: false,
        storage: `sqlite:${join(dir, 'rampart.db')}`,
        keyring: { masterKey: generateMasterKey() },
        routes: [],
      }),
    );

    // The operator creates the user with the CLI (password on stdin).
    const program = new Command().exitOverride();
    const out: string[] = [];
    registerUserCommands(program, { stdin: Readable.from([`${PASSWORD}\n`]), out: (line) => out.push(line), err: (line) => out.push(line), now: clock.now });
    await program.parseAsync(['node', 'rampart', 'users', 'add', 'dora', '--roles', 'staff', '--password-stdin', '-c', configFile]);
    expect(out.join('\n')).toContain('created user dora');

    const loaded = loadConfigFile(configFile);
    if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
    opened = await openConfiguredStores(loaded.config);
    const deps: IdentityDeps = {
      config: testIdentityConfig(),
      stores: opened.stores,
      pepper: opened.pepper,
      logger: pino({ level: 'silent' }),
      events,
      now: clock.now,
    };
    issuer = await TestTokenIssuer.create(deps);
    const options = { state: createLoginMfaState(deps, { delay: async () => {} }) };
    const policyDeps = { ...testPolicyDeps(events), stores: opened.stores };
    harness = await startHarness(
      [
        { path: '/auth/login', endpoint: loginEndpoint(deps, issuer, options) },
        { path: '/auth/mfa/verify', endpoint: mfaVerifyEndpoint(deps, issuer, options) },
        { path: '/auth/mfa/totp/enroll', authenticate: 'optional', endpoint: enrollEndpoint(deps, issuer, options) },
        { path: '/auth/mfa/totp/confirm', authenticate: 'optional', endpoint: confirmEndpoint(deps, issuer, options) },
        { path: '/auth/mfa/step-up', authenticate: 'required', endpoint: stepUpEndpoint(deps, issuer, options) },
        {
          path: '/api/*',
          authenticate: 'required',
          policies: [createMfaHandlers({ require: false, stepUpFor: ['DELETE'], maxAge: '5m', acrValues: [ACR_MFA] }, policyDeps, { now: clock.now })],
        },
      ],
      () => issuer.jwks(),
    );
    harness.setAuthenticator(
      await createIdentityTokenHandlers(
        { issuer: deps.config.issuer, audience: deps.config.audience, realm: 'rampart', allowRevokedCheck: true, clockSkew: 5, maxTokenBytes: 8192 },
        policyDeps,
        { now: clock.now },
      ),
    );
  });

  afterAll(async () => {
    await harness?.close();
    await issuer?.close();
    await opened?.stores.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs the whole flow', async () => {
    const url = harness.url;

    // 1. Password login of a user without MFA: single-factor tokens that read and are refused for DELETE.
    const first = await call(`${url}/auth/login`, { json: { username: 'Dora', password: PASSWORD } });
    expect(first.status).toBe(200);
    const pwdToken = first.body.access_token as string;
    expect(decodeJwt(pwdToken)).toMatchObject({ amr: ['pwd'] });
    expect((await call(`${url}/api/things/1`, { method: 'GET', bearer: pwdToken })).status).toBe(200);
    const refused = await call(`${url}/api/things/1`, { method: 'DELETE', bearer: pwdToken });
    expect(refused.status).toBe(401);
    expect(refused.body.code).toBe('RAMPART_ERR_INSUFFICIENT_AUTHENTICATION');
    expect(refused.headers.get('www-authenticate')).toBe(
      'Bearer error="insufficient_user_authentication", error_description="A different authentication level is required", acr_values="urn:rampart:acr:mfa"',
    );

    // 2. Enrol TOTP with that token: the app scans the URI; the first code confirms; 10 recovery codes, once.
    const enrol = await call(`${url}/auth/mfa/totp/enroll`, { bearer: pwdToken });
    expect(enrol.status).toBe(200);
    expect((enrol.body.qr_code as string).startsWith('data:image/png;base64,')).toBe(true);
    const uri = new URL(enrol.body.otpauth_uri as string);
    expect(uri.protocol).toBe('otpauth:');
    expect(uri.searchParams.get('algorithm')).toBe('SHA1');
    expect(uri.searchParams.get('digits')).toBe('6');
    expect(uri.searchParams.get('period')).toBe('30');
    const secret = uri.searchParams.get('secret')!;
    const confirm = await call(`${url}/auth/mfa/totp/confirm`, { bearer: pwdToken, json: { code: await appCode(secret) } });
    expect(confirm.status).toBe(200);
    const recoveryCodes = confirm.body.recovery_codes as string[];
    expect(recoveryCodes).toHaveLength(10);

    // 3. Login again: the password alone now only earns an mfa_token; the code earns tokens with acr MFA.
    clock.advance(STEP_S * 1000);
    const second = await call(`${url}/auth/login`, { json: { username: 'dora', password: PASSWORD } });
    expect(second.status).toBe(200);
    expect(second.body).toMatchObject({ mfa_required: true, methods: ['totp', 'recovery_code'] });
    expect(second.body.access_token).toBeUndefined();
    const verified = await call(`${url}/auth/mfa/verify`, { json: { mfa_token: second.body.mfa_token, code: await appCode(secret) } });
    expect(verified.status).toBe(200);
    const mfaToken = verified.body.access_token as string;
    const mfaClaims = decodeJwt(mfaToken);
    expect(mfaClaims.acr).toBe(ACR_MFA);
    expect(mfaClaims.amr).toEqual(['pwd', 'otp']);
    expect(typeof verified.body.refresh_token).toBe('string');
    expect((await call(`${url}/api/things/1`, { method: 'DELETE', bearer: mfaToken })).status).toBe(200);

    // The same code cannot be used twice (replay), even for a new login.
    const replayLogin = await call(`${url}/auth/login`, { json: { username: 'dora', password: PASSWORD } });
    const replay = await call(`${url}/auth/mfa/verify`, { json: { mfa_token: replayLogin.body.mfa_token, code: await appCode(secret) } });
    expect(replay.status).toBe(401);

    // 4. Six minutes later the MFA is stale for DELETE: RFC 9470 challenge with max_age; GET still works.
    clock.advance(6 * 60_000);
    expect((await call(`${url}/api/things/1`, { method: 'GET', bearer: mfaToken })).status).toBe(200);
    const stale = await call(`${url}/api/things/1`, { method: 'DELETE', bearer: mfaToken });
    expect(stale.status).toBe(401);
    expect(stale.headers.get('www-authenticate')).toBe(
      'Bearer error="insufficient_user_authentication", error_description="More recent authentication is required", acr_values="urn:rampart:acr:mfa", max_age="300"',
    );

    // 5. Step-up with a fresh code: a new access token (no refresh token) with auth_time now; DELETE goes through.
    const stepUp = await call(`${url}/auth/mfa/step-up`, { bearer: mfaToken, json: { code: await appCode(secret) } });
    expect(stepUp.status).toBe(200);
    expect(stepUp.body.refresh_token).toBeUndefined();
    const fresh = stepUp.body.access_token as string;
    expect(decodeJwt(fresh)).toMatchObject({ acr: ACR_MFA, auth_time: Math.floor(clock.now() / 1000) });
    const deleted = await call(`${url}/api/things/1`, { method: 'DELETE', bearer: fresh });
    expect(deleted.status).toBe(200);
    expect(deleted.body).toMatchObject({ ok: true, method: 'DELETE', subject: mfaClaims.sub });

    // 6. A recovery code also completes a login, once.
    clock.advance(STEP_S * 1000);
    const third = await call(`${url}/auth/login`, { json: { username: 'dora', password: PASSWORD } });
    const recovered = await call(`${url}/auth/mfa/verify`, { json: { mfa_token: third.body.mfa_token, recovery_code: recoveryCodes[3]!.toUpperCase() } });
    expect(recovered.status).toBe(200);
    expect(recovered.body.recovery_codes_remaining).toBe(9);

    const types = events.events.map((e) => e.type);
    for (const type of ['auth.login-succeeded', 'mfa.totp-enrolled', 'auth.mfa-succeeded', 'auth.mfa-failed', 'auth.insufficient-authentication', 'auth.step-up-succeeded']) {
      expect(types, type).toContain(type);
    }
  });
});
