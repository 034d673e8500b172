import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { hashPassword } from '../../crypto/passwords.ts';
import { ACR_MFA } from '../types.ts';
import { loginEndpoint } from '../login/endpoint.ts';
import { createLoginMfaState } from '../login/state.ts';
import {
  call,
  identityAuthenticator,
  openTestIdentity,
  TestTokenIssuer,
  startHarness,
  type Harness,
  type JsonAnswer,
  type TestIdentity,
} from '../login/test-support.ts';
import { confirmEndpoint, enrollEndpoint, mfaVerifyEndpoint, stepUpEndpoint } from './endpoints.ts';
import { decodeTotpSecret, generateTotpCode, TOTP_PERIOD_SECONDS } from './totp.ts';

const PASSWORD = 'amber-kettle-meadow-58';
const STEP_MS = TOTP_PERIOD_SECONDS * 1000;
const LOCK_MS = 15 * 60_000;

interface Setup {
  identity: TestIdentity;
  harness: Harness;
  issuer: TestTokenIssuer;
  post(path: string, json: unknown, bearer?: string): Promise<JsonAnswer>;
}

async function setup(kind: 'memory' | 'sqlite'): Promise<Setup> {
  const identity = openTestIdentity(kind);
  const now = identity.clock.now();
  const passwordHash = await hashPassword(PASSWORD);
  for (const [username, roles] of [['root', ['admin']], ['erin', ['admin']], ['frank', ['admin']], ['alice', ['customer']]] as const) {
    await identity.stores.identities.createUser({ username, passwordHash, roles: [...roles], createdAt: now });
  }
  const issuer = await TestTokenIssuer.create(identity.deps);
  const state = createLoginMfaState(identity.deps, { delay: async () => {} });
  const options = { state };
  const { deps } = identity;
  const harness = await startHarness([
    { path: '/auth/login', endpoint: loginEndpoint(deps, issuer, options) },
    { path: '/auth/mfa/verify', endpoint: mfaVerifyEndpoint(deps, issuer, options) },
    { path: '/auth/mfa/totp/enroll', authenticate: 'optional', endpoint: enrollEndpoint(deps, issuer, options) },
    { path: '/auth/mfa/totp/confirm', authenticate: 'optional', endpoint: confirmEndpoint(deps, issuer, options) },
    { path: '/auth/mfa/step-up', authenticate: 'required', endpoint: stepUpEndpoint(deps, issuer, options) },
  ]);
  harness.setAuthenticator(await identityAuthenticator(deps.config, { jwk: issuer.publicJwk }, identity.clock.now));
  return {
    identity,
    harness,
    issuer,
    post: (path, json, bearer) => call(`${harness.url}${path}`, { json, ...(bearer !== undefined ? { bearer } : {}) }),
  };
}

/** The secret an authenticator app would read from the otpauth URI. */
function secretOf(uri: string): Uint8Array {
  const secret = new URL(uri).searchParams.get('secret');
  expect(secret).toMatch(/^[A-Z2-7]{32}$/);
  return decodeTotpSecret(secret!);
}

/** Enrols `username` (who must use MFA) through login → enrollment token → enroll → confirm; returns the secret and codes. */
async function enrolThroughLogin(s: Setup, username: string): Promise<{ secret: Uint8Array; recoveryCodes: string[]; confirm: JsonAnswer }> {
  const login = await s.post('/auth/login', { username, password: PASSWORD });
  expect(login.status).toBe(403);
  const enrollmentToken = login.body.enrollment_token as string;
  const enrol = await s.post('/auth/mfa/totp/enroll', { enrollment_token: enrollmentToken });
  expect(enrol.status).toBe(200);
  const secret = secretOf(enrol.body.otpauth_uri as string);
  const confirm = await s.post('/auth/mfa/totp/confirm', { enrollment_token: enrollmentToken, code: await generateTotpCode(secret, s.identity.clock.now()) });
  expect(confirm.status).toBe(200);
  return { secret, recoveryCodes: confirm.body.recovery_codes as string[], confirm };
}

async function mfaToken(s: Setup, username: string): Promise<string> {
  const login = await s.post('/auth/login', { username, password: PASSWORD });
  expect(login.status).toBe(200);
  expect(login.body.mfa_required).toBe(true);
  expect(login.body.methods).toEqual(['totp', 'recovery_code']);
  return login.body.mfa_token as string;
}

