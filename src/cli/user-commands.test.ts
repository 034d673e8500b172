import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { Command } from 'commander';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { deriveSecretPepper, hashSecret } from '../crypto/hashing.ts';
import { generateMasterKey, parseMasterKey } from '../crypto/master-key.ts';
import { verifyPassword } from '../crypto/passwords.ts';
import { openStores } from '../storage/index.ts';
import { registerUserCommands } from './user-commands.ts';

const PASSWORD = 'cobalt-window-thistle-63';
const NEW_PASSWORD = 'saffron-bridge-lantern-28';

describe('rampart users (in process, against a SQLite store named by a config file)', () => {
  let dir: string;
  let configFile: string;
  let masterKey: string;
  let database: string;
  let clock = Date.UTC(2030, 0, 1);

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'rampart-users-'));
    database = join(dir, 'rampart.db');
    masterKey = generateMasterKey();
    configFile = join(dir, 'rampart.json');
    writeFileSync(
      configFile,
      JSON.stringify({ mode: 'development', listen: { host: '127.0.0.1', port: 0 }, admin: false, storage: `sqlite:${database}`, keyring: { masterKey }, routes: [] }),
    );
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function run(args: string[], stdin = ''): Promise<{ code: number; out: string[]; err: string[] }> {
    const out: string[] = [];
    const err: string[] = [];
    const program = new Command().exitOverride().configureOutput({ writeOut: (t) => out.push(t), writeErr: (t) => err.push(t) });
    registerUserCommands(program, { stdin: Readable.from([stdin]), out: (line) => out.push(line), err: (line) => err.push(line), now: () => clock });
    process.exitCode = 0;
    try {
      await program.parseAsync(['node', 'rampart', ...args]);
    } catch (error) {
      return { code: (error as { exitCode?: number }).exitCode ?? 99, out, err };
    }
    const code = Number(process.exitCode ?? 0);
    process.exitCode = 0;
    return { code, out, err };
  }

  async function withStore<T>(work: (stores: ReturnType<typeof openStores>) => Promise<T>): Promise<T> {
    const stores = openStores(`sqlite:${database}`, { masterKey: parseMasterKey(masterKey) });
    try {
      return await work(stores);
    } finally {
      await stores.close();
    }
  }

  it('adds a user with roles, tenant and mfa-required; the password from stdin is stored only as argon2id', async () => {
    const added = await run(['users', 'add', 'Grace', '--roles', 'admin, billing,admin', '--tenant', 'acme', '--mfa-required', '--password-stdin', '-c', configFile], `${PASSWORD}\n`);
    expect(added.code).toBe(0);
    expect(added.out.join('\n')).toMatch(/created user Grace \(usr_[A-Za-z0-9_-]+\) roles=admin,billing mfa-required/);
    const user = await withStore((stores) => stores.identities.findUserByUsername('grace'));
    expect(user).toMatchObject({ username: 'Grace', roles: ['admin', 'billing'], tenant: 'acme', mfaRequired: true, disabled: false });
    expect(user!.passwordHash.startsWith('$argon2id$')).toBe(true);
    expect(await verifyPassword(user!.passwordHash, PASSWORD)).toBe(true);
    expect(readFileSync(database).includes(Buffer.from(PASSWORD))).toBe(false);
  });

  it('refuses weak passwords with the policy reason, duplicates (case-insensitively), bad roles, and a missing password source', async () => {
    const weak = await run(['users', 'add', 'heidi', '--password-stdin', '-c', configFile], 'password1234\n');
    expect(weak.code).toBe(1);
    expect(weak.err.join('\n')).toContain('password refused: password is too common');
    const short = await run(['users', 'add', 'heidi', '--password-stdin', '-c', configFile], 'short\n');
    expect(short.err.join('\n')).toContain('at least 12 characters');
    const containsName = await run(['users', 'add', 'heidi', '--password-stdin', '-c', configFile], 'heidi-heidi-orchard-9\n');
    expect(containsName.err.join('\n')).toContain('must not contain the username');
    const duplicate = await run(['users', 'add', 'GRACE', '--password-stdin', '-c', configFile], `${PASSWORD}\n`);
    expect(duplicate.code).toBe(1);
    expect(duplicate.err.join('\n')).toContain('already exists');
    const badRole = await run(['users', 'add', 'ivan', '--roles', 'ok,"x y"', '--password-stdin', '-c', configFile], `${PASSWORD}\n`);
    expect(badRole.code).toBe(1);
    const invisible = await run(['users', 'add', 'iv\u200ban', '--password-stdin', '-c', configFile], `${PASSWORD}\n`);
    expect(invisible.err.join('\n')).toContain('invisible');
    const noSource = await run(['users', 'add', 'ivan', '-c', configFile]);
    expect(noSource.code).toBe(1);
    expect(noSource.err.join('\n')).toContain('--password-stdin');
    expect(await withStore((stores) => stores.identities.findUserByUsername('heidi'))).toBeUndefined();
  });

  it('lists users as a table and as JSON without hashes', async () => {
    const table = await run(['users', 'list', '-c', configFile]);
    expect(table.code).toBe(0);
    expect(table.out[1]).toMatch(/^Grace\tusr_\S+\tadmin,billing\tacme\trequired, not enrolled\tactive$/);
    const json = await run(['users', 'list', '--json', '-c', configFile]);
    const rows = JSON.parse(json.out.join('')) as Array<Record<string, unknown>>;
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ username: 'Grace', mfaRequired: true, mfaEnrolled: false, disabled: false });
    expect(json.out.join('')).not.toContain('argon2');
  });

  it('passwd sets the password and revokes sessions, refresh families and earlier tokens', async () => {
    const user = await withStore(async (stores) => {
      const grace = (await stores.identities.findUserByUsername('grace'))!;
      const pepper = deriveSecretPepper(parseMasterKey(masterKey));
      await stores.sessions.createSession({ idHash: hashSecret('session-1', pepper), userId: grace.id, createdAt: clock, absoluteExpiresAt: clock + 3_600_000, idleTimeoutMs: 600_000, amr: ['pwd'] });
      await stores.sessions.createRefreshFamily({ subject: grace.id, scopes: [], amr: ['pwd'], authTime: clock, createdAt: clock, expiresAt: clock + 86_400_000, tokenHash: hashSecret('refresh-1', pepper) });
      return grace;
    });
    clock += 60_000;
    const changed = await run(['users', 'passwd', 'grace', '--password-stdin', '-c', configFile], `${NEW_PASSWORD}\n`);
    expect(changed.code).toBe(0);
    expect(changed.out.join('\n')).toContain('revoked 1 sessions and 1 refresh-token families');
    await withStore(async (stores) => {
      const after = (await stores.identities.getUser(user.id))!;
      expect(await verifyPassword(after.passwordHash, NEW_PASSWORD)).toBe(true);
      expect(await verifyPassword(after.passwordHash, PASSWORD)).toBe(false);
      expect(after.sessionsValidAfter).toBe(clock);
      expect(await stores.sessions.listUserSessions(user.id, clock)).toEqual([]);
    });
    const weak = await run(['users', 'passwd', 'grace', '--password-stdin', '-c', configFile], 'qwertyuiop12\n');
    expect(weak.code).toBe(1);
    const unknown = await run(['users', 'passwd', 'nobody', '--password-stdin', '-c', configFile], `${NEW_PASSWORD}\n`);
    expect(unknown.code).toBe(1);
    expect(unknown.err.join('\n')).toContain('no user "nobody"');
  });

  it('logout revokes every session, refresh family and earlier access token of a user (an administrator\'s revocation)', async () => {
    const user = await withStore(async (stores) => {
      const grace = (await stores.identities.findUserByUsername('grace'))!;
      const pepper = deriveSecretPepper(parseMasterKey(masterKey));
      await stores.sessions.createSession({ idHash: hashSecret('session-admin-1', pepper), userId: grace.id, createdAt: clock, absoluteExpiresAt: clock + 3_600_000, idleTimeoutMs: 600_000, amr: ['pwd'] });
      await stores.sessions.createSession({ idHash: hashSecret('session-admin-2', pepper), userId: grace.id, createdAt: clock, absoluteExpiresAt: clock + 3_600_000, idleTimeoutMs: 600_000, amr: ['pwd'] });
      await stores.sessions.createRefreshFamily({ subject: grace.id, scopes: [], amr: ['pwd'], authTime: clock, createdAt: clock, expiresAt: clock + 86_400_000, tokenHash: hashSecret('refresh-admin-1', pepper) });
      return grace;
    });
    clock += 60_000;
    const result = await run(['users', 'logout', 'grace', '-c', configFile]);
    expect(result.code).toBe(0);
    expect(result.out.join('\n')).toContain('revoked 2 sessions and 1 refresh-token families');
    await withStore(async (stores) => {
      expect(await stores.sessions.listUserSessions(user.id, clock)).toEqual([]);
      expect((await stores.identities.getUser(user.id))!.sessionsValidAfter).toBe(clock);
    });
  });

  it('disable / enable toggle the flag; reset-mfa removes the TOTP secret and recovery codes', async () => {
    expect((await run(['users', 'disable', 'grace', '-c', configFile])).code).toBe(0);
    expect((await withStore((stores) => stores.identities.findUserByUsername('grace')))!.disabled).toBe(true);
    expect((await run(['users', 'enable', 'grace', '-c', configFile])).code).toBe(0);
    expect((await withStore((stores) => stores.identities.findUserByUsername('grace')))!.disabled).toBe(false);

    const userId = await withStore(async (stores) => {
      const grace = (await stores.identities.findUserByUsername('grace'))!;
      await stores.identities.setTotpSecret(grace.id, Buffer.alloc(20, 7), clock);
      await stores.identities.confirmTotp(grace.id, clock);
      await stores.identities.replaceRecoveryCodes(grace.id, ['a'.repeat(64), 'b'.repeat(64)], clock);
      return grace.id;
    });
    clock += 60_000;
    const reset = await run(['users', 'reset-mfa', 'Grace', '-c', configFile]);
    expect(reset.code).toBe(0);
    expect(reset.out.join('\n')).toContain('removed the TOTP secret and recovery codes of Grace');
    await withStore(async (stores) => {
      expect(await stores.identities.getTotp(userId)).toBeUndefined();
      expect(await stores.identities.countUnusedRecoveryCodes(userId)).toBe(0);
      expect((await stores.identities.getUser(userId))!.sessionsValidAfter).toBe(clock);
    });
  });

  it('list prints the readable users when rows are damaged, names each damaged user on stderr and exits 1', async () => {
    await withStore(async (stores) => {
      await stores.identities.createUser({ id: 'usr_ivan', username: 'ivan', passwordHash: 'h', roles: ['ops'], createdAt: clock });
      await stores.identities.createUser({ id: 'usr_judy', username: 'judy', passwordHash: 'h', roles: ['ops'], createdAt: clock + 1 });
      await stores.identities.setTotpSecret('usr_judy', Buffer.alloc(20, 3), clock);
      await stores.identities.confirmTotp('usr_judy', clock);
    });
    const raw = new Database(database);
    raw.prepare("UPDATE users SET roles = '[\"ops\"' WHERE id = 'usr_ivan'").run();
    raw.close();

    const table = await run(['users', 'list', '-c', configFile]);
    expect(table.code).toBe(1);
    expect(table.out.slice(1).map((line) => line.split('\t')[0])).toEqual(['Grace', 'judy']);
    expect(table.out[2]).toMatch(/^judy\tusr_judy\tops\t-\ttotp \(0 codes\)\tactive$/);
    expect(table.err).toEqual(['damaged record: users "usr_ivan": column roles is not valid JSON']);
    const json = await run(['users', 'list', '--json', '-c', configFile]);
    expect(json.code).toBe(1);
    expect((JSON.parse(json.out.join('')) as Array<{ username: string }>).map((row) => row.username)).toEqual(['Grace', 'judy']);
    expect(json.err).toEqual(table.err);
  });

  it('an invalid config file is exit code 1 with its errors', async () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ mode: 'development', listen: { host: '127.0.0.1', port: 0 }, storage: 'ftp://nope', routes: [] }));
    const result = await run(['users', 'list', '-c', bad]);
    expect(result.code).toBe(1);
    expect(result.err.join('\n')).toContain('storage');
  });
});
