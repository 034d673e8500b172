/**
 * One ioredis connection per Redis URL per process, shared by whoever counts there: the rate-limit policies of
 * every route (through the runtime's shared resources) and `stores.counters` (brute-force counters). A reference
 * count keeps it open while anyone holds it, so a config reload (the new runtime acquires before the old one
 * releases) keeps the connection and its loaded scripts; the last release closes it.
 *
 * One connection is enough: Redis executes commands one at a time anyway, and each check is a single EVALSHA.
 * `enableAutoPipelining` is off: a CPU profile of the gateway under load showed ioredis' Pipeline machinery costing
 * more CPU per check than the socket writes it saves (commands still share writes through Node's socket cork).
 *
 * Failure behaviour (what the limiter's fail-closed / fail-local modes build on):
 * - `enableOfflineQueue: false`: while disconnected a command fails at once instead of queueing (a queue would
 *   hold every request of the gateway until Redis returns, or grow without bound).
 * - `maxRetriesPerRequest: 0`: commands in flight when the connection drops fail at once.
 * - `commandTimeout`: a Redis that accepts but does not answer (overloaded, paused) fails the command after it.
 * - `retryStrategy`: reconnects forever, backing off to one attempt a second, so the gateway returns to Redis by
 *   itself when it comes back.
 *
 * Nothing here logs the URL: it may carry a password. Logs name the host and port only.
 */
import { Redis } from 'ioredis';
import { ACQUIRE_LUA, GCRA_LUA, LOCK_LUA, QUOTA_LUA, WINDOW_LUA } from './scripts.ts';

/** Where connection state changes are reported (a pino logger fits). */
export interface ConnectionLog {
  warn(details: Record<string, unknown>, message: string): void;
  info(details: Record<string, unknown>, message: string): void;
}

export interface RedisConnectionOptions {
  /** A command that has not answered after this fails (the limiter then applies its failure mode). */
  readonly commandTimeoutMs: number;
  readonly log?: ConnectionLog;
}

/** The scripts every shared connection defines (see scripts.ts). */
export interface CounterScripts {
  rampartGcra(key: string, intervalUs: number, burst: number, now: number): Promise<[number, number, number, number]>;
  rampartQuota(key: string, limit: number, period: string, now: number): Promise<[number, number, number, number]>;
  rampartAcquire(key: string, limit: number, leaseId: string, leaseMs: number, now: number): Promise<number>;
  rampartWindow(key: string, windowMs: number, now: number, add: 0 | 1): Promise<string>;
  rampartLock(key: string, until: number): Promise<number>;
}

export type CounterRedis = Redis & CounterScripts;

export interface RedisLease {
  readonly client: CounterRedis;
  /** Resolves true once connected (false when the first connection attempt failed; reconnection goes on). */
  readonly ready: Promise<boolean>;
  /** Host and port, for logs (never the URL: it may hold a password). */
  readonly where: string;
  release(): Promise<void>;
}

interface Shared {
  readonly client: CounterRedis;
  readonly ready: Promise<boolean>;
  readonly where: string;
  refs: number;
}

const connections = new Map<string, Shared>();

/** `host:port` of a redis URL, for logs; never the credentials or the database. */
export function describeRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || '6379'}`;
  } catch {
    return '(unparsable redis URL)';
  }
}

function connect(url: string, options: RedisConnectionOptions): Shared {
  const where = describeRedisUrl(url);
  const client = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: options.commandTimeoutMs,
    connectTimeout: Math.max(1000, options.commandTimeoutMs * 4),
    enableAutoPipelining: false,
    retryStrategy: (attempt: number) => Math.min(50 * 2 ** Math.min(attempt, 5), 1000),
  }) as CounterRedis;
  client.defineCommand('rampartGcra', { numberOfKeys: 1, lua: GCRA_LUA });
  client.defineCommand('rampartQuota', { numberOfKeys: 1, lua: QUOTA_LUA });
  client.defineCommand('rampartAcquire', { numberOfKeys: 1, lua: ACQUIRE_LUA });
  client.defineCommand('rampartWindow', { numberOfKeys: 1, lua: WINDOW_LUA });
  client.defineCommand('rampartLock', { numberOfKeys: 1, lua: LOCK_LUA });
  // Log transitions, not every failed reconnection attempt (one a second while Redis is down).
  let up = false;
  let reportedDown = false;
  client.on('ready', () => {
    up = true;
    reportedDown = false;
    options.log?.info({ redis: where }, 'counter store: connected to Redis');
  });
  client.on('error', (error: NodeJS.ErrnoException) => {
    if (reportedDown) return;
    reportedDown = true;
    options.log?.warn({ redis: where, code: error.code ?? error.name }, 'counter store: Redis unavailable; reconnecting');
  });
  client.on('close', () => {
    if (!up) return;
    up = false;
    if (!reportedDown) {
      reportedDown = true;
      options.log?.warn({ redis: where }, 'counter store: connection to Redis lost; reconnecting');
    }
  });
  const ready = new Promise<boolean>((resolve) => {
    const done = (value: boolean) => {
      client.off('ready', onReady);
      client.off('error', onError);
      clearTimeout(timer);
      resolve(value);
    };
    const onReady = () => done(true);
    const onError = () => done(false);
    const timer = setTimeout(() => done(false), Math.max(1000, options.commandTimeoutMs * 4));
    timer.unref();
    client.once('ready', onReady);
    client.once('error', onError);
  });
  return { client, ready, where, refs: 0 };
}

/** The shared connection for `url` (opened on first use); call `release()` once when done with it. */
export function acquireRedis(url: string, options: RedisConnectionOptions): RedisLease {
  const id = `${options.commandTimeoutMs}|${url}`;
  let shared = connections.get(id);
  if (shared === undefined) {
    shared = connect(url, options);
    connections.set(id, shared);
  }
  shared.refs += 1;
  const entry = shared;
  let released = false;
  return {
    client: entry.client,
    ready: entry.ready,
    where: entry.where,
    async release() {
      if (released) return;
      released = true;
      entry.refs -= 1;
      if (entry.refs > 0) return;
      connections.delete(id);
      if (entry.client.status === 'ready') {
        try {
          await entry.client.quit();
          return;
        } catch {
          // fall through: cut the connection
        }
      }
      entry.client.disconnect();
    },
  };
}

/** Open shared connections (for tests: the last release must close them). */
export function openRedisConnections(): number {
  return connections.size;
}
