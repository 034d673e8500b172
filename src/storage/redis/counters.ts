/**
 * The Redis CounterStore: several gateway processes share one set of counters, so a limit of 100/s is 100/s for
 * the cluster, and a brute-force lock set by one node holds on every node (ARCHITECTURE.md "State": counters in
 * Redis, atomic Lua, Redis server time).
 *
 * - Every check is one Lua script (scripts.ts): atomic, one round trip, EVALSHA with NOSCRIPT fallback. Rate
 *   checks (`take`, the hot path: every request of a route with a rate limit) issued in one event-loop turn go
 *   together as one GCRA_BATCH script (at most MAX_BATCH keys), each caller getting its own decision: one command
 *   for the client to encode and parse and one script run for Redis instead of one each. Under load, with dozens
 *   of connections ready per turn, this more than halves the client CPU per check (measured: ~2.5x in an
 *   interleaved micro-benchmark of 10 checks per turn). A lone check still goes as plain GCRA.
 * - `take`, `quota` and `acquire` use Redis' clock (`TIME`) unless the store was opened with `clock: 'caller'`
 *   (the accuracy tests drive the same scripts with an injected clock that way).
 * - Keys: `<keyPrefix><family>:<boundCounterKey(key)>` with one family letter per method group (w windows,
 *   l locks, g GCRA, q quotas, c concurrency), so no two kinds of state can share a key, and attacker-chosen key
 *   material is bounded (long values hashed into their own namespace). Every key carries an expiry.
 * - When Redis is not connected, methods reject at once with CounterStoreUnavailableError (no queueing): the
 *   rate-limit policy then fails closed or falls back to local limits; the brute-force callers fail as they do
 *   for any store error.
 * - Stored data is input too (scripts.ts): the scripts treat a damaged stored number as absent, and every number
 *   of a reply is checked here again (`finiteReply`): one that is not finite rejects with StoreCorruptError, so
 *   callers apply their store-failure behaviour instead of comparing NaN, which is never `>=` a limit.
 *
 * Redis Cluster is not supported (keys are not hash-tagged); use one primary (with replicas or Sentinel in
 * front if needed). Tested against Redis 7.
 */
import { boundCounterKey, requireTime, requireWindow } from '../shared.ts';
import { CounterStoreUnavailableError, StoreCorruptError, type CounterStore, type EpochMs, type QuotaPeriod, type RateDecision } from '../ports.ts';
import { runScript, runScriptOnKeys, type RedisLease } from './connection.ts';
import { ACQUIRE, GCRA, GCRA_BATCH, LOCK, LOCKED, QUOTA, WINDOW } from './scripts.ts';

/** Rate checks one GCRA_BATCH command carries at most; more in one turn go as several commands. */
export const MAX_BATCH = 128;

/**
 * How long `lockedUntil` holds a key whose stored lock is damaged (scripts.ts LOCKED_LUA): the store does not know
 * the caller's lock length, so it uses the default of both lockouts (identity `bruteForce.lockFor`, api-key
 * API_KEY_LOCKOUT.lockMs). Failing closed for that long, then ending, keeps the protection without a lock that
 * never ends; the caller's next `lockUntil` replaces it as any lock.
 */
export const DAMAGED_LOCK_MS = 15 * 60_000;

/** A rate check waiting for the end of the turn (see `take`). */
interface PendingTake {
  readonly key: string;
  readonly intervalUs: number;
  readonly burst: number;
  /** The caller's time in ms, or -1 for Redis' clock. */
  readonly now: number;
  readonly resolve: (decision: RateDecision) => void;
  readonly reject: (error: unknown) => void;
}

export interface RedisCounterOptions {
  /** Prepended to every key (e.g. `rampart:`), so several deployments can share one Redis. */
  readonly keyPrefix: string;
  /** Whose clock the rate-limit scripts use: Redis' own (default) or the caller's `now` (tests). */
  readonly clock?: 'server' | 'caller';
}

function requireCountLimit(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) throw new TypeError(`${what} must be a positive integer`);
  return value;
}

/**
 * A number of a script's reply (an integer, or a '%.17g' / '%.0f' string), which must be finite: NaN would compare
 * false with every limit (a check that never refuses) and an infinite time would never end. Anything else is a
 * damaged answer of the store (StoreCorruptError, naming the method, never the key: keys hold usernames and
 * addresses), so callers apply their store-failure behaviour.
 */
function finiteReply(reply: unknown, method: string): number {
  const value = typeof reply === 'number' ? reply : typeof reply === 'string' && reply.trim() !== '' ? Number(reply) : Number.NaN;
  if (!Number.isFinite(value)) {
    const shown = typeof reply === 'string' ? JSON.stringify(reply.slice(0, 40)) : typeof reply;
    throw new StoreCorruptError('redis counters', method, `the reply ${shown} is not a finite number`);
  }
  return value;
}

