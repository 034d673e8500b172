/**
 * One ioredis connection per Redis URL per process, shared by whoever counts there: the rate-limit policies of
 * every route (through the runtime's shared resources) and `stores.counters` (brute-force counters). A reference
 * count keeps it open while anyone holds it, so a config reload (the new runtime acquires before the old one
 * releases) keeps the connection and its loaded scripts; the last release closes it.
 *
 * One connection is enough: Redis executes commands one at a time anyway, and each check is a single EVALSHA.
 *
 * Writes are coalesced per event-loop turn (`coalesceWrites`): the counter store corks the socket before its first
 * command of a turn and uncorks it at `setImmediate`, so every check issued while the gateway handles one batch of
 * ready connections leaves in one `writev` (and Redis answers them in one read, one write). A CPU profile of the
 * gateway under load (bench/policies.ts) showed one `write(2)` per command costing about three quarters of the
 * Redis client's CPU. `enableAutoPipelining` does not help here: ioredis flushes its auto-pipeline at
 * `process.nextTick`, which runs after each socket callback, so concurrent requests (each arriving in its own
 * callback) never share a pipeline, and its Pipeline objects cost more than the writes they save. Corking changes
 * nothing in the protocol: each check is still one EVALSHA with its own reply, in order.
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
import { COUNTER_SCRIPTS, type LuaScript } from './scripts.ts';

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

/** The shared client (plain ioredis; the counter scripts run through `runScript`). */
export type CounterRedis = Redis;

export interface RedisLease {
  readonly client: CounterRedis;
  /** Resolves true once connected (false when the first connection attempt failed; reconnection goes on). */
  readonly ready: Promise<boolean>;
  /** Host and port, for logs (never the URL: it may hold a password). */
  readonly where: string;
  /**
   * Holds this connection's writes until the end of the current event-loop turn, so the commands sent meanwhile
   * leave in one write. Call it before sending; it is a no-op while the connection is not ready.
   */
  coalesceWrites(): void;
  release(): Promise<void>;
}

interface Shared {
  readonly client: CounterRedis;
  readonly ready: Promise<boolean>;
  readonly where: string;
  readonly coalesceWrites: () => void;
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
  });
  // Load the scripts once per connection, so checks go as EVALSHA from the start (runScript covers a later flush).
  client.on('ready', () => {
    for (const { lua } of COUNTER_SCRIPTS) client.script('LOAD', lua).catch(() => undefined);
  });
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
  return { client, ready, where, coalesceWrites: writeCoalescer(client), refs: 0 };
}

function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT');
}

/**
 * Runs `script` with KEYS[1] = `key` and `args` as EVALSHA, and `transform`s the reply. When Redis does not have
 * the script (NOSCRIPT: flushed, or a server that never loaded it), sends it once as EVAL, which runs and caches it.
 * Called directly rather than through ioredis `defineCommand`, whose per-call wrapper (a Script command that
 * allocates a rejection handler, a second promise and a copy of the arguments) cost about 0.5 µs more per check in
 * an interleaved micro-benchmark; the connection loads the scripts when it becomes ready instead.
 */
export function runScript<T>(client: Redis, script: LuaScript, key: string, args: ReadonlyArray<string | number>, transform: (reply: unknown) => T): Promise<T> {
  return client.evalsha(script.sha, 1, key, ...args).then(transform, (error: unknown) => {
    if (!isNoScript(error)) throw error;
    return client.eval(script.lua, 1, key, ...args).then(transform);
  });
}

/**
 * `runScript` with several keys: KEYS = `keys`, ARGV = `args`, in one command (the batched checks of counters.ts).
 * The reply is handed over as the parser read it (ioredis' `*Buffer` command variants): integers are numbers, bulk
 * strings stay Buffers, so `transform` must accept Buffers where the script answers strings. The batch script
 * answers integers only, and this skips ioredis' conversion of the reply, which copies every nested array of it
 * (one array per check) to turn Buffers into strings: about 0.4 µs per request in a CPU profile of
 * bench/policies.ts.
 */
export function runScriptOnKeys<T>(
  client: Redis,
  script: LuaScript,
  keys: readonly string[],
  args: ReadonlyArray<string | number>,
  transform: (reply: unknown) => T,
): Promise<T> {
  const raw = client as unknown as ScriptingBufferCommands;
  return raw.evalshaBuffer(script.sha, keys.length, ...keys, ...args).then(transform, (error: unknown) => {
    if (!isNoScript(error)) throw error;
    return raw.evalBuffer(script.lua, keys.length, ...keys, ...args).then(transform);
  });
}

/** ioredis defines a `*Buffer` variant of every command at run time (Commander.js), but its typings omit these two. */
export interface ScriptingBufferCommands {
  evalshaBuffer(...args: Array<string | number>): Promise<unknown>;
  evalBuffer(...args: Array<string | number>): Promise<unknown>;
}

/**
 * Corks the client's socket until `setImmediate` (Node's documented use of `writable.cork()`: many small writes in
 * quick succession). The socket is looked up on every call: after a reconnection ioredis has a new one. Uncorking a
 * socket that closed meanwhile is harmless; the commands it held fail through ioredis' own close handling.
 */
function writeCoalescer(client: CounterRedis): () => void {
  let corked: NonNullable<CounterRedis['stream']> | undefined;
  const uncork = () => {
    const stream = corked;
    corked = undefined;
    stream?.uncork();
  };
  return () => {
    if (corked !== undefined || client.status !== 'ready') return;
    const stream = client.stream;
    if (stream === undefined || stream === null || !stream.writable) return;
    stream.cork();
    corked = stream;
    setImmediate(uncork);
  };
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
    coalesceWrites: entry.coalesceWrites,
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
