/**
 * `rampart keyring status | rotate | rotate-data-key` as an operator runs them: the real bin (bin/rampart.js), one
 * process per command, against a SQLite file in a temp directory that this test opens before and after (never while
 * a command runs). Hostile arguments exit 2 without echoing a key; a value still sealed under the old master key's
 * derived key (v1) is re-sealed inside the rotation; the development key file is replaced by the new key.
 */
import { execFile } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { describe, expect, it, vi } from 'vitest';
import { loadConfigFile } from '../src/config/load.ts';
import { hashSecret } from '../src/crypto/hashing.ts';
import { generateMasterKey, parseMasterKey } from '../src/crypto/master-key.ts';
import { SecretBox } from '../src/crypto/secret-box.ts';
import { generateApiKey } from '../src/policies/api-key/keys.ts';
import { openConfiguredStores } from '../src/storage/configured.ts';
import { tempDir } from './helpers.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin', 'rampart.js');
/** Each process compiles TypeScript through tsx: seconds on a cold cache, more while other suites compete for CPU. */
const PROCESS_TIMEOUT_MS = 60_000;
vi.setConfig({ testTimeout: 240_000 });
const STACK_FRAME = /^\s+at /m;
const T0 = 1_750_000_000_000;

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function rampart(args: string[], env: Record<string, string | undefined>): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [BIN, ...args], { cwd: ROOT, timeout: PROCESS_TIMEOUT_MS, env: { ...process.env, NO_COLOR: '1', ...env } }, (error, stdout, stderr) => {
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

function writeConfig(dir: string, lines: string[]): string {
  const file = join(dir, 'rampart.yaml');
  writeFileSync(
    file,
    ['mode: development', 'listen: { host: 127.0.0.1, port: 0 }', 'admin: false', ...lines, 'routes:', '  - { id: status, match: { path: /status }, upstream: "http://127.0.0.1:9", public: true }', ''].join(
      '\n',
    ),
  );
  return file;
}

function loaded(file: string, env: Record<string, string>) {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    const result = loadConfigFile(file);
    if (!result.ok) throw new Error(result.errors.join('\n'));
    return result.config;
  } finally {
    process.env = saved;
  }
}

function spellings(key: Buffer): string[] {
  return [key.toString('hex'), key.toString('base64'), key.toString('base64url')];
}

