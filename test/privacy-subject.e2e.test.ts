/**
 * Data subject export and erasure end to end (issue 7 point 5, "Must show": export and erase of a subject, with
 * `rampart audit verify` still passing after the erase). A real gateway on port 0 with the built-in identity
 * provider, SQLite stores, audit chain and events store in a temp directory; alice and bob log in, refresh, open a
 * session and call an API, a consumer calls it with an API key. Then `bin/rampart.js` runs in child processes as an
 * operator would: `privacy export` (everything about alice, no planted secret anywhere in the output), `privacy
 * erase` (dry run, then --yes), `audit verify` (still intact), and the raw bytes of every database file no longer
 * hold alice's identifiers while bob's are untouched. Hostile subject ids are refused or match nothing.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { hashSecret } from '../src/crypto/hashing.ts';
import { hashPassword } from '../src/crypto/passwords.ts';
import { openConfiguredStores, type ConfiguredStores } from '../src/storage/configured.ts';
import { loadTestConfig, startRecordingUpstream, startTestGateway, tempDir, type RecordingUpstream, type TestGateway } from './helpers.ts';

vi.setConfig({ testTimeout: 120_000, hookTimeout: 120_000 });

const BIN = fileURLToPath(new URL('../bin/rampart.js', import.meta.url));
const STACK_FRAME = /^\s+at /m;
const MASTER_KEY = randomBytes(32).toString('base64');
const ALICE = 'Alice.Smith@Example.com';
const ALICE_PASSWORD = 'alice correct horse battery 42';
const BOB_PASSWORD = 'bob correct horse battery staple 7';
const TOTP_SECRET = randomBytes(20);
const RECOVERY_CODES = ['rc-alice-one-7f3a9c', 'rc-alice-two-b21e44'];

/** Parsed command output, read loosely (the assertions say what is expected). */
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function cli(...args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 90_000, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, NO_COLOR: '1' } }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') return reject(new Error(`rampart ${args.join(' ')} did not exit normally: ${stderr}`));
      if (STACK_FRAME.test(stderr)) return reject(new Error(`rampart ${args.join(' ')} printed a stack trace: ${stderr}`));
      resolve({ code: error ? (error.code as number) : 0, stdout, stderr });
    });
  });
}

/** Every byte of a SQLite store: the file, its WAL and shared-memory files. */
function rawBytes(path: string): string {
  return ['', '-wal', '-shm']
    .map((suffix) => path + suffix)
    .filter((file) => existsSync(file))
    .map((file) => readFileSync(file).toString('latin1'))
    .join('\n');
}

