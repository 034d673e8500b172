/**
 * Opens the counter store the top-level `counters:` setting names (rate limits, brute-force counters). Apart from
 * index.ts so the limit policies can open it without loading the SQL adapters.
 */
import { MemoryCounterStore, type MemoryCounterOptions } from './memory/counters.ts';
import { StoreConfigError, type CounterStore } from './ports.ts';
import { isRedisCounterStore, type CountersConfig } from './counters-config.ts';
import { openRedisCounterStore, type ConnectionLog } from './redis/index.ts';

export interface OpenCounterStoreOptions {
  /** Connection state changes (Redis only). */
  readonly log?: ConnectionLog;
  readonly memory?: MemoryCounterOptions;
}

/**
 * The counter store `counters.store` names: a new MemoryCounterStore for `memory`, or a RedisCounterStore on the
 * process's shared connection to that Redis (see redis/connection.ts). The caller closes it. An unknown value is
 * refused naming only its scheme (a URL may hold a password).
 */
export function openCounterStore(config: CountersConfig, options: OpenCounterStoreOptions = {}): CounterStore {
  if (config.store === 'memory') return new MemoryCounterStore(options.memory);
  if (isRedisCounterStore(config.store)) {
    return openRedisCounterStore(config.store, {
      keyPrefix: config.keyPrefix,
      commandTimeoutMs: config.timeoutMs,
      ...(config.lease ? { lease: config.lease } : {}),
      ...(options.log ? { log: options.log } : {}),
    });
  }
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(config.store)?.[1];
  throw new StoreConfigError(`unsupported counter store${scheme === undefined ? '' : ` "${scheme.slice(0, 32)}:"`}; use memory or redis://host:port`);
}
