/**
 * Entry point of the storage layer: `openStores(url, options)` picks the adapter from the URL.
 *
 *   memory:              everything in process memory (tests, throwaway runs)
 *   sqlite:<path>        embedded SQLite file, path relative to the working directory
 *   sqlite::memory:      SQLite in memory (tests of the SQL adapter without a file)
 *
 * PostgreSQL (identities, sessions) and Redis (counters, sessions) adapters arrive with the
 * monitoring and rate-limiting issues behind the same ports.
 */
import { resolve } from 'node:path';
import { openMemoryStores } from './memory/index.ts';
import type { MemoryCounterOptions } from './memory/counters.ts';
import { StoreConfigError, type Stores } from './ports.ts';
import { openSqliteStores, type SqliteOpenOptions } from './sqlite/index.ts';

export * from './ports.ts';
export { boundCounterKey, MAX_RAW_COUNTER_KEY } from './shared.ts';

export interface OpenStoresOptions {
  /** 32-byte master key (crypto/master-key.ts `parseMasterKey`): seals TOTP secrets and signing keys. */
  readonly masterKey: Buffer;
  readonly sqlite?: SqliteOpenOptions;
  readonly counters?: MemoryCounterOptions;
}

/**
 * Opens the stores named by `url`. An unknown scheme is refused naming only the scheme: the rest
 * of a store URL can hold credentials (`postgres://user:password@…`).
 */
export function openStores(url: string, options: OpenStoresOptions): Stores {
  if (typeof url !== 'string' || url.length === 0) throw new StoreConfigError('store URL is empty');
  if (url === 'memory:' || url === 'memory://') {
    return openMemoryStores({ masterKey: options.masterKey, ...(options.counters ? { counters: options.counters } : {}) });
  }
  if (url.startsWith('sqlite:')) {
    const target = url.slice('sqlite:'.length);
    if (target.length === 0) throw new StoreConfigError('store URL "sqlite:" needs a file path, e.g. sqlite:data/rampart.db');
    const path = target === ':memory:' ? target : resolve(process.cwd(), target);
    return openSqliteStores(path, { masterKey: options.masterKey, ...options.sqlite, ...(options.counters ? { counters: options.counters } : {}) });
  }
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(url)?.[1];
  throw new StoreConfigError(
    scheme === undefined
      ? 'store URL has no scheme; use memory: or sqlite:<path>'
      : `unsupported store URL scheme "${scheme.slice(0, 32)}:"; use memory: or sqlite:<path>`,
  );
}
