import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { verify as argon2Verify } from '@node-rs/argon2';
import Database from 'better-sqlite3';
import { hashSecret } from '../../crypto/hashing.ts';
import { hashPassword, PasswordHasher } from '../../crypto/passwords.ts';
import { loginEndpoint } from './endpoint.ts';
import { createLoginMfaState } from './state.ts';
import { call, openTestIdentity, TestTokenIssuer, startHarness, type Harness, type JsonAnswer, type TestIdentity } from './test-support.ts';

const ALICE_PASSWORD = 'violet-otter-cannon-41';
const DAN_PASSWORD = 'quiet-lemon-harbour-77';
const ROOT_PASSWORD = 'granite-paper-falcon-19';

/** A password verifier that really runs argon2 and records which hash each call verified against. */
function spyingHasher(): { hasher: PasswordHasher; verified: string[] } {
  const verified: string[] = [];
  const hasher = new PasswordHasher({
    verify: (hash, password) => {
      verified.push(hash);
      return argon2Verify(hash, password);
    },
  });
  return { hasher, verified };
}

interface Setup {
  identity: TestIdentity;
  harness: Harness;
  issuer: TestTokenIssuer;
  verified: string[];
  dummyHash: string;
  delays: number[];
  hashes: Map<string, string>;
  login(body: unknown, options?: Parameters<typeof call>[1]): Promise<JsonAnswer>;
}

async function setup(kind: 'memory' | 'sqlite', overrides: Parameters<typeof openTestIdentity>[1] = {}): Promise<Setup> {
  const identity = openTestIdentity(kind, overrides);
  const { identities } = identity.stores;
  const now = identity.clock.now();
  const hashes = new Map<string, string>();
  const users: Array<[string, string, { roles?: string[]; disabled?: boolean; mfaRequired?: boolean }]> = [
    ['Alice', ALICE_PASSWORD, { roles: ['customer'] }],
    ['dan', DAN_PASSWORD, { disabled: true }],
    ['root', ROOT_PASSWORD, { roles: ['admin'] }],
    ['flagged', ROOT_PASSWORD, { mfaRequired: true }],
    ['carol', ALICE_PASSWORD, {}],
  ];
  for (const [username, password, extra] of users) {
    const passwordHash = await hashPassword(password);
    hashes.set(username, passwordHash);
    await identities.createUser({ username, passwordHash, roles: extra.roles ?? [], disabled: extra.disabled, mfaRequired: extra.mfaRequired, createdAt: now });
  }
  const issuer = await TestTokenIssuer.create(identity.deps);
  const { hasher, verified } = spyingHasher();
  const delays: number[] = [];
  const state = createLoginMfaState(identity.deps, {
    passwords: hasher,
    delay: async (ms) => {
      delays.push(ms);
    },
  });
  const harness = await startHarness([{ path: '/auth/login', endpoint: loginEndpoint(identity.deps, issuer, { state }) }]);
  return {
    identity,
    harness,
    issuer,
    verified,
    dummyHash: hasher.dummyHash,
    delays,
    hashes,
    login: (body, options = {}) => call(`${harness.url}/auth/login`, { json: body, ...options }),
  };
}

async function teardown(s: Setup | undefined): Promise<void> {
  await s?.harness.close();
  await s?.identity.close();
}

/** The body of a problem without its per-request correlation id, and the response header names that matter. */
function shape(answer: JsonAnswer): { status: number; body: Record<string, unknown>; headers: string[] } {
  const { correlationId, ...body } = answer.body;
  expect(typeof correlationId).toBe('string');
  const headers = [...answer.headers.keys()].filter((name) => !['date', 'x-request-id', 'content-length', 'connection', 'keep-alive'].includes(name)).sort();
  return { status: answer.status, body, headers };
}

