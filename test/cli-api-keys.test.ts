/**
 * `rampart consumers …` and `rampart api-keys …` as an operator runs them: one real process of bin/rampart.js per
 * command, against a SQLite file in a temp directory that this test process also
 * opens, with the api-key policy on a real server on port 0, to see revocation and disabling take effect.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { loadConfigFile } from '../src/config/load.ts';
import { deriveSecretPepper, hashSecret } from '../src/crypto/hashing.ts';
import { generateMasterKey, parseMasterKey } from '../src/crypto/master-key.ts';
import { SharedResourcePool } from '../src/gateway/runtime.ts';
import { RecordingSecurityEvents } from '../src/observe/events.ts';
import { createApiKeyHandlers } from '../src/policies/api-key/index.ts';
import { send, startPolicyServer, type PolicyServer } from '../src/policies/api-key/test-harness.ts';
import type { PolicyHandlers } from '../src/policies/types.ts';
import { openConfiguredStores } from '../src/storage/configured.ts';
import { openStores } from '../src/storage/index.ts';
import type { Stores } from '../src/storage/ports.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin', 'rampart.js');
/** Each process starts the whole CLI (through tsx when dist/ is not current): seconds while the suite competes for CPU. */
const PROCESS_TIMEOUT_MS = 50_000;
vi.setConfig({ testTimeout: 120_000, hookTimeout: 60_000 });

const STACK_FRAME = /^\s+at /m;
const KEY = /^(rk_[0-9A-Za-z]{12})_([A-Za-z0-9_-]{43})$/m;

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function run(entry: string[], args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [...entry, ...args], { cwd: ROOT, timeout: PROCESS_TIMEOUT_MS, env: { ...process.env, NO_COLOR: '1', ...env } }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') {
        reject(new Error(`rampart ${args.join(' ')} did not exit normally (${error.signal ?? error.code}): ${stderr}`));
        return;
      }
      if (STACK_FRAME.test(stderr)) {
        reject(new Error(`rampart ${args.join(' ')} printed a stack trace: ${stderr}`));
        return;
      }
      resolve({ code: error ? (error.code as number) : 0, stdout, stderr });
    });
  });
}

const dir = mkdtempSync(join(tmpdir(), 'rampart-cli-keys-'));
const masterKey = generateMasterKey();
const ENV = { RAMPART_MASTER_KEY: masterKey };
const CONFIG = join(dir, 'rampart.yaml');
const DB = join(dir, 'rampart.db');

function writeConfig(file: string, lines: string[]): string {
  writeFileSync(
    file,
    [
      'mode: development',
      'listen: { host: 127.0.0.1, port: 0 }',
      'admin: false',
      ...lines,
      'routes:',
      '  - { id: status, match: { path: /status }, upstream: "http://127.0.0.1:9", public: true }',
      '',
    ].join('\n'),
  );
  return file;
}

/** The identity commands, run as a separate process against CONFIG. */
function rampart(...args: string[]): Promise<Run> {
  return run([BIN], args, ENV);
}

/**
 * Every file SQLite keeps for the database (main file, WAL, shared memory), as raw bytes. Read by a child process:
 * opening and closing the database file in this process, which has it open through SQLite, would drop this
 * process's POSIX advisory locks on it (they are per process, not per descriptor), and another process could then
 * checkpoint and reset the WAL under our open connection.
 */
function rawDatabaseBytes(db: string): Buffer {
  const base = db.split('/').pop()!;
  const folder = db.slice(0, -base.length);
  const files = readdirSync(folder)
    .filter((name) => name.startsWith(base) && !name.endsWith('.master-key'))
    .map((name) => join(folder, name));
  return execFileSync('cat', files, { maxBuffer: 64 * 1024 * 1024 });
}

let stores: Stores;
let server: PolicyServer;
const handlers = new Map<string, PolicyHandlers>();
const shared = new SharedResourcePool();

