/**
 * `rampart consumers list` and `rampart api-keys list` run in process over a real SQLite store named by a real config
 * file, with damaged rows (stored data is input too): every readable record is printed as usual (table and --json),
 * each damaged one is named on standard error after them, and the command exits 1 so that scripts notice.
 * (test/cli-api-keys.test.ts runs the commands as separate processes for everything else.)
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { generateMasterKey, parseMasterKey } from '../crypto/master-key.ts';
import { openStores } from '../storage/index.ts';
import { runCliInProcess, type CliRun } from './in-process.testkit.ts';
import { registerIdentityCommands } from './identity-commands.ts';

const T0 = Date.UTC(2030, 0, 1);
let dir: string;
let configFile: string;
let database: string;
let masterKey: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rampart-identity-cli-'));
  database = join(dir, 'rampart.db');
  masterKey = generateMasterKey();
  configFile = join(dir, 'rampart.json');
  writeFileSync(configFile, JSON.stringify({ mode: 'development', listen: { host: '127.0.0.1', port: 0 }, admin: false, storage: `sqlite:${database}`, keyring: { masterKey }, routes: [] }));
  const stores = openStores(`sqlite:${database}`, { masterKey: parseMasterKey(masterKey) });
  for (const [n, name] of ['alpha', 'bravo', 'charlie', 'delta'].entries()) {
    await stores.identities.createConsumer({ id: `con_${name}`, name, roles: ['reader'], createdAt: T0 + n });
  }
  for (const [n, id] of ['key_a1', 'key_a2', 'key_a3'].entries()) {
    await stores.identities.createApiKey({ id, consumerId: 'con_alpha', prefix: `rk_test_000${n}`, hash: 'h'.repeat(64), scopes: ['orders:read'], expiresAt: null, createdAt: T0 + n });
  }
  await stores.identities.createApiKey({ id: 'key_c1', consumerId: 'con_charlie', prefix: 'rk_test_0100', hash: 'h'.repeat(64), scopes: null, expiresAt: null, createdAt: T0 + 10 });
  await stores.close();
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

afterEach(() => {
  vi.restoreAllMocks();
  process.exitCode = undefined;
});

/** Runs `rampart …` in process; answers what it printed and its exit code. */
function rampart(...args: string[]): Promise<CliRun> {
  return runCliInProcess(registerIdentityCommands, ...args);
}

function damage(sql: string, ...params: string[]): void {
  const raw = new Database(database);
  try {
    raw.prepare(sql).run(...params);
  } finally {
    raw.close();
  }
}