describe('rampart keyring', () => {
  it('status, rotate-data-key and rotate on a store in use; the old master key is refused afterwards', async () => {
    const dir = tempDir();
    const oldKey = generateMasterKey();
    const newKey = generateMasterKey();
    const config = writeConfig(dir, ['storage: sqlite:./rampart.db', 'keyring: { masterKey: "${env:RAMPART_MASTER_KEY}", rotateDataKeysEvery: 30d }']);
    const OLD = { RAMPART_MASTER_KEY: oldKey };
    const db = join(dir, 'rampart.db');

    const empty = await rampart(['keyring', 'status', '-c', config], OLD);
    expect(empty.code).toBe(0);
    expect(empty.stdout).toContain('key ring: not created yet');

    // The store as a gateway left it: a TOTP seed, an API key; and one value still sealed v1 by an older process.
    const opened = await openConfiguredStores(loaded(config, OLD));
    const ids = opened.stores.identities;
    const alice = await ids.createUser({ username: 'alice', passwordHash: 'h', roles: [], createdAt: T0 });
    const bob = await ids.createUser({ username: 'bob', passwordHash: 'h', roles: [], createdAt: T0 });
    const seed = Buffer.from('planted TOTP seed 20b');
    await ids.setTotpSecret(alice.id, seed, T0);
    const consumer = await ids.createConsumer({ name: 'billing', roles: [], createdAt: T0 });
    const { key, recordPrefix } = generateApiKey();
    await ids.createApiKey({ consumerId: consumer.id, prefix: recordPrefix, hash: hashSecret(key, opened.pepper), scopes: null, expiresAt: null, createdAt: T0 });
    const ringKeys = [parseMasterKey(oldKey), opened.pepper, opened.keyring!.secret('privacy'), opened.keyring!.secret('audit-chain'), opened.keyring!.activeDataKey().key];
    const pepper = opened.pepper;
    await opened.stores.close();
    const raw = new Database(db);
    const legacySeed = Buffer.from('bob seed sealed v1 by an old process');
    raw.prepare('INSERT INTO totp_secrets (user_id, sealed_secret, created_at) VALUES (?, ?, ?)').run(bob.id, new SecretBox(parseMasterKey(oldKey)).seal(legacySeed, `totp_secrets:${bob.id}`), T0);
    raw.close();

    const status = await rampart(['keyring', 'status', '-c', config], OLD);
    expect(status.code).toBe(0);
    expect(status.stdout).toContain(`store: sqlite:${db}`);
    expect(status.stdout).toContain('master key: opens the key ring; last re-wrapped: -');
    expect(status.stdout).toContain('data keys rotate every 30d');
    expect(status.stdout).toMatch(/^ID\s+PURPOSE\s+CREATED\s+RETIRED\s+ACTIVE$/m);
    for (const purpose of ['secrets', 'pepper', 'audit-chain', 'privacy']) expect(status.stdout).toMatch(new RegExp(`^[ds][\\w-]{22}\\s+${purpose}\\s+\\d{4}-`, 'm'));

    const rotateData = await rampart(['keyring', 'rotate-data-key', '-c', config], OLD);
    expect(rotateData.code).toBe(0);
    const newDataKey = /data key (d[\w-]{22}) is active/.exec(rotateData.stdout)?.[1];
    expect(newDataKey).toBeDefined();

    const json = await rampart(['keyring', 'status', '-c', config, '--json'], OLD);
    expect(json.code).toBe(0);
    const parsed = JSON.parse(json.stdout) as { masterKeyOpensRing: boolean; keys: Array<Record<string, unknown>> };
    expect(parsed.masterKeyOpensRing).toBe(true);
    expect(parsed.keys).toHaveLength(5);
    for (const entry of parsed.keys) expect(Object.keys(entry).sort()).toEqual(['active', 'createdAt', 'id', 'purpose', 'retiredAt']);
    const secretsKeys = parsed.keys.filter((entry) => entry.purpose === 'secrets');
    expect(secretsKeys.map((entry) => entry.active).sort()).toEqual([false, true]);
    expect(secretsKeys.find((entry) => entry.active)!.id).toBe(newDataKey);
    // No key material in anything the commands printed.
    for (const output of [status.stdout, json.stdout, rotateData.stdout]) for (const material of ringKeys) for (const s of spellings(material)) expect(output).not.toContain(s);

    // Hostile arguments: usage errors (exit 2), nothing echoed, nothing changed.
    const badValue = 'not-a-key-' + 'Z'.repeat(30);
    const hostile: Array<[string[], Record<string, string | undefined>, RegExp]> = [
      [['keyring', 'rotate', '-c', config], OLD, /required option '--new-key-env <name>'/],
      [['keyring', 'rotate', '-c', config, '--new-key-env', 'A B'], OLD, /--new-key-env must name an environment variable/],
      [['keyring', 'rotate', '-c', config, '--new-key-env', 'RAMPART_UNSET_KEY'], { ...OLD, RAMPART_UNSET_KEY: undefined }, /environment variable RAMPART_UNSET_KEY is not set/],
      [['keyring', 'rotate', '-c', config, '--new-key-env', 'NEW_KEY'], { ...OLD, NEW_KEY: badValue }, /NEW_KEY: master key must be 32 bytes/],
      [['keyring', 'rotate', '-c', config, '--new-key-env', 'NEW_KEY'], { ...OLD, NEW_KEY: oldKey }, /NEW_KEY holds the current master key/],
    ];
    const runs = await Promise.all(hostile.map(([args, env]) => rampart(args, env)));
    for (const [index, run] of runs.entries()) {
      expect(run.code, hostile[index]![0].join(' ')).toBe(2);
      expect(run.stderr).toMatch(hostile[index]![2]);
      expect(run.stderr + run.stdout).not.toContain(badValue);
      expect(run.stderr + run.stdout).not.toContain(oldKey);
    }

    const rotate = await rampart(['keyring', 'rotate', '-c', config, '--new-key-env', 'NEW_KEY'], { ...OLD, NEW_KEY: newKey });
    expect(rotate.code).toBe(0);
    expect(rotate.stdout).toContain(`sqlite:${db}: re-wrapped 5 key ring entries under the new master key; re-sealed 1 secret sealed before the key ring`);
    expect(rotate.stdout).toContain('make keyring.masterKey the new key (the value of NEW_KEY)');
    expect(rotate.stdout + rotate.stderr).not.toContain(newKey);

    // The old key: refused by status (exit 1), by a second rotate (with a hint), and by the stores.
    const stale = await rampart(['keyring', 'status', '-c', config], OLD);
    expect(stale.code).toBe(1);
    expect(stale.stdout).toContain('master key: does NOT open the key ring');
    const again = await rampart(['keyring', 'rotate', '-c', config, '--new-key-env', 'NEW_KEY'], { ...OLD, NEW_KEY: newKey });
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`store sqlite:${db}: the key ring is already wrapped by the key in NEW_KEY; set keyring.masterKey to it`);
    await expect(openConfiguredStores(loaded(config, OLD))).rejects.toThrow(`store sqlite:${db}: keyring.masterKey is not the key that wraps this store's key ring`);

    // The new key reads everything: the seed, the v1 value re-sealed as v2, and the API key hash (same pepper).
    const reopened = await openConfiguredStores(loaded(config, { RAMPART_MASTER_KEY: newKey }));
    try {
      expect(reopened.pepper.equals(pepper)).toBe(true);
      expect((await reopened.stores.identities.findApiKeyByPrefix(recordPrefix))?.hash).toBe(hashSecret(key, reopened.pepper));
      expect((await reopened.stores.identities.getTotp(alice.id))?.secret).toEqual(seed);
      expect((await reopened.stores.identities.getTotp(bob.id))?.secret).toEqual(legacySeed);
    } finally {
      await reopened.stores.close();
    }
    const check = new Database(db, { readonly: true });
    expect(check.prepare("SELECT count(*) AS n FROM totp_secrets WHERE sealed_secret LIKE 'v1.%'").get()).toEqual({ n: 0 });
    check.close();
    const fresh = await rampart(['keyring', 'status', '-c', config], { RAMPART_MASTER_KEY: newKey });
    expect(fresh.code).toBe(0);
    expect(fresh.stdout).toMatch(/master key: opens the key ring; last re-wrapped: \d{4}-/);
  });

  it('development key file: rotate replaces it with the new key; an in-memory store has no ring', async () => {
    const dir = tempDir();
    const config = writeConfig(dir, ['storage: sqlite:./rampart.db']);
    const db = join(dir, 'rampart.db');
    const opened = await openConfiguredStores(loaded(config, {}));
    const pepper = opened.pepper;
    await opened.stores.close();
    const keyFile = `${db}.master-key`;
    const before = readFileSync(keyFile, 'utf8');
    const newKey = generateMasterKey();
    const rotate = await rampart(['keyring', 'rotate', '-c', config, '--new-key-env', 'NEW_KEY'], { NEW_KEY: newKey });
    expect(rotate.code).toBe(0);
    expect(rotate.stdout).toContain(`development key file ${keyFile} now holds the new key`);
    expect(rotate.stderr).toMatch(/DEVELOPMENT ONLY/);
    expect(parseMasterKey(readFileSync(keyFile, 'utf8')).equals(parseMasterKey(newKey))).toBe(true);
    expect(readFileSync(keyFile, 'utf8')).not.toBe(before);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const reopened = await openConfiguredStores(loaded(config, {}));
    expect(reopened.pepper.equals(pepper)).toBe(true);
    await reopened.stores.close();

    const memory = writeConfig(tempDir(), ['storage: "memory:"']);
    const refused = await rampart(['keyring', 'status', '-c', memory], {});
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('storage is memory:: there is no key ring');
  });
});