describe.each(['memory', 'sqlite'] as const)('login endpoint (%s store)', (kind) => {
  let s: Setup;
  beforeAll(async () => {
    s = await setup(kind);
  });
  afterAll(() => teardown(s));

  it('issues single-factor tokens (amr pwd, auth_time, refresh family in the store) for a user without MFA', async () => {
    const answer = await s.login({ username: 'Alice', password: ALICE_PASSWORD });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('cache-control')).toBe('no-store');
    expect(answer.headers.get('content-type')).toBe('application/json');
    expect(answer.body.token_type).toBe('Bearer');
    const claims = await s.issuer.claims(answer.body.access_token as string);
    const user = await s.identity.stores.identities.findUserByUsername('alice');
    expect(claims.sub).toBe(user!.id);
    expect(claims.amr).toEqual(['pwd']);
    expect(claims.acr).toBeUndefined();
    expect(claims.auth_time).toBe(Math.floor(s.identity.clock.now() / 1000));
    expect(claims.roles).toEqual(['customer']);
    const family = await s.identity.stores.sessions.findRefreshFamilyByToken(hashSecret(answer.body.refresh_token as string, s.identity.deps.pepper));
    expect(family?.subject).toBe(user!.id);
    expect(s.identity.events.events.some((e) => e.type === 'auth.login-succeeded' && e.severity === 'info')).toBe(true);
  });

  const hostile: Array<{ name: string; body?: unknown; raw?: string; contentType?: string; method?: string; status: number; code: string }> = [
    { name: 'wrong password', body: { username: 'Alice', password: 'violet-otter-cannon-42' }, status: 401, code: 'RAMPART_ERR_INVALID_CREDENTIAL' },
    { name: 'unknown user', body: { username: 'mallory', password: ALICE_PASSWORD }, status: 401, code: 'RAMPART_ERR_INVALID_CREDENTIAL' },
    { name: 'disabled user with the right password', body: { username: 'dan', password: DAN_PASSWORD }, status: 401, code: 'RAMPART_ERR_INVALID_CREDENTIAL' },
    { name: 'empty username and password', body: { username: '', password: '' }, status: 401, code: 'RAMPART_ERR_INVALID_CREDENTIAL' },
    { name: 'empty password for a real user', body: { username: 'Alice', password: '' }, status: 401, code: 'RAMPART_ERR_INVALID_CREDENTIAL' },
    { name: 'huge password (300 characters)', body: { username: 'Alice', password: 'x'.repeat(300) }, status: 401, code: 'RAMPART_ERR_INVALID_CREDENTIAL' },
    { name: 'huge username (2000 characters)', body: { username: 'a'.repeat(2000), password: ALICE_PASSWORD }, status: 401, code: 'RAMPART_ERR_INVALID_CREDENTIAL' },
    { name: 'username with a trailing space', body: { username: 'Alice ', password: ALICE_PASSWORD }, status: 401, code: 'RAMPART_ERR_INVALID_CREDENTIAL' },
    { name: 'username with a NUL byte', body: { username: 'Alice\u0000', password: ALICE_PASSWORD }, status: 401, code: 'RAMPART_ERR_INVALID_CREDENTIAL' },
    { name: 'not JSON', raw: 'username=Alice&password=x', status: 400, code: 'RAMPART_ERR_BAD_REQUEST' },
    { name: 'truncated JSON', raw: '{"username":"Alice","password":', status: 400, code: 'RAMPART_ERR_BAD_REQUEST' },
    {
      name: 'duplicate password key (parser differential)',
      raw: `{"username":"Alice","password":"nope","password":"${ALICE_PASSWORD}"}`,
      status: 400,
      code: 'RAMPART_ERR_BAD_REQUEST',
    },
    { name: '__proto__ member', raw: `{"username":"Alice","password":"${ALICE_PASSWORD}","__proto__":{"admin":true}}`, status: 400, code: 'RAMPART_ERR_BAD_REQUEST' },
    { name: 'escaped constructor member', raw: `{"username":"Alice","password":"x","constructo\\u0072":1}`, status: 400, code: 'RAMPART_ERR_BAD_REQUEST' },
    {
      name: 'wrong content type',
      raw: `username=Alice&password=${ALICE_PASSWORD}`,
      contentType: 'application/x-www-form-urlencoded',
      status: 415,
      code: 'RAMPART_ERR_UNSUPPORTED_MEDIA_TYPE',
    },
    { name: 'text/plain JSON', raw: JSON.stringify({ username: 'Alice', password: ALICE_PASSWORD }), contentType: 'text/plain', status: 415, code: 'RAMPART_ERR_UNSUPPORTED_MEDIA_TYPE' },
    { name: 'extra member (mass assignment)', body: { username: 'Alice', password: ALICE_PASSWORD, roles: ['admin'] }, status: 400, code: 'RAMPART_ERR_BAD_REQUEST' },
    { name: 'password as a number', body: { username: 'Alice', password: 12345678901234 }, status: 400, code: 'RAMPART_ERR_BAD_REQUEST' },
    { name: 'password as an object', body: { username: 'Alice', password: { $ne: '' } }, status: 400, code: 'RAMPART_ERR_BAD_REQUEST' },
    { name: 'missing password', body: { username: 'Alice' }, status: 400, code: 'RAMPART_ERR_BAD_REQUEST' },
    { name: 'array body', body: [{ username: 'Alice', password: ALICE_PASSWORD }], status: 400, code: 'RAMPART_ERR_BAD_REQUEST' },
    { name: 'body over maxBodySize', body: { username: 'Alice', password: 'p'.repeat(9000) }, status: 413, code: 'RAMPART_ERR_BODY_TOO_LARGE' },
    { name: 'GET instead of POST', method: 'GET', status: 405, code: 'RAMPART_ERR_METHOD_NOT_ALLOWED' },
  ];

  it(`refuses ${hostile.length} hostile logins with a problem, the credential ones all alike; the next valid login works after each`, async () => {
    const credentialShapes: string[] = [];
    for (const row of hostile) {
      const answer = await call(`${s.harness.url}/auth/login`, {
        method: row.method ?? 'POST',
        ...(row.body !== undefined ? { json: row.body } : {}),
        ...(row.raw !== undefined ? { raw: row.raw } : {}),
        ...(row.contentType !== undefined ? { contentType: row.contentType } : {}),
      });
      expect(answer.status, row.name).toBe(row.status);
      expect(answer.headers.get('content-type'), row.name).toBe('application/problem+json');
      expect(answer.body.code, row.name).toBe(row.code);
      expect(answer.body.access_token, row.name).toBeUndefined();
      if (row.status === 401) credentialShapes.push(JSON.stringify(shape(answer)));

      const valid = await s.login({ username: 'Alice', password: ALICE_PASSWORD });
      expect(valid.status, `valid login after "${row.name}"`).toBe(200);
      expect(typeof valid.body.access_token).toBe('string');
    }
    // Every credential failure (unknown user, wrong password, disabled, empty, over-long) answers byte-for-byte the
    // same apart from the correlation id: nothing tells which accounts exist.
    expect(new Set(credentialShapes).size).toBe(1);
  });

  it('normalises username case and width: ALICE and fullwidth Ａｌｉｃｅ log in as Alice', async () => {
    const alice = await s.identity.stores.identities.findUserByUsername('alice');
    for (const variant of ['ALICE', 'alice', 'Ａｌｉｃｅ', 'ａｌｉｃｅ']) {
      const answer = await s.login({ username: variant, password: ALICE_PASSWORD });
      expect(answer.status, variant).toBe(200);
      expect((await s.issuer.claims(answer.body.access_token as string)).sub).toBe(alice!.id);
    }
  });

  it('asks users who must use MFA and have none to enrol, with an enrolment token instead of tokens', async () => {
    for (const username of ['root', 'flagged']) {
      const answer = await s.login({ username, password: ROOT_PASSWORD });
      expect(answer.status, username).toBe(403);
      expect(answer.body.mfa_enrollment_required).toBe(true);
      expect(answer.body.enrollment_token).toMatch(/^enr_[A-Za-z0-9_-]{43}$/);
      expect(answer.body.access_token).toBeUndefined();
      expect(answer.headers.get('cache-control')).toBe('no-store');
    }
  });

  it('security events carry a reason category and a keyed pseudonym, never the username or the password', async () => {
    const before = s.identity.events.events.length;
    await s.login({ username: 'Alice', password: 'wrong-password-attempt' });
    await s.login({ username: 'nobody-here', password: 'another-wrong-one' });
    const events = s.identity.events.events.slice(before).filter((e) => e.type === 'auth.login-failed');
    expect(events.map((e) => e.details?.reason)).toEqual(['wrong-password', 'unknown-user']);
    for (const event of events) {
      expect(event.severity).toBe('low');
      expect(event.details?.user).toMatch(/^[0-9a-f]{16}$/);
      const text = JSON.stringify(event).toLowerCase();
      for (const secret of ['alice', 'nobody-here', 'wrong-password-attempt', 'another-wrong-one']) expect(text).not.toContain(secret);
    }
    await s.login({ username: 'Alice', password: ALICE_PASSWORD });
  });
});