describe.each(['memory', 'sqlite'] as const)('TOTP enrolment (%s store)', (kind) => {
  let s: Setup;
  beforeAll(async () => {
    s = await setup(kind);
  });
  afterAll(async () => {
    await s.harness.close();
    await s.identity.close();
  });

  it('enrols with an enrollment token: otpauth URI with explicit parameters, a PNG QR code, 10 recovery codes once, then MFA tokens', async () => {
    const login = await s.post('/auth/login', { username: 'root', password: PASSWORD });
    const enrollmentToken = login.body.enrollment_token as string;
    const enrol = await s.post('/auth/mfa/totp/enroll', { enrollment_token: enrollmentToken });
    expect(enrol.status).toBe(200);
    expect(enrol.headers.get('cache-control')).toBe('no-store');
    expect(enrol.body.otpauth_uri).toMatch(/^otpauth:\/\/totp\/Rampart%20Test:root\?secret=[A-Z2-7]{32}&issuer=Rampart%20Test&algorithm=SHA1&digits=6&period=30$/);
    const qr = enrol.body.qr_code as string;
    expect(qr.startsWith('data:image/png;base64,')).toBe(true);
    expect(Buffer.from(qr.slice('data:image/png;base64,'.length), 'base64').subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    const secret = secretOf(enrol.body.otpauth_uri as string);
    const user = await s.identity.stores.identities.findUserByUsername('root');
    expect((await s.identity.stores.identities.getTotp(user!.id))?.confirmedAt).toBeNull();

    // A wrong code does not confirm (and does not use up the token).
    const right = await generateTotpCode(secret, s.identity.clock.now());
    const wrong = await s.post('/auth/mfa/totp/confirm', { enrollment_token: enrollmentToken, code: right === '000000' ? '111111' : '000000' });
    expect(wrong.status).toBe(401);

    const confirm = await s.post('/auth/mfa/totp/confirm', { enrollment_token: enrollmentToken, code: await generateTotpCode(secret, s.identity.clock.now()) });
    expect(confirm.status).toBe(200);
    const codes = confirm.body.recovery_codes as string[];
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    for (const code of codes) expect(code).toMatch(/^[0-9a-hjkmnp-tv-z]{4}(-[0-9a-hjkmnp-tv-z]{4}){3}$/);
    expect(await s.identity.stores.identities.countUnusedRecoveryCodes(user!.id)).toBe(10);
    const claims = await s.issuer.claims(confirm.body.access_token as string);
    expect(claims.amr).toEqual(['pwd', 'otp']);
    expect(claims.acr).toBe(ACR_MFA);
    expect(typeof confirm.body.refresh_token).toBe('string');

    if (s.identity.databaseFile !== undefined) {
      // Read the SQLite file (and its write-ahead log) raw: neither the TOTP secret nor any recovery code is there.
      const raw = Buffer.concat([s.identity.databaseFile, `${s.identity.databaseFile}-wal`].filter((f) => existsSync(f)).map((f) => readFileSync(f)));
      expect(raw.length).toBeGreaterThan(0);
      expect(raw.includes(Buffer.from(secret))).toBe(false);
      expect(raw.includes(Buffer.from(new URL(enrol.body.otpauth_uri as string).searchParams.get('secret')!))).toBe(false);
      for (const code of codes) {
        expect(raw.includes(Buffer.from(code))).toBe(false);
        expect(raw.includes(Buffer.from(code.replaceAll('-', '')))).toBe(false);
      }
    }

    // The enrolment token is spent; confirming again is refused; the next login asks for the code.
    expect((await s.post('/auth/mfa/totp/confirm', { enrollment_token: enrollmentToken, code: '123456' })).status).toBe(401);
    expect((await s.post('/auth/mfa/totp/enroll', { enrollment_token: enrollmentToken })).status).toBe(401);
    const again = await s.post('/auth/login', { username: 'root', password: PASSWORD });
    expect(again.body.mfa_required).toBe(true);
  });

  it('enrols with a bearer token (no tokens in the answer); replacing a confirmed secret needs a token with MFA', async () => {
    const login = await s.post('/auth/login', { username: 'alice', password: PASSWORD });
    const pwdOnly = login.body.access_token as string;
    const enrol = await call(`${s.harness.url}/auth/mfa/totp/enroll`, { bearer: pwdOnly });
    expect(enrol.status).toBe(200);
    const secret = secretOf(enrol.body.otpauth_uri as string);
    const confirm = await s.post('/auth/mfa/totp/confirm', { code: await generateTotpCode(secret, s.identity.clock.now()) }, pwdOnly);
    expect(confirm.status).toBe(200);
    expect(confirm.body.recovery_codes).toHaveLength(10);
    expect(confirm.body.access_token).toBeUndefined();

    const replace = await s.post('/auth/mfa/totp/enroll', {}, pwdOnly);
    expect(replace.status).toBe(401);
    expect(replace.body.code).toBe('RAMPART_ERR_INSUFFICIENT_AUTHENTICATION');
    expect(replace.headers.get('www-authenticate')).toBe(
      `Bearer error="insufficient_user_authentication", error_description="A different authentication level is required", acr_values="${ACR_MFA}"`,
    );

    s.identity.clock.advance(STEP_MS);
    const token = await mfaToken(s, 'alice');
    const verified = await s.post('/auth/mfa/verify', { mfa_token: token, code: await generateTotpCode(secret, s.identity.clock.now()) });
    expect(verified.status).toBe(200);
    const mfaBearer = verified.body.access_token as string;
    const replaced = await s.post('/auth/mfa/totp/enroll', {}, mfaBearer);
    expect(replaced.status).toBe(200);
    const newSecret = secretOf(replaced.body.otpauth_uri as string);

    // Until the new authenticator is confirmed, the old one still guards the account.
    s.identity.clock.advance(STEP_MS);
    expect((await s.post('/auth/login', { username: 'alice', password: PASSWORD })).body.mfa_required).toBe(true);
    const stillOld = await s.post('/auth/mfa/verify', { mfa_token: await mfaToken(s, 'alice'), code: await generateTotpCode(secret, s.identity.clock.now()) });
    expect(stillOld.status).toBe(200);

    s.identity.clock.advance(STEP_MS);
    const confirmNew = await s.post('/auth/mfa/totp/confirm', { code: await generateTotpCode(newSecret, s.identity.clock.now()) }, mfaBearer);
    expect(confirmNew.status).toBe(200);
    expect(confirmNew.body.recovery_codes).toHaveLength(10);
    s.identity.clock.advance(STEP_MS);
    expect((await s.post('/auth/mfa/verify', { mfa_token: await mfaToken(s, 'alice'), code: await generateTotpCode(secret, s.identity.clock.now()) })).status).toBe(401);
    expect((await s.post('/auth/mfa/verify', { mfa_token: await mfaToken(s, 'alice'), code: await generateTotpCode(newSecret, s.identity.clock.now()) })).status).toBe(200);
  });

  it('refuses enrolment with no credential, with both credentials, and with an mfa_token posing as an enrollment token', async () => {
    const none = await s.post('/auth/mfa/totp/enroll', {});
    expect(none.status).toBe(401);
    expect(none.body.code).toBe('RAMPART_ERR_UNAUTHENTICATED');

    const login = await s.post('/auth/login', { username: 'frank', password: PASSWORD });
    const enrollmentToken = login.body.enrollment_token as string;
    const bearer = (await s.post('/auth/login', { username: 'alice', password: PASSWORD })).body;
    expect(bearer.mfa_required).toBe(true);
    const aliceMfa = bearer.mfa_token as string;
    const both = await s.post('/auth/mfa/totp/enroll', { enrollment_token: enrollmentToken }, (await s.issuer.issue({ subject: 'x', kind: 'user', roles: [], amr: ['pwd'], authTime: s.identity.clock.now(), scopes: [], refresh: false })).access_token);
    expect(both.status).toBe(400);
    expect(both.body.code).toBe('RAMPART_ERR_CREDENTIAL_CONFLICT');
    const posing = await s.post('/auth/mfa/totp/enroll', { enrollment_token: aliceMfa });
    expect(posing.status).toBe(401);
    expect(posing.body.code).toBe('RAMPART_ERR_INVALID_CREDENTIAL');
  });
});

describe('MFA verification after login: hostile codes and tokens (injected clock)', () => {
  let s: Setup;
  let secret: Uint8Array;
  let recoveryCodes: string[];
  let otherSecret: Uint8Array;

  beforeAll(async () => {
    s = await setup('memory');
    ({ secret, recoveryCodes } = await enrolThroughLogin(s, 'erin'));
    ({ secret: otherSecret } = await enrolThroughLogin(s, 'frank'));
  });
  afterAll(async () => {
    await s.harness.close();
    await s.identity.close();
  });

  const code = (stepOffset = 0, key: Uint8Array = secret) => generateTotpCode(key, s.identity.clock.now() + stepOffset * STEP_MS);

  it('accepts a current code once: tokens with amr pwd+otp, acr MFA, auth_time now; the mfa_token and the code are spent', async () => {
    s.identity.clock.advance(2 * STEP_MS);
    const token = await mfaToken(s, 'erin');
    const current = await code();
    const answer = await s.post('/auth/mfa/verify', { mfa_token: token, code: current });
    expect(answer.status).toBe(200);
    const claims = await s.issuer.claims(answer.body.access_token as string);
    expect(claims.amr).toEqual(['pwd', 'otp']);
    expect(claims.acr).toBe(ACR_MFA);
    expect(claims.auth_time).toBe(Math.floor(s.identity.clock.now() / 1000));
    expect(s.identity.events.events.some((e) => e.type === 'auth.mfa-succeeded' && e.details?.method === 'totp')).toBe(true);
  });

  it('accepts the previous step and the next step (RFC 6238 §5.2 window of one step)', async () => {
    for (const offset of [-1, 1]) {
      s.identity.clock.advance(4 * STEP_MS);
      const answer = await s.post('/auth/mfa/verify', { mfa_token: await mfaToken(s, 'erin'), code: await code(offset) });
      expect(answer.status, `offset ${offset}`).toBe(200);
    }
  });

  const hostile: Array<{ name: string; attempt: () => Promise<JsonAnswer>; status?: number }> = [
    {
      name: 'replayed code (accepted once already)',
      attempt: async () => {
        const used = await code();
        expect((await s.post('/auth/mfa/verify', { mfa_token: await mfaToken(s, 'erin'), code: used })).status).toBe(200);
        return s.post('/auth/mfa/verify', { mfa_token: await mfaToken(s, 'erin'), code: used });
      },
    },
    {
      name: 'code of an earlier step than the last accepted one',
      attempt: async () => {
        expect((await s.post('/auth/mfa/verify', { mfa_token: await mfaToken(s, 'erin'), code: await code(1) })).status).toBe(200);
        return s.post('/auth/mfa/verify', { mfa_token: await mfaToken(s, 'erin'), code: await code(0) });
      },
    },
    { name: 'code from 2 steps ago', attempt: async () => s.post('/auth/mfa/verify', { mfa_token: await mfaToken(s, 'erin'), code: await code(-2) }) },
    { name: 'code from 2 steps ahead', attempt: async () => s.post('/auth/mfa/verify', { mfa_token: await mfaToken(s, 'erin'), code: await code(2) }) },
    { name: 'non-digits', attempt: async () => s.post('/auth/mfa/verify', { mfa_token: await mfaToken(s, 'erin'), code: 'abcdef' }) },
    { name: '5 digits (prefix of the right code)', attempt: async () => s.post('/auth/mfa/verify', { mfa_token: await mfaToken(s, 'erin'), code: (await code()).slice(0, 5) }) },
    { name: '7 digits (right code plus one)', attempt: async () => s.post('/auth/mfa/verify', { mfa_token: await mfaToken(s, 'erin'), code: `${await code()}0` }) },
    { name: 'right code with a space inside', attempt: async () => s.post('/auth/mfa/verify', { mfa_token: await mfaToken(s, 'erin'), code: (await code()).replace(/^(\d{3})/, '$1 ') }) },
    { name: 'fullwidth digits', attempt: async () => s.post('/auth/mfa/verify', { mfa_token: await mfaToken(s, 'erin'), code: (await code()).replace(/\d/g, (d) => String.fromCharCode(0xff10 + Number(d))) }) },
    {
      name: 'reused recovery code',
      attempt: async () => {
        const first = await s.post('/auth/mfa/verify', { mfa_token: await mfaToken(s, 'erin'), recovery_code: recoveryCodes[0] });
        expect(first.status).toBe(200);
        expect(first.body.recovery_codes_remaining).toBe(9);
        expect((await s.issuer.claims(first.body.access_token as string)).amr).toEqual(['pwd', 'otp']);
        return s.post('/auth/mfa/verify', { mfa_token: await mfaToken(s, 'erin'), recovery_code: recoveryCodes[0] });
      },
    },
    { name: 'recovery code of another user', attempt: async () => s.post('/auth/mfa/verify', { mfa_token: await mfaToken(s, 'frank'), recovery_code: recoveryCodes[1] }) },
    { name: 'malformed recovery code', attempt: async () => s.post('/auth/mfa/verify', { mfa_token: await mfaToken(s, 'erin'), recovery_code: 'x'.repeat(500) }) },
    {
      name: 'mfa_token reused after a successful verification',
      attempt: async () => {
        const token = await mfaToken(s, 'erin');
        expect((await s.post('/auth/mfa/verify', { mfa_token: token, code: await code() })).status).toBe(200);
        s.identity.clock.advance(STEP_MS);
        return s.post('/auth/mfa/verify', { mfa_token: token, code: await code() });
      },
    },
    {
      name: 'mfa_token expired (5 minutes)',
      attempt: async () => {
        const token = await mfaToken(s, 'erin');
        s.identity.clock.advance(5 * 60_000);
        return s.post('/auth/mfa/verify', { mfa_token: token, code: await code() });
      },
    },
    { name: 'mfa_token of another user with my code', attempt: async () => s.post('/auth/mfa/verify', { mfa_token: await mfaToken(s, 'frank'), code: await code() }) },
    {
      name: 'enrollment token posing as an mfa_token',
      attempt: async () => {
        const login = await s.post('/auth/login', { username: 'root', password: PASSWORD });
        return s.post('/auth/mfa/verify', { mfa_token: login.body.enrollment_token ?? 'enr_' + 'A'.repeat(43), code: await code() });
      },
    },
    { name: 'made-up mfa_token', attempt: async () => s.post('/auth/mfa/verify', { mfa_token: 'mfa_' + 'A'.repeat(43), code: await code() }) },
    { name: 'both code and recovery_code', attempt: async () => s.post('/auth/mfa/verify', { mfa_token: await mfaToken(s, 'erin'), code: await code(), recovery_code: recoveryCodes[2] }), status: 400 },
    { name: 'code as a number', attempt: async () => s.post('/auth/mfa/verify', { mfa_token: await mfaToken(s, 'erin'), code: Number(await code()) }), status: 400 },
  ];

  it(`refuses ${hostile.length} hostile attempts; the next valid code works after each`, async () => {
    for (const row of hostile) {
      s.identity.clock.advance(3 * STEP_MS);
      const answer = await row.attempt();
      expect(answer.status, row.name).toBe(row.status ?? 401);
      expect(answer.headers.get('content-type'), row.name).toBe('application/problem+json');
      expect(answer.body.access_token, row.name).toBeUndefined();
      if ((row.status ?? 401) === 401) expect(answer.body.code, row.name).toBe('RAMPART_ERR_INVALID_CREDENTIAL');

      s.identity.clock.advance(3 * STEP_MS);
      const valid = await s.post('/auth/mfa/verify', { mfa_token: await mfaToken(s, 'erin'), code: await code() });
      expect(valid.status, `valid code after "${row.name}"`).toBe(200);
      s.identity.clock.advance(3 * STEP_MS);
      const validOther = await s.post('/auth/mfa/verify', { mfa_token: await mfaToken(s, 'frank'), code: await code(0, otherSecret) });
      expect(validOther.status, `other user after "${row.name}"`).toBe(200);
    }
    expect(s.identity.events.events.some((e) => e.type === 'auth.mfa-failed' && e.details?.reason === 'replayed' && e.severity === 'medium')).toBe(true);
  });

  it('counts failed codes toward the account lockout: after 5, even the right code is refused until lockFor has passed', async () => {
    s.identity.clock.advance(10 * STEP_MS);
    const token = await mfaToken(s, 'erin');
    const right = await code();
    const wrong = right === '000000' ? '000001' : '000000';
    for (let i = 0; i < 5; i += 1) expect((await s.post('/auth/mfa/verify', { mfa_token: token, code: wrong })).status).toBe(401);
    expect(s.identity.events.events.some((e) => e.type === 'auth.brute-force-lockout' && e.details?.factor === 'mfa')).toBe(true);
    // The mfa_token ran out of attempts; a new login is refused too (the account is locked, passwords included).
    expect((await s.post('/auth/mfa/verify', { mfa_token: token, code: right })).status).toBe(401);
    expect((await s.post('/auth/login', { username: 'erin', password: PASSWORD })).status).toBe(401);
    s.identity.clock.advance(LOCK_MS + 1);
    const answer = await s.post('/auth/mfa/verify', { mfa_token: await mfaToken(s, 'erin'), code: await code() });
    expect(answer.status).toBe(200);
  });

  it('refuses an mfa_token once the password was changed after it was issued', async () => {
    s.identity.clock.advance(3 * STEP_MS);
    const token = await mfaToken(s, 'erin');
    const user = await s.identity.stores.identities.findUserByUsername('erin');
    s.identity.clock.advance(1000);
    await s.identity.stores.identities.revokeUserCredentialsBefore(user!.id, s.identity.clock.now());
    s.identity.clock.advance(1000);
    expect((await s.post('/auth/mfa/verify', { mfa_token: token, code: await code() })).status).toBe(401);
  });
});

describe('step-up', () => {
  let s: Setup;
  let secret: Uint8Array;
  beforeAll(async () => {
    s = await setup('memory');
    ({ secret } = await enrolThroughLogin(s, 'erin'));
  });
  afterAll(async () => {
    await s.harness.close();
    await s.identity.close();
  });

  it('issues a fresh access token (no refresh token) with acr MFA, amr + otp and auth_time now', async () => {
    s.identity.clock.advance(2 * STEP_MS);
    const token = await mfaToken(s, 'erin');
    const login = await s.post('/auth/mfa/verify', { mfa_token: token, code: await generateTotpCode(secret, s.identity.clock.now()) });
    const before = await s.issuer.claims(login.body.access_token as string);
    s.identity.clock.advance(6 * 60_000);
    const stepUp = await s.post('/auth/mfa/step-up', { code: await generateTotpCode(secret, s.identity.clock.now()) }, login.body.access_token as string);
    expect(stepUp.status).toBe(200);
    expect(stepUp.body.refresh_token).toBeUndefined();
    const after = await s.issuer.claims(stepUp.body.access_token as string);
    expect(after.sub).toBe(before.sub);
    expect(after.acr).toBe(ACR_MFA);
    expect(after.amr).toEqual(['pwd', 'otp']);
    expect(after.auth_time).toBe(Math.floor(s.identity.clock.now() / 1000));
    expect(after.auth_time as number).toBeGreaterThan(before.auth_time as number);
  });

  it('refuses without a bearer token, with a wrong or replayed code, and with a token issued before a credential revocation', async () => {
    s.identity.clock.advance(2 * STEP_MS);
    expect((await s.post('/auth/mfa/step-up', { code: await generateTotpCode(secret, s.identity.clock.now()) })).status).toBe(401);
    const login = await s.post('/auth/mfa/verify', { mfa_token: await mfaToken(s, 'erin'), code: await generateTotpCode(secret, s.identity.clock.now()) });
    const bearer = login.body.access_token as string;
    const replay = await s.post('/auth/mfa/step-up', { code: await generateTotpCode(secret, s.identity.clock.now()) }, bearer);
    expect(replay.status).toBe(401);
    expect(replay.body.code).toBe('RAMPART_ERR_INVALID_CREDENTIAL');
    expect((await s.post('/auth/mfa/step-up', { code: 'abcdef' }, bearer)).status).toBe(401);

    s.identity.clock.advance(2 * STEP_MS);
    const user = await s.identity.stores.identities.findUserByUsername('erin');
    await s.identity.stores.identities.revokeUserCredentialsBefore(user!.id, s.identity.clock.now());
    s.identity.clock.advance(1000);
    expect((await s.post('/auth/mfa/step-up', { code: await generateTotpCode(secret, s.identity.clock.now()) }, bearer)).status).toBe(401);
  });
});