beforeAll(async () => {
  writeConfig(CONFIG, ['storage: sqlite:./rampart.db', 'keyring: { masterKey: "${env:RAMPART_MASTER_KEY}" }']);
  // The gateway side: the same file and master key, the policy with cacheTtl 0 (revocation is visible at once).
  stores = openStores(`sqlite:${DB}`, { masterKey: parseMasterKey(masterKey) });
  const deps = {
    logger: pino({ level: 'silent' }),
    events: new RecordingSecurityEvents(),
    routeId: 'test-route',
    development: true,
    shared,
    stores,
    pepper: deriveSecretPepper(parseMasterKey(masterKey)),
  };
  handlers.set('api', await createApiKeyHandlers({ header: 'x-api-key', allowQuery: false, queryParam: 'api_key', prefix: 'rk', cacheTtl: 0, realm: 'api' }, deps));
  server = await startPolicyServer((name) => handlers.get(name)!);
});

afterAll(async () => {
  await server?.close();
  await shared.close();
  await stores?.close();
  rmSync(dir, { recursive: true, force: true });
});

const call = (key: string) => send(`${server.url}/api`, { headers: [['x-api-key', key]] });

describe('rampart consumers', () => {
  it('adds consumers with roles and a tenant, and lists them', async () => {
    const added = await rampart('consumers', 'add', 'billing', '--roles', 'reader,writer', '--tenant', 'acme', '-c', CONFIG);
    expect(added).toMatchObject({ code: 0, stderr: '' });
    expect(added.stdout).toMatch(/^added consumer billing \(id con_[A-Za-z0-9_-]+, roles reader,writer, tenant acme\)$/m);
    expect((await rampart('consumers', 'add', 'reports', '-c', CONFIG)).code).toBe(0);

    const listed = await rampart('consumers', 'list', '--json', '-c', CONFIG);
    expect(listed.code).toBe(0);
    const consumers = JSON.parse(listed.stdout) as Array<Record<string, unknown>>;
    expect(consumers.map((c) => [c.name, c.roles, c.tenant, c.status])).toEqual([
      ['billing', ['reader', 'writer'], 'acme', 'enabled'],
      ['reports', [], null, 'enabled'],
    ]);
    const table = await rampart('consumers', 'list', '-c', CONFIG);
    expect(table.stdout).toMatch(/^NAME\s+ROLES\s+TENANT\s+STATUS\s+CREATED\s+ID$/m);
    expect(table.stdout).toMatch(/^billing\s+reader,writer\s+acme\s+enabled\s/m);
  });

  it('refuses a duplicate name (exit 1) and bad input (exit 2) with one line each', async () => {
    const duplicate = await rampart('consumers', 'add', 'billing', '-c', CONFIG);
    expect(duplicate.code).toBe(1);
    expect(duplicate.stderr.trim()).toBe('rampart: a consumer named "billing" already exists');
    for (const args of [
      ['consumers', 'add', 'bad name', '-c', CONFIG],
      ['consumers', 'add', '-leading-dash-is-an-option'],
      ['consumers', 'add', '.hidden', '-c', CONFIG],
      ['consumers', 'add', 'x'.repeat(65), '-c', CONFIG],
      ['consumers', 'add', 'ok', '--roles', 'reader,wr ter', '-c', CONFIG],
      ['consumers', 'add', 'ok', '--roles', 'a\nb', '-c', CONFIG],
      ['consumers', 'add', 'ok', '--tenant', 'acme corp', '-c', CONFIG],
      ['consumers', 'add', 'ok'],
    ]) {
      const result = await rampart(...args);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stdout).toBe('');
    }
    const listed = JSON.parse((await rampart('consumers', 'list', '--json', '-c', CONFIG)).stdout) as unknown[];
    expect(listed).toHaveLength(2);
  });
});