describe('login runs exactly one argon2id verification, against the dummy hash for unknown users', () => {
  let s: Setup;
  beforeAll(async () => {
    s = await setup('memory');
  });
  afterAll(() => teardown(s));

  it('unknown user: one verification, against the dummy hash', async () => {
    s.verified.length = 0;
    const answer = await s.login({ username: 'mallory', password: ALICE_PASSWORD });
    expect(answer.status).toBe(401);
    expect(s.verified).toEqual([s.dummyHash]);
  });

  it('empty and over-long usernames: one verification, against the dummy hash', async () => {
    for (const username of ['', 'u'.repeat(1000)]) {
      s.verified.length = 0;
      expect((await s.login({ username, password: ALICE_PASSWORD })).status).toBe(401);
      expect(s.verified).toEqual([s.dummyHash]);
    }
  });

  it('known user with a wrong password: one verification, against their own hash', async () => {
    s.verified.length = 0;
    expect((await s.login({ username: 'carol', password: 'not-carols-password' })).status).toBe(401);
    expect(s.verified).toEqual([s.hashes.get('carol')]);
  });

  it('known user with an over-long password: still exactly one verification (the hasher uses the dummy hash)', async () => {
    s.verified.length = 0;
    expect((await s.login({ username: 'carol', password: 'y'.repeat(400) })).status).toBe(401);
    expect(s.verified).toEqual([s.dummyHash]);
  });

  it('disabled user with the right password: one verification, against their own hash, then the same 401', async () => {
    s.verified.length = 0;
    expect((await s.login({ username: 'dan', password: DAN_PASSWORD })).status).toBe(401);
    expect(s.verified).toEqual([s.hashes.get('dan')]);
  });
});

