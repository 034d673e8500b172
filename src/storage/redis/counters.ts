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
import { boundCounterKey, MAX_RAW_COUNTER_KEY, requireTime, requireWindow } from '../shared.ts';
import { leaseUnits } from '../counters-config.ts';
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
  /** Units to reserve (1: no lease); every check of one limit wants the same. */
  readonly want: number;
  readonly resolve: (answer: Granted) => void;
  readonly reject: (error: unknown) => void;
}

/** A decision and the units Redis reserved with it (1 for a plain check; 0 when refused). */
interface Granted {
  readonly decision: RateDecision;
  readonly granted: number;
}

/** One leased check's key and parameters, validated (see `take`). */
interface LeaseCheck {
  /** The caller's key: what the lease table is keyed by. */
  readonly key: string;
  readonly redisKey: string;
  readonly intervalMs: number;
  readonly intervalUs: number;
  readonly burst: number;
  readonly want: number;
}

/** A check that arrived while its key's lease was being renewed: served from the renewed lease, or asks again. */
interface LeaseWaiter {
  readonly now: EpochMs;
  readonly resolve: (decision: RateDecision) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Units of one key reserved in Redis and not used yet (see `take`). `remaining` and `resetAt` are Redis' answer at
 * the reservation: the units still in the lease are part of what the caller may still spend.
 */
interface Lease {
  /** The Redis key renewals reserve under. */
  readonly redisKey: string;
  /** The caller's emission interval as given (the hot path compares it as is), and as sent to Redis. */
  readonly intervalMs: number;
  readonly intervalUs: number;
  readonly burst: number;
  tokens: number;
  remaining: number;
  /** Caller time at which the allowance is full again, per the reservation's answer. */
  resetAt: number;
  /** Caller time after which unused units are given up (never used late: the units are already spent in Redis). */
  expiresAt: number;
  /** Set while a reservation for this key is in flight: the checks waiting for it. */
  waiters: LeaseWaiter[] | undefined;
}

/**
 * Local reservation of rate-limit units (`counters.lease`): a check of a limit whose burst is large asks Redis for
 * up to `want` units at once and answers the following checks of the same key in this process from them, with no
 * round trip. What that changes against one GCRA per check (N processes, each lease at most `fraction` of the burst):
 * - Counting: every unit admitted was counted in Redis once, when reserved; over a run, admissions never exceed
 *   what the limit allows plus the units leased and not yet used.
 * - Timing: a unit reserved at t may be used up to `ttlMs` later, after the allowance has refilled, so within any
 *   window up to N × fraction × burst more than the burst can pass (the units outstanding when the window opens).
 * - Loss: units a process has not used by `ttlMs` are given up, so the others may be refused up to N × fraction ×
 *   burst early, until the allowance refills.
 * With the defaults (0.5 % of the burst, at most 64 units, 1 s) that is a burst of 1,000 allowed 1,005 by one process
 * at worst, 1,010 by two. Limits whose burst × fraction is under 2 (10/s, 100/min: the ones guarding logins) are
 * never leased: every check goes to Redis, exactly as without leases.
 */
export interface LeaseSettings {
  readonly fraction: number;
  readonly maxUnits: number;
  readonly ttlMs: number;
}

/** Leases held at most; beyond it the oldest is given up (its units stay spent: bounded under-admission). */
export const MAX_LEASES = 10_000;

export interface RedisCounterOptions {
  /** Prepended to every key (e.g. `rampart:`), so several deployments can share one Redis. */
  readonly keyPrefix: string;
  /** Whose clock the rate-limit scripts use: Redis' own (default) or the caller's `now` (tests). */
  readonly clock?: 'server' | 'caller';
  /** Local reservations of rate-limit units (see LeaseSettings); absent: every check goes to Redis. */
  readonly lease?: LeaseSettings;
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

/**
 * A GCRA decision with the units reserved (scripts.ts GCRA_FUNCTION). More than `want` units, or none with an
 * allowed answer, cannot come from the script: a damaged answer, refused like any other.
 */
function granted(want: number): (reply: unknown) => Granted {
  return (reply) => {
    const answer = decision(reply);
    const units = finiteReply((reply as readonly unknown[])[4], 'rate decision');
    if (answer.allowed ? units < 1 || units > want || !Number.isInteger(units) : units !== 0) {
      throw new StoreCorruptError('redis counters', 'rate decision', 'the units reserved do not match the decision');
    }
    return { decision: answer, granted: units };
  };
}

/** The decisions of a GCRA_BATCH reply; anything but one finite decision per key is an error (fail as Redis failing). */
function grantedBatch(sent: readonly PendingTake[]): (reply: unknown) => Granted[] {
  return (reply) => {
    const count = sent.length;
    if (!Array.isArray(reply) || reply.length !== count || !reply.every((entry) => Array.isArray(entry) && entry.length === 5)) {
      throw new Error(`Redis answered a batch of ${count} rate checks with an unexpected reply`);
    }
    return reply.map((entry, i) => granted(sent[i]!.want)(entry));
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
  readonly #leaseSettings: LeaseSettings | undefined;
  /** Reservations by the caller's key (insertion order: the oldest renewal first, for the bound). */
  readonly #leases = new Map<string, Lease>();
  /** The decision lease hits answer with (see #fromLease). */
  readonly #leaseDecision: RateDecision = { allowed: true, remaining: 0, retryAfterMs: 0, resetMs: 0 };
  /** Checks answered from a lease; units reserved by grants; units given up unused (expired or evicted). */
  #leaseServed = 0;
  #leaseReserved = 0;
  #leaseGiven = 0;
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
      runScript(client, GCRA, only.key, [only.intervalUs, only.burst, only.now, only.want], granted(only.want)).then(only.resolve, only.reject);
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
        if (head.intervalUs === pending.intervalUs && head.burst === pending.burst && head.now === pending.now && head.want === pending.want) {
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
      args.push(head.intervalUs, head.burst, head.now, head.want, group.length);
    }
    runScriptOnKeys(client, GCRA_BATCH, keys, args, grantedBatch(sent)).then(
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
    this.#leaseSettings = options.lease;
  }

  /** Leases held now and what they saved (tests, diagnostics). */
  leaseStats(): { readonly held: number; readonly served: number; readonly reserved: number; readonly given: number } {
    return { held: this.#leases.size, served: this.#leaseServed, reserved: this.#leaseReserved, given: this.#leaseGiven };
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

  /**
   * One GCRA check. With leases (`counters.lease`) and a burst large enough, the check is answered from this
   * process's reservation for the key when it holds unused units (synchronously: no promise, no round trip), waits
   * for the reservation in flight when one is being renewed, or asks Redis for a new one. Without, one check is one
   * GCRA in this turn's batch.
   */
  take(key: string, emissionIntervalMs: number, burst: number, now: EpochMs): RateDecision | Promise<RateDecision> {
    requireTime(now, 'now');
    // The hot path: a lease of this key under the same parameters (checked when it was reserved) answers at once,
    // before the Redis key is built. Leases are keyed by the caller's key, which bounds them (see below).
    const held = this.#closed ? undefined : this.#leases.get(key);
    if (held !== undefined && held.intervalMs === emissionIntervalMs && held.burst === burst) {
      const served = this.#fromLease(held, now, true);
      if (served !== undefined) return served;
    }
    const redisKey = this.#key('g', key);
    if (typeof emissionIntervalMs !== 'number' || !Number.isFinite(emissionIntervalMs) || emissionIntervalMs <= 0) {
      throw new TypeError('emissionIntervalMs must be a positive number');
    }
    requireCountLimit(burst, 'burst');
    const intervalUs = Math.max(1, Math.round(emissionIntervalMs * 1000));
    // Keys longer than boundCounterKey keeps raw (attacker-chosen header values, say) are not leased: the lease table
    // is keyed by the caller's key, and holding long ones would let such values fill it with kilobytes each.
    const want = key.length <= MAX_RAW_COUNTER_KEY ? leaseUnits(burst, this.#leaseSettings) : 1;
    return this.#take({ key, redisKey, intervalMs: emissionIntervalMs, intervalUs, burst, want }, now);
  }

  #take(check: LeaseCheck, now: EpochMs): RateDecision | Promise<RateDecision> {
    if (check.want < 2) {
      if (!this.available) return this.#unavailable();
      return this.#send(check.redisKey, check.intervalUs, check.burst, now, 1).then((answer) => answer.decision);
    }
    const lease = this.#leases.get(check.key);
    if (lease !== undefined && lease.intervalUs === check.intervalUs && lease.burst === check.burst) {
      const served = this.#fromLease(lease, now, false);
      if (served !== undefined) return served;
      if (lease.waiters !== undefined) {
        // A renewal is in flight: wait for its units rather than reserve a second lease for the same key.
        return new Promise<RateDecision>((resolve, reject) => lease.waiters!.push({ now, resolve, reject }));
      }
    }
    if (!this.available) return this.#unavailable();
    return this.#renew(check, now);
  }

  /**
   * A check answered from `lease`, or undefined when it has no usable unit (used up or expired). `reuse`: the answer
   * is this store's one reused decision (the port allows it: valid until the next call), for a caller that reads it
   * at once; an answer handed to a promise gets its own object.
   */
  #fromLease(lease: Lease, now: EpochMs, reuse: boolean): RateDecision | undefined {
    if (lease.tokens <= 0) return undefined;
    if (now >= lease.expiresAt) {
      this.#leaseGiven += lease.tokens;
      lease.tokens = 0;
      return undefined;
    }
    lease.tokens--;
    this.#leaseServed++;
    // What the reservation left, plus the units of the lease still unused (they are this caller's to spend).
    const decision = reuse ? this.#leaseDecision : { allowed: true, remaining: 0, retryAfterMs: 0, resetMs: 0 };
    decision.allowed = true;
    decision.remaining = lease.remaining + lease.tokens;
    decision.retryAfterMs = 0;
    decision.resetMs = Math.max(0, lease.resetAt - now);
    return decision;
  }

  /** Reserves up to `check.want` units; the caller gets the first, later checks the rest. */
  #renew(check: LeaseCheck, now: EpochMs): Promise<RateDecision> {
    const { key, redisKey, intervalUs, burst, want } = check;
    let lease = this.#leases.get(key);
    if (lease === undefined || lease.intervalUs !== intervalUs || lease.burst !== burst) {
      if (lease !== undefined) this.#leaseGiven += lease.tokens;
      lease = { redisKey, intervalMs: check.intervalMs, intervalUs, burst, tokens: 0, remaining: 0, resetAt: now, expiresAt: now, waiters: undefined };
    }
    // Re-inserted at every renewal, so the map's first entries are the leases renewed longest ago: the bound gives
    // those up, not a busy key's (whose units would be stranded again and again by a flood of new keys).
    this.#leases.delete(key);
    if (this.#leases.size >= MAX_LEASES) this.#evictOldest();
    this.#leases.set(key, lease);
    const held = lease;
    held.waiters = [];
    return this.#send(redisKey, intervalUs, burst, now, want).then(
      ({ decision: answer, granted: units }) => {
        const waiters = held.waiters ?? [];
        held.waiters = undefined;
        let mine = answer;
        if (answer.allowed) {
          this.#leaseReserved += units;
          held.tokens = units - 1;
          held.remaining = answer.remaining;
          held.resetAt = now + answer.resetMs;
          held.expiresAt = now + this.#leaseSettings!.ttlMs;
          // This check's answer before the waiters take theirs: each unit's `remaining` is told once.
          mine = { ...answer, remaining: answer.remaining + held.tokens };
        }
        this.#serveWaiters(check, waiters, answer);
        return mine;
      },
      (error: unknown) => {
        const waiters = held.waiters ?? [];
        held.waiters = undefined;
        for (const waiter of waiters) waiter.reject(error);
        throw error;
      },
    );
  }

  /**
   * The checks that waited for a renewal: from its units while they last; the rest ask again (one renewal, the
   * others wait on it). After a refusal they are refused alike: they arrived before Redis judged, when the key had
   * nothing left.
   */
  #serveWaiters(check: LeaseCheck, waiters: readonly LeaseWaiter[], answer: RateDecision): void {
    if (waiters.length === 0) return;
    const lease = this.#leases.get(check.key);
    for (let i = 0; i < waiters.length; i++) {
      const waiter = waiters[i]!;
      if (!answer.allowed) {
        waiter.resolve({ ...answer });
        continue;
      }
      const served = lease === undefined ? undefined : this.#fromLease(lease, waiter.now, false);
      if (served !== undefined) {
        waiter.resolve(served);
        continue;
      }
      const again = this.#take(check, waiter.now);
      if (again instanceof Promise) again.then(waiter.resolve, waiter.reject);
      else waiter.resolve(again);
    }
  }

  #evictOldest(): void {
    for (const [key, lease] of this.#leases) {
      if (lease.waiters !== undefined) continue; // in flight: its answer is still awaited
      this.#leaseGiven += lease.tokens;
      this.#leases.delete(key);
      return;
    }
  }

  /** Queues one GCRA (reserving `want` units) in this turn's batch. */
  #send(redisKey: string, intervalUs: number, burst: number, now: EpochMs, want: number): Promise<Granted> {
    return new Promise<Granted>((resolve, reject) => {
      this.#takes.push({ key: redisKey, intervalUs, burst, now: this.#callerClock ? now : -1, want, resolve, reject });
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