describe('privacy export and erase of a data subject', () => {
  const dir = tempDir();
  const files = { identity: join(dir, 'rampart.db'), audit: join(dir, 'audit.db'), events: join(dir, 'events.db') };
  const configFile = join(dir, 'rampart.json');
  let upstream: RecordingUpstream;
  let gw: TestGateway | undefined;
  let stores: ConfiguredStores;
  let document: Record<string, unknown>;
  const secrets: string[] = [];
  const ids = { alice: '', bob: '' };
  let apiKey = '';

  const post = (path: string, body: unknown) => fetch(`${gw!.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const form = (path: string, fields: Record<string, string>) =>
    fetch(`${gw!.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString() });

  async function login(username: string, password: string): Promise<{ access_token: string; refresh_token: string }> {
    const res = await post('/auth/login', { username, password });
    expect(res.status).toBe(200);
    return (await res.json()) as { access_token: string; refresh_token: string };
  }

  beforeAll(async () => {
    upstream = await startRecordingUpstream();
    document = {
      mode: 'development',
      listen: { host: '127.0.0.1', port: 0 },
      admin: false,
      storage: `sqlite:${files.identity}`,
      keyring: { masterKey: MASTER_KEY },
      identity: { issuer: 'https://rampart.test', accessTokenTtl: '10m', refreshTokenTtl: '14d' },
      audit: { store: `sqlite:${files.audit}` },
      events: { store: `sqlite:${files.events}` },
      privacy: { addresses: 'hash', retention: { audit: '400d', events: '90d', sessions: '30d', accessLogs: '30d' } },
      roles: { customer: { permissions: ['orders:read'] } },
      routes: [
        { id: 'auth', match: { path: '/auth/**' }, upstream: 'rampart:identity', public: true },
        {
          id: 'orders',
          match: { path: '/orders/{orderId}', methods: ['GET'] },
          upstream: upstream.url,
          authenticate: ['identity-token', 'api-key'],
          authorize: { permissions: ['orders:read'] },
          audit: { dataAccess: true },
        },
      ],
    };
    writeFileSync(configFile, JSON.stringify(document));

    // Records made the way an operator makes them: users through the store, the consumer and key through the CLI.
    stores = await openConfiguredStores(loadTestConfig(document));
    const now = Date.now();
    const alice = await stores.stores.identities.createUser({ username: ALICE, passwordHash: await hashPassword(ALICE_PASSWORD), roles: ['customer'], createdAt: now });
    const bob = await stores.stores.identities.createUser({ username: 'bob', passwordHash: await hashPassword(BOB_PASSWORD), roles: ['customer'], createdAt: now });
    ids.alice = alice.id;
    ids.bob = bob.id;
    // An unconfirmed TOTP enrolment (login stays one-factor) and recovery codes: exported as metadata only.
    await stores.stores.identities.setTotpSecret(alice.id, TOTP_SECRET, now);
    await stores.stores.identities.replaceRecoveryCodes(alice.id, RECOVERY_CODES.map((c) => hashSecret(c, stores.pepper)), now);
    await stores.stores.identities.useRecoveryCode(alice.id, hashSecret(RECOVERY_CODES[0]!, stores.pepper), now + 1);
    await stores.stores.close();

    expect((await cli('consumers', 'add', 'reporting', '--roles', 'customer', '-c', configFile)).code).toBe(0);
    const created = await cli('api-keys', 'create', '--consumer', 'reporting', '--scopes', 'orders:read', '--json', '-c', configFile);
    expect(created.code).toBe(0);
    apiKey = (JSON.parse(created.stdout) as { key: string }).key;

    stores = await openConfiguredStores(loadTestConfig(document));
    gw = await startTestGateway(document, { configFile, stores });
    // alice: a failed and a good login, a refresh rotation, a browser session, an API call.
    expect((await post('/auth/login', { username: ALICE, password: 'not alice password at all' })).status).toBe(401);
    const tokens = await login(ALICE, ALICE_PASSWORD);
    const rotated = await form('/auth/token', { grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
    expect(rotated.status).toBe(200);
    const rotatedTokens = (await rotated.json()) as { access_token: string; refresh_token: string };
    const session = await post('/auth/session', { username: ALICE, password: ALICE_PASSWORD });
    expect(session.status).toBe(200);
    const cookie = /^__Host-rampart=([^;]+);/.exec(session.headers.get('set-cookie') ?? '')![1]!;
    const { csrf_token } = (await session.json()) as { csrf_token: string };
    expect((await fetch(`${gw.url}/orders/11`, { headers: { authorization: `Bearer ${rotatedTokens.access_token}` } })).status).toBe(200);
    // bob and the consumer: their records and entries must survive alice's erasure.
    const bobTokens = await login('bob', BOB_PASSWORD);
    expect((await fetch(`${gw.url}/orders/22`, { headers: { authorization: `Bearer ${bobTokens.access_token}` } })).status).toBe(200);
    expect((await fetch(`${gw.url}/orders/33`, { headers: { 'x-api-key': apiKey } })).status).toBe(200);
    await gw.close();
    gw = undefined;
    // A passkey after the logins (with one, login would ask for it).
    await stores.stores.identities.addWebAuthnCredential({ id: 'cred-alice-1', userId: ids.alice, publicKey: randomBytes(77), counter: 3, transports: ['internal'], createdAt: Date.now() });
    const storedAlice = await stores.stores.identities.getUser(ids.alice);
    const family = (await stores.stores.sessions.listSubjectRefreshFamilies(ids.alice))[0]!;
    const sessionRecord = (await stores.stores.sessions.listAllUserSessions(ids.alice))[0]!;
    const keyRecord = (await stores.stores.identities.listApiKeys())[0]!;
    await stores.stores.close();

    secrets.push(
      ALICE_PASSWORD,
      BOB_PASSWORD,
      tokens.access_token,
      tokens.refresh_token,
      rotatedTokens.access_token,
      rotatedTokens.refresh_token,
      bobTokens.access_token,
      bobTokens.refresh_token,
      cookie,
      csrf_token,
      apiKey,
      ...RECOVERY_CODES,
      TOTP_SECRET.toString('hex'),
      TOTP_SECRET.toString('base64'),
      TOTP_SECRET.toString('base64url'),
      storedAlice!.passwordHash,
      family.currentTokenHash,
      sessionRecord.idHash,
      sessionRecord.csrfTokenHash!,
      keyRecord.hash,
      MASTER_KEY,
    );
  });

  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
  });

  it('exports everything about alice as JSON, and no secret', async () => {
    const run = await cli('privacy', 'export', '--subject', ALICE, '-c', configFile);
    expect(run.code).toBe(0);
    for (const secret of secrets) expect(run.stdout).not.toContain(secret);
    const doc = JSON.parse(run.stdout) as Json;
    expect(doc.subject).toEqual({ query: ALICE, kind: 'user', id: ids.alice });
    expect(doc.identity.user).toMatchObject({ id: ids.alice, username: ALICE, roles: ['customer'], disabled: false });
    expect(doc.identity.user).not.toHaveProperty('passwordHash');
    expect(doc.identity.user.totp).toEqual({ enrolledAt: expect.any(String), confirmedAt: null });
    expect(doc.identity.user.recoveryCodes).toEqual({ issued: 2, unused: 1, usedAt: [expect.any(String)] });
    expect(doc.identity.user.webauthnCredentials).toEqual([expect.objectContaining({ id: 'cred-alice-1', counter: 3, transports: ['internal'] })]);
    expect(doc.sessions).toHaveLength(1);
    expect(doc.sessions[0]).toMatchObject({ userId: ids.alice, active: true, amr: ['pwd'] });
    // One family: the refresh rotated inside it (RFC 9700); its token hashes are not exported.
    expect(doc.refreshTokenFamilies).toHaveLength(1);
    expect(doc.refreshTokenFamilies[0]).toMatchObject({ subject: ids.alice, revokedAt: null, rotatedAt: expect.any(String) });
    expect(doc.refreshTokenFamilies[0]).not.toHaveProperty('currentTokenHash');
    const types = (doc.audit.entries as Array<{ type: string }>).map((e) => e.type);
    // The failed login is found by its brute-force reference, the good ones by the user id.
    expect(types).toEqual(expect.arrayContaining(['auth.login-failed', 'auth.login-succeeded', 'auth.succeeded', 'data.access']));
    expect((doc.audit.entries as Array<{ actor: string; requestId: string }>).every((e) => e.actor !== ids.bob)).toBe(true);
    expect(doc.events.rows.length).toBeGreaterThanOrEqual(3);
    expect(doc.omitted.map((o: { what: string }) => o.what)).toEqual(expect.arrayContaining(['password hash (argon2id)', 'TOTP seed']));
    expect(doc.notHeldHere.map((n: { what: string }) => n.what).join(' ')).toMatch(/deprecation usage/);
  });

  it('exports a consumer with its key metadata (prefix, scopes, dates), never the key or its hash', async () => {
    const run = await cli('privacy', 'export', '--subject', 'reporting', '-c', configFile);
    expect(run.code).toBe(0);
    for (const secret of secrets) expect(run.stdout).not.toContain(secret);
    const doc = JSON.parse(run.stdout) as Json;
    expect(doc.subject.kind).toBe('consumer');
    expect(doc.identity.consumer.apiKeys).toEqual([expect.objectContaining({ prefix: expect.stringMatching(/^[A-Za-z0-9_]+$/), scopes: ['orders:read'], revokedAt: null })]);
    expect(Object.keys(doc.identity.consumer.apiKeys[0]).sort()).toEqual(['createdAt', 'expiresAt', 'id', 'lastUsedAt', 'name', 'prefix', 'revokedAt', 'scopes']);
    // The API-key request is in the audit log under the consumer's name.
    expect((doc.audit.entries as Array<{ actor: string }>).some((e) => e.actor === 'reporting')).toBe(true);
  });

  it('writes an export to a new owner-only file and never overwrites one', async () => {
    const out = join(dir, 'alice-export.json');
    expect((await cli('privacy', 'export', '--subject', ids.alice, '-c', configFile, '--out', out)).code).toBe(0);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(out, 'utf8')).subject.id).toBe(ids.alice);
    const again = await cli('privacy', 'export', '--subject', ids.alice, '-c', configFile, '--out', out);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/exists/);
  });

  it.each([
    ['empty', ''],
    ['too long', 'a'.repeat(5000)],
    ['reserved', 'anonymous'],
    ['reserved tombstone actor', '[erased]'],
    ['a control character', 'alice\u001b[31m'],
  ])('refuses a %s subject id with a usage error and no stack', async (_name, subject) => {
    const run = await cli('privacy', 'export', '--subject', subject, '-c', configFile);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr.length).toBeLessThan(400);
  });

  it.each([['%'], ['_'], ["' OR '1'='1"], ['*'], ['usr_%'], ['"; DROP TABLE users; --'], ['ａｌｉｃｅ']])('an id %j that names nobody matches nothing', async (subject) => {
    const run = await cli('privacy', 'export', '--subject', subject, '-c', configFile);
    expect(run.code).toBe(0);
    const doc = JSON.parse(run.stdout) as Json;
    expect(doc.subject.kind).toBe('external');
    expect(doc.audit.entries).toEqual([]);
    expect(doc.events.rows).toEqual([]);
    expect(doc.sessions).toEqual([]);
  });

  it('finds a user by the NFKC, case-insensitive form of the username', async () => {
    const run = await cli('privacy', 'export', '--subject', 'ｂｏｂ', '-c', configFile);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout).subject).toMatchObject({ kind: 'user', id: ids.bob });
  });

  it('asks which one when an id names records of two kinds', async () => {
    expect((await cli('consumers', 'add', 'bob', '--roles', 'customer', '-c', configFile)).code).toBe(0);
    const run = await cli('privacy', 'erase', '--subject', 'bob', '-c', configFile, '--yes');
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--kind user\|consumer/);
    const user = await cli('privacy', 'export', '--subject', 'bob', '--kind', 'user', '-c', configFile);
    expect(JSON.parse(user.stdout).subject).toMatchObject({ kind: 'user', id: ids.bob });
    const consumer = await cli('privacy', 'export', '--subject', 'bob', '--kind', 'consumer', '-c', configFile);
    expect(JSON.parse(consumer.stdout).subject.kind).toBe('consumer');
    expect((await cli('privacy', 'export', '--subject', 'bob', '--kind', 'robot', '-c', configFile)).code).toBe(2);
  });

  it('erases alice: a dry run changes nothing, --yes erases, audit verify still passes, bob is untouched', async () => {
    const before = await cli('privacy', 'export', '--subject', ids.alice, '-c', configFile);
    const aliceEntries = (JSON.parse(before.stdout).audit.entries as unknown[]).length;
    // The keyed account reference of the failed login (BruteForceGuard.userRef): gone after the erasure too.
    const userRef = (JSON.parse(before.stdout).audit.entries as Array<{ type: string; details: { user?: string } }>).find((e) => e.type === 'auth.login-failed')!.details.user!;
    expect(userRef).toMatch(/^[0-9a-f]{16}$/);
    const bobBefore = JSON.parse((await cli('privacy', 'export', '--subject', ids.bob, '-c', configFile)).stdout) as Json;
    expect(bobBefore.audit.entries.length).toBeGreaterThan(0);

    const dry = await cli('privacy', 'erase', '--subject', ALICE, '-c', configFile, '--json');
    expect(dry.code).toBe(0);
    const plan = JSON.parse(dry.stdout) as Json;
    expect(plan).toMatchObject({ applied: false, erasure: null, identity: { user: true, sessions: 1, refreshTokenFamilies: 1, totp: true, recoveryCodes: 2, webauthnCredentials: 1 } });
    expect(plan.audit.erased).toBe(aliceEntries);
    const strip = (text: string) => text.replace(/"generatedAt": "[^"]+"/, '');
    expect(strip((await cli('privacy', 'export', '--subject', ids.alice, '-c', configFile)).stdout)).toBe(strip(before.stdout));

    const erase = await cli('privacy', 'erase', '--subject', ALICE, '-c', configFile, '--yes', '--reference', 'DSR-2026-0042 from alice@example.com');
    expect(erase.code).toBe(0);
    expect(erase.stdout).toMatch(new RegExp(`audit \\(sqlite:.*\\): ${aliceEntries} entries replaced by tombstones; recorded at seq \\d+`));
    expect(erase.stdout).toMatch(/events \(sqlite:.*\): \d+ row\(s\) deleted/);
    for (const secret of secrets) expect(erase.stdout).not.toContain(secret);

    const verify = await cli('audit', 'verify', '-c', configFile);
    expect(verify.stderr).not.toMatch(/error|broken/i);
    expect(verify.code).toBe(0);
    expect(verify.stdout).toMatch(/^audit chain intact: \d+ entries/);

    const after = JSON.parse((await cli('privacy', 'export', '--subject', ids.alice, '-c', configFile)).stdout) as Json;
    expect(after.subject.kind).toBe('external');
    expect(after.identity).toEqual({ user: null, consumer: null, oauthClient: null });
    expect(after.sessions).toEqual([]);
    expect(after.refreshTokenFamilies).toEqual([]);
    expect(after.audit.entries).toEqual([]);
    expect(after.events.rows).toEqual([]);
    // The erasure itself is on record, naming alice only by her keyed reference, with the ticket (e-mail pseudonymised).
    expect(after.audit.erasures).toEqual([expect.objectContaining({ subject: expect.stringMatching(/^e:[0-9a-f]{32}$/), entries: aliceEntries, reference: expect.stringMatching(/^DSR-2026-0042 from p:[0-9a-f]{32}$/) })]);

    const bobAfter = JSON.parse((await cli('privacy', 'export', '--subject', ids.bob, '-c', configFile)).stdout) as Json;
    expect(bobAfter.audit.entries).toEqual(bobBefore.audit.entries);
    expect(bobAfter.identity.user).toEqual(bobBefore.identity.user);
    expect(bobAfter.refreshTokenFamilies).toEqual(bobBefore.refreshTokenFamilies);
    const reporting = JSON.parse((await cli('privacy', 'export', '--subject', 'reporting', '-c', configFile)).stdout) as Json;
    expect(reporting.identity.consumer.apiKeys).toHaveLength(1);

    // The bytes of every store: alice's identifiers are gone; bob's are still there (so the search works).
    const aliceForms = [ids.alice, ALICE, ALICE.toLowerCase(), 'cred-alice-1', userRef];
    for (const file of Object.values(files)) {
      const bytes = rawBytes(file);
      for (const form of aliceForms) expect(bytes, `${form} in ${file}`).not.toContain(form);
    }
    expect(rawBytes(files.identity)).toContain(ids.bob);
    expect(rawBytes(files.audit)).toContain(ids.bob);

    // The gateway starts again on the erased stores: alice cannot log in, bob can.
    stores = await openConfiguredStores(loadTestConfig(document));
    gw = await startTestGateway(document, { configFile, stores });
    expect((await post('/auth/login', { username: ALICE, password: ALICE_PASSWORD })).status).toBe(401);
    await login('bob', BOB_PASSWORD);
    await gw.close();
    gw = undefined;
    await stores.stores.close();
    expect((await cli('audit', 'verify', '-c', configFile)).code).toBe(0);

    // Erasing again finds nothing more and keeps the chain intact.
    const again = await cli('privacy', 'erase', '--subject', ids.alice, '-c', configFile, '--yes', '--json');
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ applied: true, audit: { erased: 0 }, events: { deleted: 0 }, identity: { user: false } });
    expect((await cli('audit', 'verify', '-c', configFile)).code).toBe(0);
  });

  it('an erase of an id that names nobody changes nothing', async () => {
    const bobBefore = (await cli('privacy', 'export', '--subject', ids.bob, '-c', configFile)).stdout;
    for (const subject of ['%', '_', "' OR '1'='1"]) {
      const run = await cli('privacy', 'erase', '--subject', subject, '-c', configFile, '--yes', '--json');
      expect(run.code).toBe(0);
      expect(JSON.parse(run.stdout)).toMatchObject({ audit: { erased: 0 }, events: { deleted: 0 } });
    }
    const bobAfter = (await cli('privacy', 'export', '--subject', ids.bob, '-c', configFile)).stdout;
    const strip = (text: string) => text.replace(/"generatedAt": "[^"]+"/, '');
    expect(strip(bobAfter)).toBe(strip(bobBefore));
    expect((await cli('audit', 'verify', '-c', configFile)).code).toBe(0);
  });
});