describe('brute-force lockout (per account and per address)', () => {
  let s: Setup;
  beforeAll(async () => {
    s = await setup('memory', { bruteForce: { windowMs: 15 * 60_000, maxFailuresPerAccount: 5, maxFailuresPerAddress: 12, lockForMs: 15 * 60_000 } });
  });
  afterAll(() => teardown(s));

  it('locks an account after 5 failures with progressive delays, refuses even the right password without verifying, and reopens after lockFor', async () => {
    s.delays.length = 0;
    for (let i = 0; i < 5; i += 1) expect((await s.login({ username: 'carol', password: `guess-number-${i}-xx` })).status).toBe(401);
    expect(s.delays).toEqual([250, 500, 1000, 2000]);
    const lockouts = s.identity.events.events.filter((e) => e.type === 'auth.brute-force-lockout');
    expect(lockouts).toHaveLength(1);
    expect(lockouts[0]!.severity).toBe('high');
    expect(lockouts[0]!.details?.scope).toBe('account');

    s.verified.length = 0;
    const locked = await s.login({ username: 'CAROL', password: ALICE_PASSWORD });
    expect(locked.status).toBe(401);
    expect(locked.body.code).toBe('RAMPART_ERR_INVALID_CREDENTIAL');
    expect(s.verified).toEqual([]);
    expect(s.identity.events.events.filter((e) => e.type === 'auth.brute-force-lockout')).toHaveLength(1);

    s.identity.clock.advance(15 * 60_000 + 1);
    expect((await s.login({ username: 'carol', password: ALICE_PASSWORD })).status).toBe(200);
  });

  it('locks names that do not exist exactly like real ones (the lock reveals nothing)', async () => {
    for (let i = 0; i < 5; i += 1) await s.login({ username: 'ghost', password: `guess-number-${i}-yy` });
    s.verified.length = 0;
    expect((await s.login({ username: 'ghost', password: 'guess-number-9-yy' })).status).toBe(401);
    expect(s.verified).toEqual([]);
    s.identity.clock.advance(15 * 60_000 + 1);
  });

  it('locks the client address after maxFailuresPerAddress failures across many names', async () => {
    s.identity.clock.advance(60 * 60_000);
    const before = s.identity.events.events.length;
    for (let i = 0; i < 12; i += 1) await s.login({ username: `spray-${i}`, password: 'Winter2030!spray' });
    const lockout = s.identity.events.events.slice(before).find((e) => e.type === 'auth.brute-force-lockout' && e.details?.scope === 'address');
    expect(lockout).toBeDefined();
    s.verified.length = 0;
    expect((await s.login({ username: 'Alice', password: ALICE_PASSWORD })).status).toBe(401);
    expect(s.verified).toEqual([]);
    s.identity.clock.advance(15 * 60_000 + 1);
    expect((await s.login({ username: 'Alice', password: ALICE_PASSWORD })).status).toBe(200);
  });
});