describe('rampart api-keys', () => {
  let key: string;
  let prefix: string;
  let id: string;

  it('create prints the key once, with its prefix and id, and a warning that it will not be shown again', async () => {
    const created = await rampart('api-keys', 'create', '--consumer', 'billing', '--scopes', 'orders:read,orders:write', '--expires', '90d', '--name', 'ci deploy', '-c', CONFIG);
    expect(created.code).toBe(0);
    const match = KEY.exec(created.stdout);
    expect(match).not.toBeNull();
    key = match![0];
    prefix = match![1]!;
    expect(created.stdout.split(key)).toHaveLength(2);
    expect(created.stdout).toMatch(/will not be shown again/);
    expect(created.stdout).toContain(`prefix:   ${prefix}`);
    id = /^id:\s+(key_\S+)$/m.exec(created.stdout)![1]!;
    expect(created.stdout).toMatch(/^scopes:\s+orders:read,orders:write$/m);
    const expires = Date.parse(/^expires:\s+(\S+)$/m.exec(created.stdout)![1]!);
    expect(Math.abs(expires - (Date.now() + 90 * 86_400_000))).toBeLessThan(10 * 60_000);
  });

  it('the SQLite file holds the key hash and prefix but never the key or its secret', async () => {
    const raw = rawDatabaseBytes(DB);
    const secret = key.slice(prefix.length + 1);
    expect(raw.includes(hashSecret(key, deriveSecretPepper(parseMasterKey(masterKey))))).toBe(true);
    expect(raw.includes(prefix)).toBe(true);
    expect(raw.includes(key)).toBe(false);
    expect(raw.includes(secret)).toBe(false);
    expect(raw.includes(secret.slice(0, 20))).toBe(false);
    expect(raw.includes(secret.slice(-20))).toBe(false);
  });

  it('the key authenticates at the gateway as its consumer, narrowed to its scopes', async () => {
    const answer = await call(key);
    expect(answer.outcome).toBe('continue');
    expect(answer.principal).toMatchObject({ subject: 'billing', roles: ['reader', 'writer'], tenant: 'acme', permissions: ['orders:read', 'orders:write'] });
  });

  it('list shows prefix, name, scopes, times and status, never the key or its hash', async () => {
    await new Promise((resolve) => setTimeout(resolve, 50)); // the gateway's fire-and-forget last-use write
    const listed = await rampart('api-keys', 'list', '--json', '-c', CONFIG);
    expect(listed.code).toBe(0);
    const keys = JSON.parse(listed.stdout) as Array<Record<string, unknown>>;
    expect(keys).toEqual([
      {
        id,
        prefix,
        name: 'ci deploy',
        consumer: 'billing',
        scopes: ['orders:read', 'orders:write'],
        createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
        expiresAt: expect.stringMatching(/^\d{4}-/),
        lastUsedAt: expect.stringMatching(/^\d{4}-/),
        status: 'active',
      },
    ]);
    const table = await rampart('api-keys', 'list', '--consumer', 'billing', '-c', CONFIG);
    expect(table.stdout).toMatch(/^PREFIX\s+NAME\s+CONSUMER\s+SCOPES\s+CREATED\s+EXPIRES\s+LAST USED\s+STATUS\s+ID$/m);
    expect(table.stdout).toContain(prefix);
    const hash = hashSecret(key, deriveSecretPepper(parseMasterKey(masterKey)));
    for (const output of [listed.stdout, table.stdout]) {
      expect(output).not.toContain(key.slice(prefix.length + 1));
      expect(output).not.toContain(hash);
    }
    expect(JSON.parse((await rampart('api-keys', 'list', '--consumer', 'reports', '--json', '-c', CONFIG)).stdout)).toEqual([]);
  });

  it('disabling the consumer stops its keys; enabling restores them', async () => {
    expect((await rampart('consumers', 'disable', 'billing', '-c', CONFIG)).stdout).toMatch(/disabled consumer billing/);
    expect((await call(key)).detail).toMatch(/consumer disabled/);
    expect((await rampart('consumers', 'disable', 'billing', '-c', CONFIG)).stdout).toMatch(/already disabled/);
    expect((await rampart('consumers', 'enable', 'billing', '-c', CONFIG)).code).toBe(0);
    expect((await call(key)).outcome).toBe('continue');
    const unknown = await rampart('consumers', 'disable', 'nobody', '-c', CONFIG);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no consumer named "nobody"/);
  });

  it('revoke (by prefix, from another process) takes effect at the gateway; revoking again says so', async () => {
    const revoked = await rampart('api-keys', 'revoke', prefix, '-c', CONFIG);
    expect(revoked).toMatchObject({ code: 0 });
    expect(revoked.stdout).toContain(`revoked API key ${prefix} (id ${id})`);
    const refused = await call(key);
    expect(refused.status).toBe(401);
    expect(refused.detail).toMatch(/key revoked/);
    const again = await rampart('api-keys', 'revoke', id, '-c', CONFIG);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/already revoked at \d{4}-/);
    const listed = JSON.parse((await rampart('api-keys', 'list', '--json', '-c', CONFIG)).stdout) as Array<Record<string, unknown>>;
    expect(listed.find((k) => k.id === id)?.status).toBe('revoked');
  });

  it('revoke by id works, and refuses unknown references (exit 1) and whole keys without echoing them (exit 2)', async () => {
    const created = await rampart('api-keys', 'create', '--consumer', 'reports', '-c', CONFIG);
    const otherKey = KEY.exec(created.stdout)![0];
    const otherId = /^id:\s+(key_\S+)$/m.exec(created.stdout)![1]!;
    expect(created.stdout).toMatch(/^scopes:\s+all of the consumer's roles$/m);
    expect(created.stdout).toMatch(/^expires:\s+never$/m);
    expect((await call(otherKey)).principal?.subject).toBe('reports');

    const whole = await rampart('api-keys', 'revoke', otherKey, '-c', CONFIG);
    expect(whole.code).toBe(2);
    expect(whole.stderr).toMatch(/looks like a whole API key/);
    expect(whole.stderr + whole.stdout).not.toContain(otherKey.slice(-43));
    const unknown = await rampart('api-keys', 'revoke', 'rk_AAAAAAAAAAAA', '-c', CONFIG);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no API key with id or prefix "rk_AAAAAAAAAAAA"/);

    expect((await rampart('api-keys', 'revoke', otherId, '-c', CONFIG)).code).toBe(0);
    expect((await call(otherKey)).detail).toMatch(/key revoked/);
  });

  it('an expired key is listed as expired and refused', async () => {
    const created = await rampart('api-keys', 'create', '--consumer', 'reports', '--expires', '1ms', '--json', '-c', CONFIG);
    expect(created.code).toBe(0);
    const output = JSON.parse(created.stdout) as { key: string; id: string; prefix: string; expiresAt: string };
    expect(output.key.startsWith(`${output.prefix}_`)).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect((await call(output.key)).detail).toMatch(/key expired/);
    const listed = JSON.parse((await rampart('api-keys', 'list', '--json', '-c', CONFIG)).stdout) as Array<Record<string, unknown>>;
    expect(listed.find((k) => k.id === output.id)?.status).toBe('expired');
  });

  it('refuses bad input with exit 2 and an unknown consumer with exit 1', async () => {
    for (const args of [
      ['api-keys', 'create', '--consumer', 'billing', '--expires', '90', '-c', CONFIG],
      ['api-keys', 'create', '--consumer', 'billing', '--expires', '0d', '-c', CONFIG],
      ['api-keys', 'create', '--consumer', 'billing', '--expires', '-5d', '-c', CONFIG],
      ['api-keys', 'create', '--consumer', 'billing', '--expires', '4000d', '-c', CONFIG],
      ['api-keys', 'create', '--consumer', 'billing', '--scopes', 'orders read', '-c', CONFIG],
      ['api-keys', 'create', '--consumer', 'billing', '--scopes', ',', '-c', CONFIG],
      ['api-keys', 'create', '--consumer', 'billing', '--name', 'tab\there', '-c', CONFIG],
      ['api-keys', 'create', '--consumer', 'billing', '--prefix', 'RK', '-c', CONFIG],
      ['api-keys', 'create', '--consumer', 'bad name', '-c', CONFIG],
      ['api-keys', 'create', '-c', CONFIG],
      ['api-keys', 'revoke', 'x y', '-c', CONFIG],
      ['api-keys', 'list', '--consumer', '../etc', '-c', CONFIG],
    ]) {
      const result = await rampart(...args);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stdout).toBe('');
    }
    const unknown = await rampart('api-keys', 'create', '--consumer', 'nobody', '-c', CONFIG);
    expect(unknown.code).toBe(1);
    expect(unknown.stdout).toBe('');
    expect(unknown.stderr.trim()).toBe('rampart: no consumer named "nobody" (add it with: rampart consumers add nobody)');
    expect((await rampart('api-keys', 'list', '--consumer', 'nobody', '-c', CONFIG)).code).toBe(1);
  });
});

