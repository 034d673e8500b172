/**
 * Entry point of the storage layer: `openStores(url, options)` picks the adapter from the URL.
 *
 *   memory:              everything in process memory (tests, throwaway runs)
 *   sqlite:<path>        embedded SQLite file, path relative to the working directory
 *   sqlite::memory:      SQLite in memory (tests of the SQL adapter without a file)
 *
 * Counters (rate limits, brute-force counters) are opened apart, by `openCounterStore(counters config)`: in
 * memory, or in Redis (`counters.store: redis://...`) so several gateway processes share them. `openStores` takes
 * such a store in `counterStore` and hands it out as `stores.counters`.
 */
import { resolve } from 'node:path';
import { openMemoryStores } from './memory/index.ts';
import type { MemoryCounterOptions } from './memory/counters.ts';
import { StoreConfigError, type CounterStore, type Stores } from './ports.ts';
import { openSqliteStores, type SqliteOpenOptions } from './sqlite/index.ts';

export * from './ports.ts';
export { boundCounterKey, MAX_RAW_COUNTER_KEY } from './shared.ts';
export { COUNTERS_SCHEMA, countersConfigOf, isRedisCounterStore, type CountersConfig, type CounterFailureMode } from './counters-config.ts';
export { MemoryCounterStore } from './memory/counters.ts';
export { RedisCounterStore } from './redis/index.ts';
export { openCounterStore, type OpenCounterStoreOptions } from './counter-store.ts';

export interface OpenStoresOptions {
  /** 32-byte master key (crypto/master-key.ts `parseMasterKey`): seals TOTP secrets and signing keys. */
  readonly masterKey: Buffer;
  readonly sqlite?: SqliteOpenOptions;
  readonly counters?: MemoryCounterOptions;
  /**
   * The counter store to hand out as `stores.counters` instead of the adapter's in-memory one (see
   * `openCounterStore`); `stores.close()` closes it too.
   */
  readonly counterStore?: CounterStore;
}

/**
 * Opens the stores named by `url`. An unknown scheme is refused naming only the scheme: the rest
 * of a store URL can hold credentials (`postgres://user:password@…`).
 */
export function openStores(url: string, options: OpenStoresOptions): Stores {
  const stores = openAdapter(url, options);
  const counters = options.counterStore;
  if (counters === undefined) return stores;
  return {
    identities: stores.identities,
    sessions: stores.sessions,
    counters,
    close: async () => {
      try {
        await stores.close();
      } finally {
        await counters.close?.();
      }
    },
  };
}

function openAdapter(url: string, options: OpenStoresOptions): Stores {
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