describe('a damaged second factor fails the login closed (sqlite store)', () => {
  let s: Setup;
  // A store per case: carol's damaged factor must not leak into the next one.
  beforeEach(async () => {
    s = await setup('sqlite');
  });
  afterEach(() => teardown(s));

  interface DamageCase {
    readonly enrol: (userId: string) => Promise<unknown>;
    /** SQL damaging the row, with the user id as its one parameter. */
    readonly damage: string;
    /** The damaged stored text, which must never reach the client. */
    readonly marker: string;
  }
  const cases: Array<[string, DamageCase]> = [
    [
      // No DamagedRecordHandler on the passkey list: a skipped row would make carol look like a user without MFA.
      'a passkey row whose JSON no longer parses',
      {
        enrol: (userId) =>
          s.identity.stores.identities.addWebAuthnCredential({ id: 'cred-carol', userId, publicKey: new Uint8Array([1, 2, 3]), counter: 0, transports: ['usb'], createdAt: s.identity.clock.now() }),
        damage: "UPDATE webauthn_credentials SET transports = '{not json' WHERE user_id = ?",
        marker: 'not json',
      },
    ],
    [
      // A damaged seed is reported at start and no longer stops it (sqlite/keyring.ts verifySealedValues): the read
      // at login is what must fail closed.
      'a TOTP seed that no longer opens',
      {
        enrol: async (userId) => {
          await s.identity.stores.identities.setTotpSecret(userId, Buffer.alloc(20, 5), s.identity.clock.now());
          await s.identity.stores.identities.confirmTotp(userId, s.identity.clock.now());
        },
        damage: "UPDATE totp_secrets SET sealed_secret = 'v2.garbage' WHERE user_id = ?",
        marker: 'garbage',
      },
    ],
  ];

  it.each(cases)('%s: carol is refused instead of being logged in on the password alone; alice still logs in', async (_what, c) => {
    const { identities } = s.identity.stores;
    const carol = (await identities.findUserByUsername('carol'))!;
    await c.enrol(carol.id);
    // With the factor readable, carol is asked for it.
    const asked = await s.login({ username: 'carol', password: ALICE_PASSWORD });
    expect(asked.status).toBe(200);
    expect(asked.body).toMatchObject({ mfa_required: true });

    const raw = new Database(s.identity.databaseFile!);
    expect(raw.prepare(c.damage).run(carol.id).changes).toBe(1);
    raw.close();
    const eventsBefore = s.identity.events.events.length;
    const refused = await s.login({ username: 'carol', password: ALICE_PASSWORD });
    // A generic problem: no tokens, no MFA token, nothing about the stored value.
    expect(refused.status).toBe(500);
    expect(refused.body).toMatchObject({ code: 'RAMPART_ERR_INTERNAL' });
    expect(refused.body).not.toHaveProperty('access_token');
    expect(refused.body).not.toHaveProperty('mfa_token');
    expect(refused.text).not.toContain(c.marker);
    expect(s.identity.events.events.slice(eventsBefore).some((e) => e.type === 'auth.login-succeeded')).toBe(false);
    expect(await s.identity.stores.sessions.listSubjectRefreshFamilies(carol.id)).toEqual([]);

    const alice = await s.login({ username: 'Alice', password: ALICE_PASSWORD });
    expect(alice.status).toBe(200);
    expect(typeof alice.body.access_token).toBe('string');
  });
});
