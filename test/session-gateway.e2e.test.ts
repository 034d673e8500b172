/**
 * Browser sessions through the running gateway (issue 3, point 7): login at the identity service sets a
 * `__Host-` cookie; the `session` policy authenticates it, demands the CSRF token and a same-origin Origin on
 * unsafe methods, and logout ends it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTestConfig, startRecordingUpstream, startTestGateway, type RecordingUpstream, type TestGateway } from './helpers.ts';
import { openConfiguredStores, type ConfiguredStores } from '../src/storage/configured.ts';
import { hashPassword } from '../src/crypto/passwords.ts';

describe('session cookies through the gateway', () => {
  let upstream: RecordingUpstream;
  let gw: TestGateway;
  let stores: ConfiguredStores;
  const password = 'a long enough password 77';

  beforeAll(async () => {
    upstream = await startRecordingUpstream();
    const doc = {
      storage: 'memory:',
      identity: { issuer: 'https://rampart.test', sessions: { idle: '30m', absolute: '12h' } },
      routes: [
        { id: 'auth', match: { path: '/auth/**' }, upstream: 'rampart:identity', public: true },
        { id: 'app', match: { path: '/app/**' }, upstream: upstream.url, authenticate: ['session'] },
      ],
    };
    stores = await openConfiguredStores(loadTestConfig(doc));
    await stores.stores.identities.createUser({ username: 'carol', passwordHash: await hashPassword(password), roles: ['customer'], createdAt: Date.now() });
    gw = await startTestGateway(doc, { stores });
  });

  afterAll(async () => {
    await gw?.close();
    await stores?.stores.close();
    await upstream?.close();
  });

  it('logs in to a session, uses it with CSRF protection, and logs out', async () => {
    const login = await fetch(`${gw.url}/auth/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'carol', password }),
    });
    expect(login.status).toBe(200);
    const setCookie = login.headers.get('set-cookie')!;
    expect(setCookie).toMatch(/^__Host-rampart=[A-Za-z0-9_-]{43}; Path=\/; Secure; HttpOnly; SameSite=Strict/);
    const cookie = setCookie.split(';')[0]!;
    const { csrf_token } = (await login.json()) as { csrf_token: string };

    const read = await fetch(`${gw.url}/app/profile`, { headers: { cookie } });
    expect(read.status).toBe(200);
    expect(upstream.seen.at(-1)!.headers['x-rampart-auth-method']).toBe('session');
    // The session cookie never reaches the upstream.
    expect(upstream.seen.at(-1)!.headers.cookie).toBeUndefined();

    const origin = gw.url;
    const noToken = await fetch(`${gw.url}/app/profile`, { method: 'POST', headers: { cookie, origin } });
    expect(noToken.status).toBe(403);
    const foreign = await fetch(`${gw.url}/app/profile`, { method: 'POST', headers: { cookie, origin: 'https://evil.example', 'x-csrf-token': csrf_token } });
    expect(foreign.status).toBe(403);
    const ok = await fetch(`${gw.url}/app/profile`, { method: 'POST', headers: { cookie, origin, 'x-csrf-token': csrf_token } });
    expect(ok.status).toBe(200);

    const logout = await fetch(`${gw.url}/auth/session/logout`, { method: 'POST', headers: { cookie } });
    expect(logout.status).toBe(204);
    expect(logout.headers.get('set-cookie')).toContain('Max-Age=0');
    const after = await fetch(`${gw.url}/app/profile`, { headers: { cookie } });
    expect(after.status).toBe(401);
  });
});
