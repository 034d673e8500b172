/** The Redis adapter of the counters port (rate limits, brute-force counters shared by several gateway processes). */
import { acquireRedis, type ConnectionLog } from './connection.ts';
import { RedisCounterStore, type RedisCounterOptions } from './counters.ts';

export { RedisCounterStore, type RedisCounterOptions } from './counters.ts';
export { acquireRedis, describeRedisUrl, openRedisConnections, type ConnectionLog, type RedisLease } from './connection.ts';

export interface OpenRedisCountersOptions extends RedisCounterOptions {
  readonly commandTimeoutMs: number;
  readonly log?: ConnectionLog;
}

/**
 * A counter store on the process's shared connection to `url` (opened on first use). The store is usable at once;
 * await `store.ready` to know whether the first connection attempt succeeded. `close()` releases the connection.
 */
export function openRedisCounterStore(url: string, options: OpenRedisCountersOptions): RedisCounterStore {
  const lease = acquireRedis(url, { commandTimeoutMs: options.commandTimeoutMs, ...(options.log ? { log: options.log } : {}) });
  return new RedisCounterStore(lease, {
    keyPrefix: options.keyPrefix,
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.lease ? { lease: options.lease } : {}),
  });
}
