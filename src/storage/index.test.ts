import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generateMasterKey, parseMasterKey } from '../crypto/master-key.ts';
import { MemoryIdentityStore } from './memory/identities.ts';
import { SqliteIdentityStore } from './sqlite/identities.ts';
import { StoreConfigError, boundCounterKey, openStores } from './index.ts';

const masterKey = parseMasterKey(generateMasterKey());
const scratch = mkdtempSync(join(tmpdir(), 'rampart-open-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('openStores', () => {
  it('opens the memory adapter for memory:', async () => {
    const stores = openStores('memory:', { masterKey });
    expect(stores.identities).toBeInstanceOf(MemoryIdentityStore);
    await stores.identities.createConsumer({ name: 'c', roles: [], createdAt: 1 });
    await stores.close();
  });

  it('opens SQLite in memory for sqlite::memory:', async () => {
    const stores = openStores('sqlite::memory:', { masterKey });
    expect(stores.identities).toBeInstanceOf(SqliteIdentityStore);
    await stores.close();
  });

  it('resolves sqlite:<path> against the working directory and persists across opens', async () => {
    const absolute = join(scratch, 'rampart.db');
    const url = `sqlite:${relative(process.cwd(), absolute)}`;
    const stores = openStores(url, { masterKey, sqlite: { synchronous: 'full', busyTimeoutMs: 1000 } });
    await stores.identities.createConsumer({ name: 'persisted', roles: [], createdAt: 1 });
    await stores.close();
    expect(existsSync(absolute)).toBe(true);
    const again = openStores(`sqlite:${absolute}`, { masterKey });
    expect(await again.identities.findConsumerByName('persisted')).toBeDefined();
    await again.close();
  });

  const refused: [string, RegExp][] = [
    ['', /store URL is empty/],
    ['sqlite:', /needs a file path/],
    ['postgres://rampart:hunter2-SECRET@db.internal/rampart', /unsupported store URL scheme "postgres:"/],
    ['redis://:SECRET@cache:6379', /unsupported store URL scheme "redis:"/],
    ['file.db', /no scheme/],
    ['memory', /no scheme/],
    ['MEMORY:', /unsupported store URL scheme "MEMORY:"/],
  ];
  it.each(refused)('refuses %j with a clear error that never echoes credentials', (url, message) => {
    let caught: unknown;
    try {
      openStores(url, { masterKey });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(StoreConfigError);
    expect((caught as Error).message).toMatch(message);
    expect((caught as Error).message).not.toMatch(/SECRET|hunter2/);
  });

  it('refuses a master key that is not 32 bytes', () => {
    expect(() => openStores('memory:', { masterKey: Buffer.alloc(16, 1) })).toThrow(/exactly 32 bytes/);
  });
});

describe('boundCounterKey', () => {
  it('keeps short keys readable and hashes long ones into a separate namespace', () => {
    expect(boundCounterKey('login:alice')).toBe('r:login:alice');
    const long = 'a'.repeat(129);
    expect(boundCounterKey(long)).toMatch(/^h:[0-9a-f]{64}$/);
    expect(boundCounterKey('a'.repeat(128))).toBe('r:' + 'a'.repeat(128));
    // A short key spelled like a hashed one stays in the raw namespace: no collision.
    const hashed = boundCounterKey(long);
    expect(boundCounterKey(hashed)).toBe('r:' + hashed);
    expect(boundCounterKey(hashed)).not.toBe(hashed);
    expect(() => boundCounterKey('')).toThrow(TypeError);
  });
});
