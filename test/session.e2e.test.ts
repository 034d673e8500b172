/**
 * Browser sessions end to end (issue 3 point 7): the session login and logout endpoints and the `session` policy,
 * over real HTTP and a real SQLite store, with an injected clock.
 *
 * Hosting: the `session` policy is not in the policy registry yet and `rampart:NAME` services are limited to
 * BUILT_IN_SERVICES, so this drives the endpoints and the policy in the login/MFA test harness (a node:http server
 * on port 0 running authenticate → endpoint/echo), not the full gateway.
 */
import { request } from 'node:http';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../src/crypto/passwords.ts';
import { sessionLoginEndpoint, sessionLogoutEndpoint } from '../src/identity/sessions/index.ts';
import { openTestIdentity, startHarness, testPolicyDeps, type Harness, type TestIdentity } from '../src/identity/login/test-support.ts';
import { createSessionHandlers, sessionIdHash } from '../src/policies/session/index.ts';

const PASSWORD = 'correct horse battery staple 42';
const NEW_PASSWORD = 'another long passphrase 2031';

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Record<string, unknown>;
}

/** Raw HTTP so Origin, Referer, Host and repeated Cookie lines are exactly what the test says. */
function send(url: string, method: string, headers: Record<string, string | string[]>, body?: unknown): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = request(url, { method, headers: { ...headers, ...(data !== undefined ? { 'content-type': 'application/json' } : {}) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: Record<string, unknown> = {};
        try {
          parsed = text.length > 0 ? (JSON.parse(text) as Record<string, unknown>) : {};
        } catch {
          parsed = {};
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed });
      });
    });
    req.on('error', reject);
    req.end(data);
  });
}

function setCookieOf(answer: Answer): string {
  const value = answer.headers['set-cookie'];
  expect(Array.isArray(value) && value.length === 1).toBe(true);
  return (value as string[])[0]!;
}

function cookieValue(setCookie: string): string {
  const match = /^__Host-rampart=([^;]*);/.exec(setCookie);
  expect(match).not.toBeNull();
  return match![1]!;
}

