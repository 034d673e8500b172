/**
 * Key, identity and session lifecycle in the audit chain (issue 6): the commands that change consumers, API keys,
 * users, sessions, OAuth clients and the key ring, run as an operator runs them (the `rampart` commands, in this
 * process), against a config whose `audit:` names a SQLite chain. The chain is then read back with
 * `rampart audit export`, checked with `rampart audit verify` (in process and once as a real process), and its raw
 * bytes are searched for every secret the commands handled.
 *
 * Also: no `audit:` section (the commands work and write no chain), an audit store that cannot be opened (the
 * command is refused, nothing changes) and one that refuses the append (the change is made and reported, then the
 * command fails saying the entry is missing).
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import type { Command } from 'commander';
import { describe, expect, it, vi } from 'vitest';
import { auditCategory } from '../src/audit/audit-events.ts';
import { registerAuditCommands } from '../src/cli/audit-commands.ts';
import { registerIdentityCommands } from '../src/cli/identity-commands.ts';
import { runCliInProcess, type CliRun } from '../src/cli/in-process.testkit.ts';
import { registerKeyringCommands } from '../src/cli/keyring-commands.ts';
import { registerOAuthClientCommands } from '../src/cli/oauth-client-commands.ts';
import { registerUserCommands } from '../src/cli/user-commands.ts';
import { generateMasterKey, parseMasterKey } from '../src/crypto/master-key.ts';
import { openStores } from '../src/storage/index.ts';
import { tempDir } from './helpers.ts';

vi.setConfig({ testTimeout: 120_000 });

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin', 'rampart.js');
const PASSWORD = 'cobalt-window-thistle-63';
const NEW_PASSWORD = 'saffron-bridge-lantern-28';
const OPERATOR = `cli:${userInfo().username}`;

interface Entry {
  readonly seq: number;
  readonly type: string;
  readonly actor: string;
  readonly outcome: string;
  readonly details: Record<string, unknown>;
}

function writeConfig(dir: string, masterKey: string, audit: Record<string, unknown> | undefined): string {
  const file = join(dir, 'rampart.json');
  writeFileSync(
    file,
    JSON.stringify({
      mode: 'development',
      listen: { host: '127.0.0.1', port: 0 },
      admin: false,
      storage: `sqlite:${join(dir, 'rampart.db')}`,
      keyring: { masterKey },
      ...(audit ? { audit } : {}),
      routes: [],
    }),
  );
  return file;
}

const identity = (...args: string[]) => runCliInProcess(registerIdentityCommands, ...args);
const clients = (...args: string[]) => runCliInProcess(registerOAuthClientCommands, ...args);
const keyring = (...args: string[]) => runCliInProcess(registerKeyringCommands, ...args);
const audit = (...args: string[]) => runCliInProcess(registerAuditCommands, ...args);
/** `rampart users …` with `stdin` as standard input (the password for --password-stdin). */
function users(stdin: string, ...args: string[]): Promise<CliRun> {
  const register = (program: Command) =>
    registerUserCommands(program, {
      stdin: Readable.from([stdin]),
      out: (line) => void process.stdout.write(`${line}\n`),
      err: (line) => void process.stderr.write(`${line}\n`),
      now: Date.now,
    });
  return runCliInProcess(register, ...args);
}

async function exported(config: string): Promise<Entry[]> {
  const run = await audit('audit', 'export', '-c', config);
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  return run.stdout
    .trim()
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Entry);
}

/** Every file of the SQLite chain (the database and any WAL or journal beside it), concatenated. */
function rawChainBytes(dir: string, name = 'audit.db'): string {
  return readdirSync(dir)
    .filter((file) => file.startsWith(name))
    .map((file) => readFileSync(join(dir, file)).toString('latin1'))
    .join('');
}

