import { afterAll, describe, expect, it } from 'vitest';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfigObject } from '../config/load.ts';
import { deriveSecretPepper } from '../crypto/hashing.ts';
import { generateMasterKey, parseMasterKey } from '../crypto/master-key.ts';
import { DEVELOPMENT_KEY_WARNING, EPHEMERAL_KEY_WARNING, openConfiguredStores, type WarningSink } from './configured.ts';
import { StoreConfigError } from './ports.ts';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-configured-'));
  dirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function recordingSink(): WarningSink & { messages: string[] } {
  const messages: string[] = [];
  return { messages, warn: (_details, message) => messages.push(message) };
}

describe('openConfiguredStores', () => {
  it('opens the configured SQLite store with the configured master key and its pepper', async () => {
    const dir = tempDir();
    const text = generateMasterKey();
    const sink = recordingSink();
    const opened = await openConfiguredStores({ mode: 'production', storage: `sqlite:${join(dir, 'data', 'rampart.db')}`, masterKey: text }, { logger: sink });
    try {
      expect(opened.masterKey.equals(parseMasterKey(text))).toBe(true);
      expect(opened.pepper.equals(deriveSecretPepper(parseMasterKey(text)))).toBe(true);
      expect(opened.generatedKeyFile).toBeUndefined();
      expect(sink.messages).toEqual([]);
      const consumer = await opened.stores.identities.createConsumer({ name: 'billing', roles: ['reader'], createdAt: 1 });
      expect((await opened.stores.identities.findConsumerByName('billing'))?.id).toBe(consumer.id);
      // The missing data/ directory was created; no key file is written when a key is configured.
      expect(existsSync(join(dir, 'data', 'rampart.db'))).toBe(true);
      expect(existsSync(join(dir, 'data', 'rampart.db.master-key'))).toBe(false);
    } finally {
      await opened.stores.close();
    }
  });

  it('refuses a malformed master key with a clear error that never echoes it', async () => {
    const badKeys = ['not-a-key', 'a'.repeat(64), generateMasterKey().slice(0, 40)];
    for (const masterKey of badKeys) {
      const attempt = openConfiguredStores({ mode: 'development', storage: 'memory:', masterKey });
      await expect(attempt).rejects.toThrow(StoreConfigError);
      await expect(attempt).rejects.toThrow(/^keyring\.masterKey: /);
      await attempt.catch((error: Error) => expect(error.message).not.toContain(masterKey));
    }
  });

  it('refuses to run production without a master key', async () => {
    await expect(openConfiguredStores({ mode: 'production', storage: 'memory:', masterKey: undefined })).rejects.toThrow(/keyring\.masterKey: is required in production/);
  });

  it('development without a key: creates <db>.master-key (0600) once, warns loudly, and reuses it', async () => {
    const dir = tempDir();
    const db = join(dir, 'rampart.db');
    const sink = recordingSink();
    const first = await openConfiguredStores({ mode: 'development', storage: `sqlite:${db}`, masterKey: undefined }, { logger: sink });
    await first.stores.close();
    expect(first.generatedKeyFile).toBe(`${db}.master-key`);
    expect(statSync(`${db}.master-key`).mode & 0o777).toBe(0o600);
    expect(parseMasterKey(readFileSync(`${db}.master-key`, 'utf8')).equals(first.masterKey)).toBe(true);
    expect(sink.messages).toEqual([DEVELOPMENT_KEY_WARNING]);
    expect(DEVELOPMENT_KEY_WARNING).toMatch(/DEVELOPMENT ONLY/);

    const second = await openConfiguredStores({ mode: 'development', storage: `sqlite:${db}`, masterKey: undefined }, { logger: sink });
    await second.stores.close();
    expect(second.masterKey.equals(first.masterKey)).toBe(true);
    expect(second.pepper.equals(first.pepper)).toBe(true);
  });

  it('development: puts back 0600 on a key file others could read', async () => {
    const dir = tempDir();
    const db = join(dir, 'rampart.db');
    writeFileSync(`${db}.master-key`, generateMasterKey() + '\n');
    chmodSync(`${db}.master-key`, 0o644);
    const sink = recordingSink();
    const opened = await openConfiguredStores({ mode: 'development', storage: `sqlite:${db}`, masterKey: undefined }, { logger: sink });
    await opened.stores.close();
    expect(statSync(`${db}.master-key`).mode & 0o777).toBe(0o600);
    expect(sink.messages.some((message) => /readable by others/.test(message))).toBe(true);
  });

  it('development: a corrupted key file is an error naming the file, not the content', async () => {
    const dir = tempDir();
    const db = join(dir, 'rampart.db');
    writeFileSync(`${db}.master-key`, 'truncated', { mode: 0o600 });
    await expect(openConfiguredStores({ mode: 'development', storage: `sqlite:${db}`, masterKey: undefined })).rejects.toThrow(
      new RegExp(`development master key file ${db.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.master-key: master key must be`),
    );
  });

  it('development with an in-memory store: an ephemeral key and a warning, no file', async () => {
    const sink = recordingSink();
    const first = await openConfiguredStores({ mode: 'development', storage: 'memory:', masterKey: undefined }, { logger: sink });
    const second = await openConfiguredStores({ mode: 'development', storage: 'sqlite::memory:', masterKey: undefined }, { logger: sink });
    await first.stores.close();
    await second.stores.close();
    expect(first.generatedKeyFile).toBeUndefined();
    expect(first.masterKey.equals(second.masterKey)).toBe(false);
    expect(sink.messages).toEqual([EPHEMERAL_KEY_WARNING, EPHEMERAL_KEY_WARNING]);
  });

  it('takes storage and master key from a loaded config (sqlite path relative to the config file)', async () => {
    const dir = tempDir();
    const masterKey = generateMasterKey();
    const result = loadConfigObject(
      {
        listen: { host: '127.0.0.1', port: 0 },
        admin: false,
        mode: 'development',
        storage: 'sqlite:./state/rampart.db',
        keyring: { masterKey: '${env:TEST_MASTER_KEY}' },
        routes: [{ id: 'status', match: { path: '/status' }, upstream: 'http://127.0.0.1:9', public: true }],
      },
      { baseDir: dir, env: { TEST_MASTER_KEY: masterKey } },
    );
    if (!result.ok) throw new Error(result.errors.join('\n'));
    const opened = await openConfiguredStores(result.config);
    await opened.stores.close();
    expect(existsSync(join(dir, 'state', 'rampart.db'))).toBe(true);
    expect(opened.masterKey.equals(parseMasterKey(masterKey))).toBe(true);
  });
});