describe('listings over damaged rows', () => {
  it('lists everything with exit code 0 while every row is readable', async () => {
    const consumers = await rampart('consumers', 'list', '-c', configFile);
    expect(consumers).toMatchObject({ code: 0, stderr: '' });
    expect(consumers.stdout.split('\n').slice(1, -1).map((line) => line.split(/\s+/)[0])).toEqual(['alpha', 'bravo', 'charlie', 'delta']);
    const keys = await rampart('api-keys', 'list', '--json', '-c', configFile);
    expect(keys).toMatchObject({ code: 0, stderr: '' });
    expect((JSON.parse(keys.stdout) as Array<{ id: string }>).map((k) => k.id)).toEqual(['key_a1', 'key_a2', 'key_a3', 'key_c1']);
  });

  it('consumers list: the readable consumers, then one stderr line per damaged one, exit 1 (table and --json)', async () => {
    damage("UPDATE consumers SET roles = '{\"MARKER\":1}' WHERE id = 'con_bravo'");
    const table = await rampart('consumers', 'list', '-c', configFile);
    expect(table.code).toBe(1);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+ROLES\s+TENANT\s+STATUS\s+CREATED\s+ID$/);
    expect(lines.slice(1).map((line) => line.split(/\s+/)[0])).toEqual(['alpha', 'charlie', 'delta']);
    expect(table.stderr).toBe('damaged record: consumers "con_bravo": column roles is not a list of strings\n');
    expect(table.stderr).not.toContain('MARKER');

    const json = await rampart('consumers', 'list', '--json', '-c', configFile);
    expect(json.code).toBe(1);
    expect((JSON.parse(json.stdout) as Array<{ name: string }>).map((c) => c.name)).toEqual(['alpha', 'charlie', 'delta']);
    expect(json.stderr).toBe('damaged record: consumers "con_bravo": column roles is not a list of strings\n');
  });

  it('api-keys list: the readable keys, the damaged key on stderr, exit 1; a damaged consumer is named only when a listed key is its', async () => {
    // con_bravo (damaged above) owns no key: it does not concern the key listing.
    expect(await rampart('api-keys', 'list', '-c', configFile)).toMatchObject({ code: 0, stderr: '' });

    damage("UPDATE api_keys SET scopes = 'orders:read' WHERE id = 'key_a2'");
    const table = await rampart('api-keys', 'list', '-c', configFile);
    expect(table.code).toBe(1);
    expect(table.stdout.trimEnd().split('\n').slice(1).map((line) => line.split(/\s+/).at(-1))).toEqual(['key_a1', 'key_a3', 'key_c1']);
    expect(table.stderr).toBe('damaged record: api_keys "key_a2": column scopes is not valid JSON\n');

    damage("UPDATE consumers SET roles = 'x' WHERE id = 'con_charlie'");
    const json = await rampart('api-keys', 'list', '--json', '-c', configFile);
    expect(json.code).toBe(1);
    const rows = JSON.parse(json.stdout) as Array<{ id: string; consumer: string }>;
    expect(rows.map((row) => [row.id, row.consumer])).toEqual([
      ['key_a1', 'alpha'],
      ['key_a3', 'alpha'],
      // Its consumer is unreadable: the id stands in for the name, and the consumer is named on stderr.
      ['key_c1', 'con_charlie'],
    ]);
    expect(json.stderr.split('\n').filter(Boolean)).toEqual([
      'damaged record: api_keys "key_a2": column scopes is not valid JSON',
      'damaged record: consumers "con_charlie": column roles is not valid JSON',
    ]);

    // Only this consumer's keys: the same damaged key.
    const alpha = await rampart('api-keys', 'list', '--consumer', 'alpha', '--json', '-c', configFile);
    expect(alpha.code).toBe(1);
    expect((JSON.parse(alpha.stdout) as Array<{ id: string }>).map((row) => row.id)).toEqual(['key_a1', 'key_a3']);
    expect(alpha.stderr).toBe('damaged record: api_keys "key_a2": column scopes is not valid JSON\n');
  });

  it('names a hostile stored id on one line, its control and invisible characters escaped', async () => {
    damage("INSERT INTO consumers (id, name, roles, tenant, disabled, created_at) VALUES (?, 'echo', 'nope', NULL, 0, 0)", 'con_\u001b[2J\u202eevil\nnext');
    const listed = await rampart('consumers', 'list', '-c', configFile);
    expect(listed.code).toBe(1);
    const lines = listed.stderr.split('\n').filter(Boolean);
    expect(lines).toContain('damaged record: consumers "con_\\u001b[2J\\u{202e}evil\\nnext": column roles is not valid JSON');
    expect(listed.stderr).not.toContain('\u001b');
    expect(listed.stderr).not.toContain('\u202e');
  });

  it('says when no consumer is readable, and still exits 1', async () => {
    damage("UPDATE consumers SET roles = '' WHERE id IN ('con_alpha', 'con_charlie', 'con_delta')");
    const listed = await rampart('consumers', 'list', '-c', configFile);
    expect(listed.code).toBe(1);
    expect(listed.stdout).toBe('no readable consumers\n');
    expect(listed.stderr.split('\n').filter(Boolean)).toHaveLength(5);
    const json = await rampart('consumers', 'list', '--json', '-c', configFile);
    expect(JSON.parse(json.stdout)).toEqual([]);
    expect(json.code).toBe(1);
  });
});