describe('browser sessions: login, cookie, policy, CSRF, revocation', () => {
  let identity: TestIdentity;
  let harness: Harness;
  let origin: string;

  beforeAll(async () => {
    identity = openTestIdentity('sqlite');
    const { identities } = identity.stores;
    const passwordHash = await hashPassword(PASSWORD);
    const at = identity.clock.now();
    await identities.createUser({ username: 'alice', passwordHash, roles: ['reader'], tenant: 't1', createdAt: at });
    await identities.createUser({ username: 'bob', passwordHash, roles: ['writer'], createdAt: at });
    await identities.createUser({ username: 'carol', passwordHash, roles: ['reader'], createdAt: at });
    await identities.createUser({ username: 'root', passwordHash, roles: ['admin'], createdAt: at });
    const options = { session: { idle: '30m', absolute: '12h' }, delay: async () => {} };
    harness = await startHarness([
      { path: '/auth/session', endpoint: sessionLoginEndpoint(identity.deps, options) },
      { path: '/auth/session/logout', endpoint: sessionLogoutEndpoint(identity.deps, options) },
      { path: '/api/*', authenticate: 'required' },
    ]);
    const deps = { ...testPolicyDeps(identity.events), stores: identity.stores, pepper: identity.deps.pepper };
    harness.setAuthenticator(createSessionHandlers({ idle: '30m', absolute: '12h' }, deps, { now: identity.clock.now }));
    origin = harness.url;
  });

  afterAll(async () => {
    await harness.close();
    await identity.close();
  });

  async function login(username = 'alice', headers: Record<string, string> = {}): Promise<{ answer: Answer; id: string; csrf: string }> {
    const answer = await send(`${harness.url}/auth/session`, 'POST', headers, { username, password: PASSWORD });
    expect(answer.status).toBe(200);
    return { answer, id: cookieValue(setCookieOf(answer)), csrf: answer.body.csrf_token as string };
  }

  const get = (id: string, extra: Record<string, string | string[]> = {}): Promise<Answer> =>
    send(`${harness.url}/api/items`, 'GET', { cookie: `theme=dark; __Host-rampart=${id}`, ...extra });
  const post = (id: string, extra: Record<string, string | string[]>): Promise<Answer> =>
    send(`${harness.url}/api/items`, 'POST', { cookie: `__Host-rampart=${id}`, ...extra }, { name: 'x' });

  it('answers a CSRF token and sets a __Host- cookie with exactly Path=/; Secure; HttpOnly; SameSite=Strict', async () => {
    const { answer, id, csrf } = await login();
    expect(setCookieOf(answer)).toBe(`__Host-rampart=${id}; Path=/; Secure; HttpOnly; SameSite=Strict`);
    expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(csrf).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(answer.headers['cache-control']).toBe('no-store');
    expect(Object.keys(answer.body)).toEqual(['csrf_token']);
    const ok = await get(id);
    expect(ok.status).toBe(200);
    expect(ok.body.subject).toMatch(/^usr_/);
  });

  it('refuses a wrong password with the login 401 and sets no cookie', async () => {
    const answer = await send(`${harness.url}/auth/session`, 'POST', {}, { username: 'alice', password: 'wrong password here' });
    expect(answer.status).toBe(401);
    expect(answer.body.code).toBe('RAMPART_ERR_INVALID_CREDENTIAL');
    expect(answer.headers['set-cookie']).toBeUndefined();
  });

  it('refuses session login for users who must use MFA with a documented 403 and no session', async () => {
    const answer = await send(`${harness.url}/auth/session`, 'POST', {}, { username: 'root', password: PASSWORD });
    expect(answer.status).toBe(403);
    expect(answer.body.error).toBe('mfa_required');
    expect(setCookieOf(answer)).toMatch(/Max-Age=0$/);
  });

  it('no cookie: the policy is not responsible (401 with the Cookie challenge)', async () => {
    const answer = await send(`${harness.url}/api/items`, 'GET', { cookie: 'theme=dark' });
    expect(answer.status).toBe(401);
    expect(answer.headers['www-authenticate']).toBe('Cookie realm="rampart"');
  });

  it('slides the idle timeout on use and ends the session after 30 idle minutes', async () => {
    const { id } = await login();
    identity.clock.advance(29 * 60_000);
    expect((await get(id)).status).toBe(200);
    identity.clock.advance(29 * 60_000);
    expect((await get(id)).status).toBe(200);
    identity.clock.advance(30 * 60_000 + 1);
    const dead = await get(id);
    expect(dead.status).toBe(401);
    expect(dead.body.code).toBe('RAMPART_ERR_INVALID_CREDENTIAL');
    expect(dead.headers['www-authenticate']).toBe('Cookie realm="rampart"');
    expect(setCookieOf(dead)).toBe('__Host-rampart=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0');
  });

  it('ends an active session at its absolute lifetime (12h) however busy', async () => {
    const { id } = await login();
    for (let i = 0; i < 24; i++) {
      identity.clock.advance(29 * 60_000);
      expect((await get(id)).status, `after ${(i + 1) * 29} minutes`).toBe(200);
    }
    identity.clock.advance(12 * 3_600_000 - 24 * 29 * 60_000);
    expect((await get(id)).status).toBe(401);
  });

  it('no fixation: a new id at each login, and the cookie presented at login is dead afterwards', async () => {
    const first = await login();
    const second = await login('alice', { cookie: `__Host-rampart=${first.id}` });
    expect(second.id).not.toBe(first.id);
    expect((await get(first.id)).status).toBe(401);
    expect((await get(second.id)).status).toBe(200);
    // A planted id that was never issued is not adopted: login answers a fresh one.
    const planted = 'A'.repeat(43);
    const third = await login('alice', { cookie: `__Host-rampart=${planted}` });
    expect(third.id).not.toBe(planted);
    expect((await get(planted)).status).toBe(401);
  });

  it('logout revokes the session and clears the cookie', async () => {
    const { id } = await login();
    const out = await send(`${harness.url}/auth/session/logout`, 'POST', { cookie: `__Host-rampart=${id}` });
    expect(out.status).toBe(204);
    expect(setCookieOf(out)).toBe('__Host-rampart=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0');
    expect((await get(id)).status).toBe(401);
    expect((await send(`${harness.url}/auth/session/logout`, 'POST', { cookie: `__Host-rampart=${id}` })).status).toBe(204);
  });

  it('an admin revoking all sessions of a user (revokeUserSessions) ends them at once', async () => {
    const a = await login('bob');
    const b = await login('bob');
    const bob = await identity.stores.identities.findUserByUsername('bob');
    expect(await identity.stores.sessions.revokeUserSessions(bob!.id, identity.clock.now())).toBeGreaterThanOrEqual(2);
    expect((await get(a.id)).status).toBe(401);
    expect((await get(b.id)).status).toBe(401);
  });

  it('a password change kills every earlier session; a login after it works', async () => {
    const before = await login('carol');
    identity.clock.advance(1000);
    const carol = await identity.stores.identities.findUserByUsername('carol');
    await identity.stores.identities.setPasswordHash(carol!.id, await hashPassword(NEW_PASSWORD), identity.clock.now());
    expect((await get(before.id)).status).toBe(401);
    identity.clock.advance(1000);
    const after = await send(`${harness.url}/auth/session`, 'POST', {}, { username: 'carol', password: NEW_PASSWORD });
    expect(after.status).toBe(200);
    expect((await get(cookieValue(setCookieOf(after)))).status).toBe(200);
  });

  it('a disabled user loses their sessions', async () => {
    const { id } = await login();
    const alice = await identity.stores.identities.findUserByUsername('alice');
    await identity.stores.identities.updateUser(alice!.id, { disabled: true });
    expect((await get(id)).status).toBe(401);
    await identity.stores.identities.updateUser(alice!.id, { disabled: false });
    expect((await get(id)).status).toBe(401);
  });

  it('refuses duplicate and tampered cookies with 401', async () => {
    const { id } = await login();
    const other = await login('bob');
    const rows: Array<[string, string | string[]]> = [
      ['two cookies of our name in one header', `__Host-rampart=${id}; __Host-rampart=${other.id}`],
      ['the same cookie twice', `__Host-rampart=${id}; __Host-rampart=${id}`],
      ['two Cookie header lines', [`__Host-rampart=${id}`, `__Host-rampart=${other.id}`]],
      ['last character changed', `__Host-rampart=${id.slice(0, -1)}${id.endsWith('A') ? 'B' : 'A'}`],
      ['truncated', `__Host-rampart=${id.slice(0, 42)}`],
      ['extended', `__Host-rampart=${id}A`],
      ['quoted', `__Host-rampart="${id}"`],
      ['empty', '__Host-rampart='],
      ['non-base64url', `__Host-rampart=${'%'.repeat(43)}`],
      ['over-long (5,000 characters)', `__Host-rampart=${'A'.repeat(5000)}`],
    ];
    for (const [name, cookie] of rows) {
      const answer = await send(`${harness.url}/api/items`, 'GET', { cookie });
      expect(answer.status, name).toBe(401);
      expect(answer.body.code, name).toBe('RAMPART_ERR_INVALID_CREDENTIAL');
    }
    // A differently-cased name is another cookie (RFC 6265 names are case-sensitive): not ours, not responsible.
    expect((await send(`${harness.url}/api/items`, 'GET', { cookie: `__host-rampart=${id}` })).headers['www-authenticate']).toBe('Cookie realm="rampart"');
    expect((await get(id)).status).toBe(200);
  });

  it('CSRF: refuses hostile unsafe requests with 403 and accepts the same-origin one with the token', async () => {
    const mine = await login();
    const theirs = await login('bob');
    const good = { origin, 'x-csrf-token': mine.csrf };
    const rows: Array<[string, Record<string, string | string[]>]> = [
      ['no Origin and no Referer', { 'x-csrf-token': mine.csrf }],
      ['foreign Origin', { origin: 'https://evil.example', 'x-csrf-token': mine.csrf }],
      ['null Origin', { origin: 'null', 'x-csrf-token': mine.csrf }],
      ['same host, other scheme', { origin: origin.replace('http:', 'https:'), 'x-csrf-token': mine.csrf }],
      ['same host, other port', { origin: `${origin}1`, 'x-csrf-token': mine.csrf }],
      ['foreign Referer without Origin', { referer: 'https://evil.example/page', 'x-csrf-token': mine.csrf }],
      ['non-http Referer', { referer: 'javascript:alert(1)', 'x-csrf-token': mine.csrf }],
      ['two Origin lines', { origin: [origin, 'https://evil.example'], 'x-csrf-token': mine.csrf }],
      ['missing token', { origin }],
      ['empty token', { origin, 'x-csrf-token': '' }],
      ['wrong token', { origin, 'x-csrf-token': 'B'.repeat(43) }],
      ['token of another session', { origin, 'x-csrf-token': theirs.csrf }],
      ['over-long token', { origin, 'x-csrf-token': 'A'.repeat(500) }],
    ];
    for (const [name, headers] of rows) {
      const answer = await post(mine.id, headers);
      expect(answer.status, name).toBe(403);
      expect(answer.body.code, name).toBe('RAMPART_ERR_FORBIDDEN');
    }
    for (const method of ['PUT', 'PATCH', 'DELETE']) {
      expect((await send(`${harness.url}/api/items`, method, { cookie: `__Host-rampart=${mine.id}`, origin })).status, method).toBe(403);
    }
    expect((await post(mine.id, good)).status).toBe(200);
    expect((await post(mine.id, { referer: `${origin}/app/page?x=1`, 'x-csrf-token': mine.csrf })).status).toBe(200);
    expect((await get(mine.id)).status).toBe(200);
    const csrfEvents = identity.events.events.filter((e) => e.type === 'auth.csrf-refused');
    expect(csrfEvents.length).toBeGreaterThanOrEqual(rows.length);
    expect(JSON.stringify(csrfEvents)).not.toContain(mine.csrf);
  });

  it('stores only hashes: the raw SQLite file holds no session id and no CSRF token', async () => {
    const { id, csrf } = await login('bob', {});
    expect(await identity.stores.sessions.getSession(sessionIdHash(id, identity.deps.pepper))).toBeDefined();
    const file = identity.databaseFile!;
    const raw = Buffer.concat([readFileSync(file), ...['-wal', '-shm'].map((s) => { try { return readFileSync(file + s); } catch { return Buffer.alloc(0); } })]);
    expect(raw.includes(Buffer.from(id))).toBe(false);
    expect(raw.includes(Buffer.from(csrf))).toBe(false);
    expect(raw.includes(Buffer.from(sessionIdHash(id, identity.deps.pepper)))).toBe(true);
  });
});