describe('config handling', () => {
  it('an invalid config is reported like `rampart config check` (exit 1)', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'mode: development\nlisten: { host: 127.0.0.1, port: 0 }\nroutes: [{ id: x, match: { path: /x }, upstream: "http://127.0.0.1:9" }]\nbogus: 1\n');
    const result = await rampart('consumers', 'list', '-c', bad);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(new RegExp(`^${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: \\d+ errors?$`, 'm'));
    expect(result.stderr).toMatch(/^ {2}\S/m);
    const missing = await rampart('consumers', 'list', '-c', join(dir, 'missing.yaml'));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/cannot be read/);
  });

  it('refuses an in-memory store, whose writes would vanish', async () => {
    const memory = writeConfig(join(dir, 'memory.yaml'), ['storage: "memory:"']);
    const result = await rampart('consumers', 'add', 'ghost', '-c', memory);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/storage is memory:/);
  });

  it('production without a master key: refused before any store is opened (exit 1)', async () => {
    const file = join(dir, 'prod.yaml');
    writeFileSync(
      file,
      [
        'listen: { host: 127.0.0.1, port: 0 }',
        'admin: false',
        'storage: sqlite:./prod.db',
        'routes:',
        '  - { id: s, match: { path: /s }, upstream: "http://127.0.0.1:9", public: true }',
        'acknowledge:',
        '  - { rule: plain-http-listener, path: listen, reason: TLS ends at the load balancer, expires: 2999-12-31 }',
        '',
      ].join('\n'),
    );
    const result = await rampart('consumers', 'list', '-c', file);
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toMatch(/^rampart: cannot open the store: keyring\.masterKey: is required in production/);
    expect(readdirSync(dir).some((name) => name.startsWith('prod.db'))).toBe(false);
  });

  it('a malformed master key is refused without being echoed (exit 1)', async () => {
    const file = writeConfig(join(dir, 'badkey.yaml'), ['storage: sqlite:./badkey.db', 'keyring: { masterKey: "not-a-real-master-key" }']);
    const result = await rampart('consumers', 'list', '-c', file);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^rampart: cannot open the store: keyring\.masterKey: master key must be 32 bytes/m);
    expect(result.stderr).not.toContain('not-a-real-master-key');
  });

  it('development without a master key: a 0600 key file beside the database, a loud warning, and keys that work', async () => {
    const devDir = mkdtempSync(join(dir, 'dev-'));
    const devConfig = writeConfig(join(devDir, 'rampart.yaml'), ['storage: sqlite:./dev.db']);
    const add = await run([BIN], ['consumers', 'add', 'local', '--roles', 'dev', '-c', devConfig]);
    expect(add.code).toBe(0);
    expect(add.stderr).toMatch(/^warning: DEVELOPMENT ONLY: no keyring\.masterKey configured/m);
    const keyFile = join(devDir, 'dev.db.master-key');
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const created = await run([BIN], ['api-keys', 'create', '--consumer', 'local', '-c', devConfig]);
    const devKey = KEY.exec(created.stdout)![0];

    // The gateway opens the same config the same way, so it finds the same key file and accepts the key.
    const loaded = loadConfigFile(devConfig);
    if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
    const opened = await openConfiguredStores(loaded.config);
    const devShared = new SharedResourcePool();
    try {
      expect(opened.generatedKeyFile).toBe(keyFile);
      const devHandlers = await createApiKeyHandlers(
        { header: 'x-api-key', allowQuery: false, queryParam: 'api_key', prefix: 'rk', cacheTtl: 0, realm: 'api' },
        { logger: pino({ level: 'silent' }), events: new RecordingSecurityEvents(), routeId: 'dev', development: true, shared: devShared, stores: opened.stores, pepper: opened.pepper },
      );
      handlers.set('dev', devHandlers);
      expect((await send(`${server.url}/dev`, { headers: [['x-api-key', devKey]] })).principal?.subject).toBe('local');
    } finally {
      handlers.delete('dev');
      await devShared.close();
      await opened.stores.close();
    }
  });
});

describe('the real rampart bin', () => {
  it('runs the identity commands through the real rampart binary', async () => {
    const result = await run([BIN], ['consumers', 'list', '--json', '-c', CONFIG], ENV);
    expect(result.code).toBe(0);
    expect((JSON.parse(result.stdout) as Array<{ name: string }>).map((c) => c.name)).toEqual(['billing', 'reports']);
    const usage = await run([BIN], ['api-keys', 'create', '-c', CONFIG], ENV);
    expect(usage.code).toBe(2);
  });
});