/** The reply parser of a script answering one number. */
function numberReply(method: string): (reply: unknown) => number {
  return (reply) => finiteReply(reply, method);
}

function decision(reply: unknown): RateDecision {
  const [allowed, remaining, retryAfterMs, resetMs] = reply as readonly unknown[];
  if (allowed !== 0 && allowed !== 1) throw new StoreCorruptError('redis counters', 'rate decision', 'allowed is neither 0 nor 1');
  return {
    allowed: allowed === 1,
    remaining: finiteReply(remaining, 'rate decision'),
    retryAfterMs: finiteReply(retryAfterMs, 'rate decision'),
    resetMs: finiteReply(resetMs, 'rate decision'),
  };
}

/** The decisions of a GCRA_BATCH reply; anything but one finite decision per key is an error (fail as Redis failing). */
function decisions(count: number): (reply: unknown) => RateDecision[] {
  return (reply) => {
    if (!Array.isArray(reply) || reply.length !== count || !reply.every((entry) => Array.isArray(entry) && entry.length === 4)) {
      throw new Error(`Redis answered a batch of ${count} rate checks with an unexpected reply`);
    }
    return reply.map(decision);
  };
}

const incrementReply = numberReply('increment');
const getReply = numberReply('get');
const lockUntilReply = numberReply('lockUntil');
const acquireReply = numberReply('acquire');
const lockedUntilReply = (reply: unknown): number | null => (reply === null ? null : finiteReply(reply, 'lockedUntil'));

export class RedisCounterStore implements CounterStore {
  readonly #lease: RedisLease;
  readonly #prefix: string;
  readonly #callerClock: boolean;
  #closed = false;
  /** Rate checks of this turn, sent at `setImmediate` (or at once when MAX_BATCH are waiting). */
  #takes: PendingTake[] = [];
  #flushScheduled = false;
  readonly #flushTakes = (): void => {
    this.#flushScheduled = false;
    const batch = this.#takes;
    if (batch.length === 0) return;
    this.#takes = [];
    if (!this.available) {
      const error = new CounterStoreUnavailableError(this.#closed ? 'counter store closed' : `Redis at ${this.#lease.where} is not connected`);
      for (const pending of batch) pending.reject(error);
      return;
    }
    const client = this.#lease.client;
    if (batch.length === 1) {
      const only = batch[0]!;
      runScript(client, GCRA, only.key, [only.intervalUs, only.burst, only.now], decision).then(only.resolve, only.reject);
      return;
    }
    // Grouped by parameters (GCRA_BATCH_LUA): each group's checks keep their order, and `sent` is the batch in
    // the order of KEYS, which is the order of the reply. A turn has a few parameter sets (one per limit that
    // counted in it), so the linear search over the groups is short.
    const groups: PendingTake[][] = [];
    for (let i = 0; i < batch.length; i++) {
      const pending = batch[i]!;
      let group: PendingTake[] | undefined;
      for (let g = 0; g < groups.length; g++) {
        const head = groups[g]![0]!;
        if (head.intervalUs === pending.intervalUs && head.burst === pending.burst && head.now === pending.now) {
          group = groups[g];
          break;
        }
      }
      if (group === undefined) groups.push([pending]);
      else group.push(pending);
    }
    const sent: PendingTake[] = groups.length === 1 ? groups[0]! : groups.flat();
    const keys: string[] = new Array<string>(sent.length);
    for (let i = 0; i < sent.length; i++) keys[i] = sent[i]!.key;
    const args: number[] = [groups.length];
    for (const group of groups) {
      const head = group[0]!;
      args.push(head.intervalUs, head.burst, head.now, group.length);
    }
    runScriptOnKeys(client, GCRA_BATCH, keys, args, decisions(sent.length)).then(
      (answers) => {
        for (let i = 0; i < sent.length; i++) sent[i]!.resolve(answers[i]!);
      },
      (error: unknown) => {
        for (const pending of batch) pending.reject(error);
      },
    );
  };

  constructor(lease: RedisLease, options: RedisCounterOptions) {
    this.#lease = lease;
    this.#prefix = options.keyPrefix;
    this.#callerClock = options.clock === 'caller';
  }

  /** True while the connection is up: callers may skip a doomed round trip when it is not. */
  get available(): boolean {
    return !this.#closed && this.#lease.client.status === 'ready';
  }

  /** Resolves once the first connection attempt finished (true: connected). */
  get ready(): Promise<boolean> {
    return this.#lease.ready;
  }

  /** Host and port of the Redis server, for logs. */
  get where(): string {
    return this.#lease.where;
  }