function rampartProcess(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: ROOT, timeout: 60_000, env: { ...process.env, NO_COLOR: '1' } }, (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('lifecycle commands append to the configured audit chain', () => {
  const dir = tempDir();
  let masterKey = generateMasterKey();
  const auditDb = join(dir, 'audit.db');
  let config = writeConfig(dir, masterKey, { store: `sqlite:${auditDb}` });
  const secrets: string[] = [PASSWORD, NEW_PASSWORD, masterKey];

  it('records consumers, API keys, users, sessions, clients and key-ring rotations; the chain verifies and holds no secret', async () => {
    // Consumers and API keys.
    expect((await identity('consumers', 'add', 'billing-svc', '--roles', 'billing', '-c', config)).code).toBe(0);
    const created = await identity('api-keys', 'create', '--consumer', 'billing-svc', '--name', 'nightly', '--expires', '30d', '--json', '-c', config);
    expect(created.code).toBe(0);
    const key = JSON.parse(created.stdout) as { key: string; id: string; prefix: string };
    secrets.push(key.key, key.key.slice(key.prefix.length + 1));
    expect((await identity('api-keys', 'revoke', key.prefix, '-c', config)).code).toBe(0);
    // Already revoked: nothing changes, nothing is recorded.
    const again = await identity('api-keys', 'revoke', key.id, '-c', config);
    expect(again.stdout).toMatch(/already revoked/);
    expect((await identity('consumers', 'disable', 'billing-svc', '-c', config)).code).toBe(0);
    expect((await identity('consumers', 'enable', 'billing-svc', '-c', config)).code).toBe(0);

    // Users, with a session and a refresh family to revoke.
    expect((await users(`${PASSWORD}\n`, 'users', 'add', 'alice@example.com', '--roles', 'customer', '--password-stdin', '-c', config)).code).toBe(0);
    const stores = openStores(`sqlite:${join(dir, 'rampart.db')}`, { masterKey: parseMasterKey(masterKey) });
    const alice = (await stores.identities.findUserByUsername('alice@example.com'))!;
    const now = Date.now();
    await stores.sessions.createSession({ idHash: 'session-hash-1', userId: alice.id, createdAt: now, absoluteExpiresAt: now + 3_600_000, idleTimeoutMs: 600_000, amr: ['pwd'] });
    await stores.sessions.createRefreshFamily({ subject: alice.id, scopes: [], amr: ['pwd'], authTime: now, createdAt: now, expiresAt: now + 86_400_000, tokenHash: 'refresh-hash-1' });
    await stores.close();
    const passwd = await users(`${NEW_PASSWORD}\n`, 'users', 'passwd', 'alice@example.com', '--password-stdin', '-c', config);
    expect(passwd.stdout).toMatch(/revoked 1 sessions and 1 refresh-token families/);
    expect(passwd.code).toBe(0);
    expect((await users('', 'users', 'logout', 'alice@example.com', '-c', config)).code).toBe(0);
    expect((await users('', 'users', 'reset-mfa', 'alice@example.com', '-c', config)).code).toBe(0);
    expect((await users('', 'users', 'disable', 'alice@example.com', '-c', config)).code).toBe(0);
    expect((await users('', 'users', 'enable', 'alice@example.com', '-c', config)).code).toBe(0);
    // A listing changes nothing and records nothing.
    expect((await users('', 'users', 'list', '-c', config)).code).toBe(0);

    // OAuth clients.
    const client = await clients('clients', 'add', 'report-job', '--roles', 'reports', '--scopes', 'orders:read', '--json', '-c', config);
    expect(client.code).toBe(0);
    secrets.push((JSON.parse(client.stdout) as { clientSecret: string }).clientSecret);
    expect((await clients('clients', 'disable', 'report-job', '-c', config)).code).toBe(0);
    expect((await clients('clients', 'enable', 'report-job', '-c', config)).code).toBe(0);
    const rotatedSecret = await clients('clients', 'rotate-secret', 'report-job', '--json', '-c', config);
    expect(rotatedSecret.code).toBe(0);
    secrets.push((JSON.parse(rotatedSecret.stdout) as { clientSecret: string }).clientSecret);

    // The key ring: a data key, then the master key (the config names the new one afterwards).
    expect((await keyring('keyring', 'rotate-data-key', '-c', config)).code).toBe(0);
    const newKey = generateMasterKey();
    secrets.push(newKey);
    process.env['RAMPART_TEST_NEW_MASTER_KEY'] = newKey;
    try {
      const rotated = await keyring('keyring', 'rotate', '--new-key-env', 'RAMPART_TEST_NEW_MASTER_KEY', '-c', config);
      expect(rotated.stderr).toBe('');
      expect(rotated.code).toBe(0);
    } finally {
      delete process.env['RAMPART_TEST_NEW_MASTER_KEY'];
    }
    masterKey = newKey;
    config = writeConfig(dir, masterKey, { store: `sqlite:${auditDb}` });

    // Read back: the chain key lives in the ring, so the chain verifies with the new master key too.
    const verify = await audit('audit', 'verify', '-c', config);
    expect(verify.stdout).toMatch(/audit chain intact: 20 entries/);
    expect(verify.code).toBe(0);
    const entries = await exported(config);
    expect(entries.map((e) => e.type)).toEqual([
      'consumer.created',
      'api-key.created',
      'api-key.revoked',
      'consumer.disabled',
      'consumer.enabled',
      'user.created',
      'user.password-changed',
      'session.revoked',
      'session.revoked',
      'mfa.reset',
      'session.revoked',
      'user.disabled',
      'session.revoked',
      'user.enabled',
      'client.created',
      'client.disabled',
      'client.enabled',
      'client.secret-rotated',
      'key.rotated',
      'key.rotated',
    ]);
    const categories = Object.fromEntries(entries.map((e) => [e.type, auditCategory(e.type)]));
    expect(categories).toEqual({
      'consumer.created': 'identity',
      'api-key.created': 'key-lifecycle',
      'api-key.revoked': 'key-lifecycle',
      'consumer.disabled': 'identity',
      'consumer.enabled': 'identity',
      'user.created': 'identity',
      'user.password-changed': 'identity',
      'session.revoked': 'session',
      'mfa.reset': 'mfa',
      'user.disabled': 'identity',
      'user.enabled': 'identity',
      'client.created': 'identity',
      'client.disabled': 'identity',
      'client.enabled': 'identity',
      'client.secret-rotated': 'identity',
      'key.rotated': 'key-lifecycle',
    });
    for (const entry of entries) {
      expect(entry.actor).toBe(OPERATOR);
      expect(entry.outcome).toBe('success');
    }
    const byType = (type: string) => entries.filter((e) => e.type === type).map((e) => e.details);

    expect(byType('api-key.created')[0]).toMatchObject({ keyId: key.id, keyPrefix: key.prefix, keyName: 'nightly', consumer: 'billing-svc', scopes: null });
    expect(byType('api-key.revoked')[0]).toMatchObject({ keyId: key.id, keyPrefix: key.prefix });
    expect(byType('user.created')[0]).toMatchObject({ userId: alice.id, roles: ['customer'], mfaRequired: false });
    // The username (an e-mail address here) is kept as its keyed pseudonym only.
    expect(byType('user.created')[0]!['username']).toMatch(/^p:[0-9a-f]{32}$/);
    expect(byType('session.revoked')).toEqual([
      { userId: alice.id, reason: 'password-changed', sessions: 1, refreshFamilies: 1, accessTokens: 'issued-before' },
      { userId: alice.id, reason: 'admin-logout', sessions: 0, refreshFamilies: 0, accessTokens: 'issued-before' },
      { userId: alice.id, reason: 'mfa-reset', sessions: 0, refreshFamilies: 0, accessTokens: 'issued-before' },
      { userId: alice.id, reason: 'user-disabled', sessions: 0, refreshFamilies: 0, accessTokens: 'issued-before' },
    ]);
    expect(byType('mfa.reset')[0]).toEqual({ userId: alice.id, totpRemoved: false });
    expect(byType('client.created')[0]).toMatchObject({ clientId: 'report-job', roles: ['reports'], scopes: ['orders:read'] });
    expect(byType('client.secret-rotated')[0]).toEqual({ clientId: 'report-job' });
    const [dataKey, master] = byType('key.rotated');
    expect(dataKey).toMatchObject({ kind: 'data-key', keyId: expect.stringMatching(/./) });
    expect(master).toMatchObject({ kind: 'master-key', keyFileReplaced: false });
    expect(master!['entries']).toBeGreaterThan(0);

    // No secret, in any form the commands handled, in the chain's files.
    const raw = rawChainBytes(dir);
    expect(raw.length).toBeGreaterThan(0);
    for (const secret of secrets) expect(raw.includes(secret), 'a secret is in the audit store').toBe(false);
    expect(raw.includes('alice@example.com')).toBe(false);

    // And the real program agrees that the chain is intact.
    const real = await rampartProcess(['audit', 'verify', '-c', config]);
    expect(real.stderr).not.toMatch(/error|broken/i);
    expect(real.code).toBe(0);
  });
});

describe('without audit:, and when the audit store fails', () => {
  it('works and writes no chain when the config has no audit: section', async () => {
    const dir = tempDir();
    const config = writeConfig(dir, generateMasterKey(), undefined);
    const add = await identity('consumers', 'add', 'svc', '-c', config);
    expect(add.stderr).toBe('');
    expect(add.code).toBe(0);
    expect((await users(`${PASSWORD}\n`, 'users', 'add', 'bob', '--password-stdin', '-c', config)).code).toBe(0);
    expect((await users('', 'users', 'logout', 'bob', '-c', config)).code).toBe(0);
    expect((await keyring('keyring', 'rotate-data-key', '-c', config)).code).toBe(0);
    expect(readdirSync(dir).filter((file) => file.includes('audit'))).toEqual([]);
  });

  it('refuses the change when the audit store cannot be opened: nothing happens', async () => {
    const dir = tempDir();
    const blocker = join(dir, 'not-a-directory');
    writeFileSync(blocker, 'x');
    const masterKey = generateMasterKey();
    const config = writeConfig(dir, masterKey, { store: `sqlite:${join(blocker, 'audit.db')}` });
    const add = await identity('consumers', 'add', 'svc', '-c', config);
    expect(add.stderr).toMatch(/cannot open the audit log \(audit:\).*nothing was changed/);
    expect(add.code).toBe(1);
    const users_ = await users(`${PASSWORD}\n`, 'users', 'add', 'carol', '--password-stdin', '-c', config);
    expect(users_.stderr).toMatch(/cannot open the audit log.*nothing was changed/);
    expect(users_.code).toBe(1);
    const stores = openStores(`sqlite:${join(dir, 'rampart.db')}`, { masterKey: parseMasterKey(masterKey) });
    try {
      expect(await stores.identities.findConsumerByName('svc')).toBeUndefined();
      expect(await stores.identities.findUserByUsername('carol')).toBeUndefined();
    } finally {
      await stores.close();
    }
  });

  it('reports the change, then fails loudly, when the audit store refuses the entry', async () => {
    const dir = tempDir();
    const auditDb = join(dir, 'audit.db');
    const masterKey = generateMasterKey();
    const config = writeConfig(dir, masterKey, { store: `sqlite:${auditDb}` });
    expect((await identity('consumers', 'add', 'svc', '-c', config)).code).toBe(0);
    expect((await users(`${PASSWORD}\n`, 'users', 'add', 'dave', '--password-stdin', '-c', config)).code).toBe(0);
    // The store opens, but every append is refused from now on.
    const db = new Database(auditDb);
    db.exec("CREATE TRIGGER refuse_appends BEFORE INSERT ON audit_chain BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;");
    db.close();

    const created = await identity('api-keys', 'create', '--consumer', 'svc', '--json', '-c', config);
    const key = JSON.parse(created.stdout) as { key: string; id: string };
    expect(key.key).toMatch(/^rk_/);
    expect(created.stderr).toMatch(/the change above WAS made, but the audit entry \(api-key\.created\) could not be written: .*refused by the test/);
    expect(created.code).toBe(1);

    const logout = await users('', 'users', 'logout', 'dave', '-c', config);
    expect(logout.stdout).toMatch(/logged dave out everywhere/);
    expect(logout.stderr).toMatch(/WAS made, but the audit entry \(session\.revoked\) could not be written/);
    expect(logout.code).toBe(1);

    const stores = openStores(`sqlite:${join(dir, 'rampart.db')}`, { masterKey: parseMasterKey(masterKey) });
    try {
      expect(await stores.identities.getApiKey(key.id)).toBeDefined();
    } finally {
      await stores.close();
    }
    expect(existsSync(auditDb)).toBe(true);
    const entries = await exported(config);
    expect(entries.map((e) => e.type)).toEqual(['consumer.created', 'user.created']);
  });
});
