import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verify as argon2Verify } from '@node-rs/argon2';
import { hashPassword, PasswordHasher } from '../../crypto/passwords.ts';
import { sessionIdHash, csrfTokenHash } from '../../policies/session/index.ts';
import { call, openTestIdentity, startHarness, type Harness, type TestIdentity } from '../login/test-support.ts';
import { sessionLoginEndpoint, sessionLogoutEndpoint } from './endpoints.ts';

const PASSWORD = 'violet-otter-cannon-41';

describe('session login endpoint (memory store)', () => {
  let identity: TestIdentity;
  let harness: Harness;
  const verified: string[] = [];
  const hasher = new PasswordHasher({
    verify: (hash, password) => {
      verified.push(hash);
      return argon2Verify(hash, password);
    },
  });
  let aliceHash: string;

  beforeAll(async () => {
    identity = openTestIdentity('memory');
    const at = identity.clock.now();
    aliceHash = await hashPassword(PASSWORD);
    await identity.stores.identities.createUser({ username: 'alice', passwordHash: aliceHash, roles: ['reader'], createdAt: at });
    const totpUser = await identity.stores.identities.createUser({ username: 'tina', passwordHash: aliceHash, roles: [], createdAt: at });
    await identity.stores.identities.setTotpSecret(totpUser.id, Buffer.alloc(20, 7), at);
    await identity.stores.identities.confirmTotp(totpUser.id, at);
    await identity.stores.identities.createUser({ username: 'dan', passwordHash: aliceHash, roles: [], disabled: true, createdAt: at });
    const options = { session: { cookie: '__Host-app', idle: '10m', absolute: '1h', sameSite: 'lax' as const }, passwords: hasher, delay: async () => {} };
    harness = await startHarness([
      { path: '/auth/session', endpoint: sessionLoginEndpoint(identity.deps, options) },
      { path: '/auth/session/logout', endpoint: sessionLogoutEndpoint(identity.deps, options) },
    ]);
  });

  afterAll(async () => {
    await harness.close();
    await identity.close();
  });

  it('stores the session with the configured lifetimes, amr pwd and hashed id and CSRF token; cookie name and SameSite from config', async () => {
    const answer = await call(`${harness.url}/auth/session`, { json: { username: 'alice', password: PASSWORD } });
    expect(answer.status).toBe(200);
    const setCookie = answer.headers.get('set-cookie')!;
    const id = /^__Host-app=([A-Za-z0-9_-]{43}); Path=\/; Secure; HttpOnly; SameSite=Lax$/.exec(setCookie)?.[1];
    expect(id).toBeDefined();
    const record = await identity.stores.sessions.getSession(sessionIdHash(id!, identity.deps.pepper));
    const now = identity.clock.now();
    expect(record).toMatchObject({ createdAt: now, absoluteExpiresAt: now + 3_600_000, idleTimeoutMs: 600_000, amr: ['pwd'], revokedAt: null });
    expect(record!.csrfTokenHash).toBe(csrfTokenHash(answer.body.csrf_token as string, identity.deps.pepper));
    expect(record!.idHash).not.toContain(id!);
  });

  it('every credential failure is the login 401, same shape; unknown users verify against the dummy hash', async () => {
    const shapes = new Set<string>();
    for (const [username, password, expected] of [
      ['alice', 'wrong-password-zz', aliceHash],
      ['mallory', PASSWORD, hasher.dummyHash],
      ['', PASSWORD, hasher.dummyHash],
      ['dan', PASSWORD, aliceHash],
    ] as const) {
      verified.length = 0;
      const answer = await call(`${harness.url}/auth/session`, { json: { username, password } });
      expect(answer.status, username).toBe(401);
      expect(answer.headers.get('set-cookie'), username).toBeNull();
      expect(verified, username).toEqual([expected]);
      const { correlationId, ...body } = answer.body;
      expect(typeof correlationId).toBe('string');
      const headers = [...answer.headers.keys()].filter((name) => !['date', 'x-request-id', 'content-length', 'connection', 'keep-alive'].includes(name)).sort();
      shapes.add(JSON.stringify({ body, headers }));
    }
    expect(shapes.size).toBe(1);
  });

  it('refuses bodies that are not a login (extra member, non-string, wrong method)', async () => {
    expect((await call(`${harness.url}/auth/session`, { json: { username: 'alice', password: PASSWORD, roles: ['admin'] } })).status).toBe(400);
    expect((await call(`${harness.url}/auth/session`, { json: { username: 'alice', password: { $ne: '' } } })).status).toBe(400);
    expect((await call(`${harness.url}/auth/session`, { method: 'GET' })).status).toBe(405);
    expect((await call(`${harness.url}/auth/session/logout`, { method: 'GET' })).status).toBe(405);
  });

  it('refuses a user with confirmed TOTP only after the password checked out, and creates no session', async () => {
    const wrong = await call(`${harness.url}/auth/session`, { json: { username: 'tina', password: 'not-her-password' } });
    expect(wrong.status).toBe(401);
    const right = await call(`${harness.url}/auth/session`, { json: { username: 'tina', password: PASSWORD } });
    expect(right.status).toBe(403);
    expect(right.body.error).toBe('mfa_required');
    const tina = await identity.stores.identities.findUserByUsername('tina');
    expect(await identity.stores.sessions.listUserSessions(tina!.id, identity.clock.now())).toEqual([]);
  });

  it('logout without a cookie still answers 204 and clears the cookie', async () => {
    const answer = await call(`${harness.url}/auth/session/logout`, {});
    expect(answer.status).toBe(204);
    expect(answer.headers.get('set-cookie')).toBe('__Host-app=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0');
  });
});