  #key(family: string, key: string): string {
    return `${this.#prefix}${family}:${boundCounterKey(key)}`;
  }

  /** The client, with this turn's writes coalesced into one (connection.ts `coalesceWrites`). */
  #sender(): RedisLease['client'] {
    this.#lease.coalesceWrites();
    return this.#lease.client;
  }

  #unavailable(): Promise<never> {
    return Promise.reject(new CounterStoreUnavailableError(this.#closed ? 'counter store closed' : `Redis at ${this.#lease.where} is not connected`));
  }

  async increment(key: string, windowMs: number, now: EpochMs): Promise<number> {
    const redisKey = this.#key('w', key);
    requireWindow(windowMs);
    requireTime(now, 'now');
    if (!this.available) return this.#unavailable();
    return runScript(this.#sender(), WINDOW, redisKey, [windowMs, now, 1], incrementReply);
  }

  async get(key: string, windowMs: number, now: EpochMs): Promise<number> {
    const redisKey = this.#key('w', key);
    requireWindow(windowMs);
    requireTime(now, 'now');
    if (!this.available) return this.#unavailable();
    return runScript(this.#sender(), WINDOW, redisKey, [windowMs, now, 0], getReply);
  }

  async reset(key: string): Promise<void> {
    const windowKey = this.#key('w', key);
    const lockKey = this.#key('l', key);
    if (!this.available) return this.#unavailable();
    await this.#sender().del(windowKey, lockKey);
  }

  async lockUntil(key: string, until: EpochMs): Promise<void> {
    const redisKey = this.#key('l', key);
    requireTime(until, 'until');
    if (!this.available) return this.#unavailable();
    await runScript(this.#sender(), LOCK, redisKey, [until], lockUntilReply);
  }

  /**
   * A damaged stored lock ('Infinity', 'nan', '1e300', 'abc', an end without an expiry) fails closed but bounded:
   * LOCKED_LUA replaces it with a lock from `now` for DAMAGED_LOCK_MS and answers that end. Read as unlocked it
   * would open a lock while LOCK_LUA kept it (an 'Infinity' outlasted every new lock: never lockable again);
   * answered as a store error the account would stay refused for as long as the value stays, possibly for ever,
   * since nothing calls `lockUntil` while a key reads as locked. The replacement ends, and a later `lockUntil`
   * replaces it like any lock.
   */
  async lockedUntil(key: string, now: EpochMs): Promise<EpochMs | null> {
    const redisKey = this.#key('l', key);
    requireTime(now, 'now');
    if (!this.available) return this.#unavailable();
    const until = await runScript(this.#sender(), LOCKED, redisKey, [now, DAMAGED_LOCK_MS], lockedUntilReply);
    return until !== null && until > now ? until : null;
  }

  take(key: string, emissionIntervalMs: number, burst: number, now: EpochMs): Promise<RateDecision> {
    const redisKey = this.#key('g', key);
    if (typeof emissionIntervalMs !== 'number' || !Number.isFinite(emissionIntervalMs) || emissionIntervalMs <= 0) {
      throw new TypeError('emissionIntervalMs must be a positive number');
    }
    requireCountLimit(burst, 'burst');
    requireTime(now, 'now');
    if (!this.available) return this.#unavailable();
    const intervalUs = Math.max(1, Math.round(emissionIntervalMs * 1000));
    return new Promise<RateDecision>((resolve, reject) => {
      this.#takes.push({ key: redisKey, intervalUs, burst, now: this.#callerClock ? now : -1, resolve, reject });
      if (this.#takes.length >= MAX_BATCH) this.#flushTakes();
      else if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        setImmediate(this.#flushTakes);
      }
    });
  }

  quota(key: string, limit: number, period: QuotaPeriod, now: EpochMs): Promise<RateDecision> {
    const redisKey = this.#key('q', key);
    requireCountLimit(limit, 'limit');
    requireTime(now, 'now');
    if (period !== 'day' && period !== 'month') throw new TypeError('period must be day or month');
    if (!this.available) return this.#unavailable();
    return runScript(this.#sender(), QUOTA, redisKey, [limit, period, this.#callerClock ? now : -1], decision);
  }

  acquire(key: string, leaseId: string, limit: number, leaseMs: number, now: EpochMs): Promise<number> {
    const redisKey = this.#key('c', key);
    requireCountLimit(limit, 'limit');
    requireCountLimit(leaseMs, 'leaseMs');
    requireTime(now, 'now');
    if (!this.available) return this.#unavailable();
    return runScript(this.#sender(), ACQUIRE, redisKey, [limit, leaseId, leaseMs, this.#callerClock ? now : -1], acquireReply);
  }

  async release(key: string, leaseId: string): Promise<void> {
    const redisKey = this.#key('c', key);
    if (!this.available) return this.#unavailable();
    await this.#sender().zrem(redisKey, leaseId);
  }

  /** Releases this store's hold on the shared connection (closed when the last holder releases it). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#lease.release();
  }
}
