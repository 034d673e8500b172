/**
 * In-process CounterStore: the single-node default (also used by the SQLite mode, since counters are
 * hot, short-lived and need no durability), and the local fallback of the Redis adapter's users when Redis is
 * unreachable (`onFailure: local`). Memory is bounded: an attacker spraying new keys (addresses, usernames, header
 * values) evicts stale entries first, then the oldest ones, but cannot grow the process.
 *
 * The rate-limit methods (`take`, `quota`, `acquire`, `release`) answer synchronously and allocate nothing for a
 * key already held: entries are mutated in place, the decision object is reused (see RateDecision), and keys are
 * bounded without string concatenation (raw keys as they are, long ones as NUL + SHA-256: no raw key starts with
 * NUL, so the two spaces cannot meet). Stale entries (a GCRA allowance that refilled, a quota period that ended)
 * are swept a few at a time on every insertion, so memory follows live keys without a timer.
 */
import { createHash } from 'node:crypto';
import type { CounterStore, EpochMs, QuotaPeriod, RateDecision } from '../ports.ts';
import { MAX_RAW_COUNTER_KEY, boundCounterKey, requireTime, requireWindow, slidingWindowCount } from '../shared.ts';

interface Window {
  windowMs: number;
  /** floor(now / windowMs) of the current bucket. */
  index: number;
  current: number;
  previous: number;
}

export interface MemoryCounterOptions {
  /** Most keys counted at once (default 100,000); also the bound of each rate-limit table (GCRA, quotas, slots). */
  readonly maxKeys?: number;
  /** Most keys locked at once (default 100,000). */
  readonly maxLocks?: number;
}

const DAY_MS = 86_400_000;

/** Start and end (epoch ms) of the UTC calendar day or month holding `now`. */
export function utcPeriodBounds(period: QuotaPeriod, now: EpochMs): { start: EpochMs; end: EpochMs } {
  if (period === 'day') {
    const start = now - (now % DAY_MS);
    return { start, end: start + DAY_MS };
  }
  const date = new Date(now);
  const year = date.getUTCFullYear();
  const month = date.getUTCMonth();
  return { start: Date.UTC(year, month, 1), end: Date.UTC(year, month + 1, 1) };
}

/** Bounds a rate-limit key without allocating for the common short key (see the module comment). */
function rateKey(key: string): string {
  if (typeof key !== 'string' || key.length === 0) throw new TypeError('counter key must be a non-empty string');
  if (key.length <= MAX_RAW_COUNTER_KEY && key.charCodeAt(0) !== 0) return key;
  return '\u0000' + createHash('sha256').update(key, 'utf8').digest('hex');
}

function requirePositive(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new TypeError(`${what} must be a positive number`);
  return value;
}

function requireCountLimit(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) throw new TypeError(`${what} must be a positive integer`);
  return value;
}

interface GcraEntry {
  /** Theoretical arrival time of the next request, epoch microseconds (integers: exact in a double). */
  tatUs: number;
}

interface QuotaEntry {
  start: EpochMs;
  end: EpochMs;
  count: number;
}

interface SlotEntry {
  count: number;
}

/**
 * A Map bounded to `max` entries: each insertion first sweeps up to two entries from a cursor that walks the map
 * in insertion order (stale ones are deleted), and a full map drops stale entries, then the oldest, down to 90%.
 * `touch` moves an entry to the young end: the limiter calls it for refused keys, so an abuser's own entry is the
 * last to be evicted by a spray of new keys (evicting it would hand the abuser a fresh allowance).
 */
class BoundedTable<V> {
  readonly map = new Map<string, V>();
  readonly #max: number;
  readonly #isStale: (value: V, now: number) => boolean;
  #cursor: Iterator<[string, V]> | undefined;

  constructor(max: number, isStale: (value: V, now: number) => boolean) {
    this.#max = max;
    this.#isStale = isStale;
  }

  insert(key: string, value: V, now: number): void {
    this.#sweep(now, 2);
    if (this.map.size >= this.#max) {
      for (const [k, v] of this.map) if (this.#isStale(v, now)) this.map.delete(k);
      const target = Math.floor(this.#max * 0.9);
      for (const k of this.map.keys()) {
        if (this.map.size <= target) break;
        this.map.delete(k);
      }
    }
    this.map.set(key, value);
  }

  touch(key: string, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
  }

  #sweep(now: number, budget: number): void {
    for (let i = 0; i < budget; i++) {
      this.#cursor ??= this.map.entries();
      const next = this.#cursor.next();
      if (next.done === true) {
        this.#cursor = undefined;
        return;
      }
      if (this.#isStale(next.value[1], now)) this.map.delete(next.value[0]);
    }
  }
}

/** Drops entries with `isStale`, then the oldest inserted until at most 90% of `max` remain. */
function makeRoom<V>(map: Map<string, V>, max: number, isStale: (value: V) => boolean): void {
  for (const [key, value] of map) if (isStale(value)) map.delete(key);
  const target = Math.floor(max * 0.9);
  for (const key of map.keys()) {
    if (map.size <= target) break;
    map.delete(key);
  }
}

export class MemoryCounterStore implements CounterStore {
  readonly #windows = new Map<string, Window>();
  readonly #locks = new Map<string, EpochMs>();
  readonly #maxKeys: number;
  readonly #maxLocks: number;
  /** Latest `now` any caller passed: what "stale" is measured against, without reading the clock. */
  #latestNow = 0;
  readonly #gcra: BoundedTable<GcraEntry>;
  readonly #quotas: BoundedTable<QuotaEntry>;
  readonly #slots: BoundedTable<SlotEntry>;
  /** The one decision object every check returns (see RateDecision: valid until the next call). */
  readonly #decision: RateDecision = { allowed: false, remaining: 0, retryAfterMs: 0, resetMs: 0 };
  /** The current UTC day and month, recomputed only when `now` leaves them (no Date per quota check). */
  readonly #periods = { day: { start: 0, end: 0 }, month: { start: 0, end: 0 } };

  constructor(options: MemoryCounterOptions = {}) {
    this.#maxKeys = options.maxKeys ?? 100_000;
    this.#maxLocks = options.maxLocks ?? 100_000;
    this.#gcra = new BoundedTable<GcraEntry>(this.#maxKeys, (entry, now) => entry.tatUs <= now * 1000);
    this.#quotas = new BoundedTable<QuotaEntry>(this.#maxKeys, (entry, now) => now >= entry.end);
    // Held slots are never stale: only release() frees them (the process that took them is this one).
    this.#slots = new BoundedTable<SlotEntry>(this.#maxKeys, (entry) => entry.count <= 0);
  }

  /** Number of keys held per table (for tests and metrics). */
  get size(): { readonly keys: number; readonly locks: number; readonly rates: number; readonly quotas: number; readonly slots: number } {
    return { keys: this.#windows.size, locks: this.#locks.size, rates: this.#gcra.map.size, quotas: this.#quotas.map.size, slots: this.#slots.map.size };
  }

  take(key: string, emissionIntervalMs: number, burst: number, now: EpochMs): RateDecision {
    const bounded = rateKey(key);
    requirePositive(emissionIntervalMs, 'emissionIntervalMs');
    requireCountLimit(burst, 'burst');
    requireTime(now, 'now');
    // Microseconds, as integers: 1000/3 ms becomes 333,333 µs, and sums of them stay exact.
    const intervalUs = Math.max(1, Math.round(emissionIntervalMs * 1000));
    const nowUs = now * 1000;
    const toleranceUs = burst * intervalUs;
    let entry = this.#gcra.map.get(bounded);
    const tat = entry === undefined || entry.tatUs < nowUs ? nowUs : entry.tatUs;
    const nextTat = tat + intervalUs;
    const ahead = nextTat - nowUs;
    const decision = this.#decision;
    if (ahead > toleranceUs) {
      decision.allowed = false;
      decision.remaining = 0;
      decision.retryAfterMs = Math.ceil((ahead - toleranceUs) / 1000);
      decision.resetMs = Math.ceil((tat - nowUs) / 1000);
      if (entry !== undefined) this.#gcra.touch(bounded, entry);
      return decision;
    }
    if (entry === undefined) {
      entry = { tatUs: nextTat };
      this.#gcra.insert(bounded, entry, now);
    } else {
      entry.tatUs = nextTat;
    }
    decision.allowed = true;
    decision.remaining = Math.floor((toleranceUs - ahead) / intervalUs);
    decision.retryAfterMs = 0;
    decision.resetMs = Math.ceil(ahead / 1000);
    return decision;
  }

  quota(key: string, limit: number, period: QuotaPeriod, now: EpochMs): RateDecision {
    const bounded = rateKey(key);
    requireCountLimit(limit, 'limit');
    requireTime(now, 'now');
    if (period !== 'day' && period !== 'month') throw new TypeError('period must be day or month');
    const bounds = this.#periods[period];
    if (now < bounds.start || now >= bounds.end) {
      const fresh = utcPeriodBounds(period, now);
      bounds.start = fresh.start;
      bounds.end = fresh.end;
    }
    const entry = this.#quotas.map.get(bounded);
    // A new period starts from zero; an entry of a later period (callers' clocks disagreeing) counts on in it.
    if (entry !== undefined && entry.start < bounds.start) {
      entry.start = bounds.start;
      entry.end = bounds.end;
      entry.count = 0;
    }
    const count = entry === undefined ? 0 : entry.count;
    const end = entry === undefined ? bounds.end : entry.end;
    const decision = this.#decision;
    decision.resetMs = end - now;
    if (count >= limit) {
      decision.allowed = false;
      decision.remaining = 0;
      decision.retryAfterMs = end - now;
      if (entry !== undefined) this.#quotas.touch(bounded, entry);
      return decision;
    }
    if (entry === undefined) this.#quotas.insert(bounded, { start: bounds.start, end: bounds.end, count: 1 }, now);
    else entry.count = count + 1;
    decision.allowed = true;
    decision.remaining = limit - count - 1;
    decision.retryAfterMs = 0;
    return decision;
  }

  acquire(key: string, _leaseId: string, limit: number, _leaseMs: number, now: EpochMs): number {
    const bounded = rateKey(key);
    requireCountLimit(limit, 'limit');
    const entry = this.#slots.map.get(bounded);
    const count = entry === undefined ? 0 : entry.count;
    if (count >= limit) return -1;
    if (entry === undefined) this.#slots.insert(bounded, { count: 1 }, now);
    else entry.count = count + 1;
    return limit - count - 1;
  }

  release(key: string, _leaseId: string): void {
    const bounded = rateKey(key);
    const entry = this.#slots.map.get(bounded);
    if (entry === undefined) return;
    entry.count -= 1;
    if (entry.count <= 0) this.#slots.map.delete(bounded);
  }

  async close(): Promise<void> {
    this.#windows.clear();
    this.#locks.clear();
    this.#gcra.map.clear();
    this.#quotas.map.clear();
    this.#slots.map.clear();
  }

  async increment(key: string, windowMs: number, now: EpochMs): Promise<number> {
    const bounded = boundCounterKey(key);
    requireWindow(windowMs);
    requireTime(now, 'now');
    if (now > this.#latestNow) this.#latestNow = now;
    const index = Math.floor(now / windowMs);
    let window = this.#windows.get(bounded);
    if (window === undefined || window.windowMs !== windowMs) {
      if (window === undefined && this.#windows.size >= this.#maxKeys) {
        makeRoom(this.#windows, this.#maxKeys, (stale) => Math.floor(now / stale.windowMs) > stale.index + 1);
      }
      window = { windowMs, index, current: 0, previous: 0 };
      this.#windows.set(bounded, window);
    }
    this.#advance(window, index);
    window.current += 1;
    return slidingWindowCount(window.previous, window.current, windowMs, now);
  }

  async get(key: string, windowMs: number, now: EpochMs): Promise<number> {
    const bounded = boundCounterKey(key);
    requireWindow(windowMs);
    requireTime(now, 'now');
    const window = this.#windows.get(bounded);
    if (window === undefined || window.windowMs !== windowMs) return 0;
    const index = Math.floor(now / windowMs);
    if (index === window.index) return slidingWindowCount(window.previous, window.current, windowMs, now);
    if (index === window.index + 1) return slidingWindowCount(window.current, 0, windowMs, now);
    return index < window.index ? window.current : 0;
  }

  async reset(key: string): Promise<void> {
    const bounded = boundCounterKey(key);
    this.#windows.delete(bounded);
    this.#locks.delete(bounded);
  }

  async lockUntil(key: string, until: EpochMs): Promise<void> {
    const bounded = boundCounterKey(key);
    requireTime(until, 'until');
    const existing = this.#locks.get(bounded);
    if (existing !== undefined && existing >= until) return;
    if (existing === undefined && this.#locks.size >= this.#maxLocks) {
      const latestNow = this.#latestNow;
      makeRoom(this.#locks, this.#maxLocks, (end) => end <= latestNow);
    }
    this.#locks.set(bounded, until);
  }

  async lockedUntil(key: string, now: EpochMs): Promise<EpochMs | null> {
    const bounded = boundCounterKey(key);
    requireTime(now, 'now');
    if (now > this.#latestNow) this.#latestNow = now;
    const until = this.#locks.get(bounded);
    if (until === undefined) return null;
    if (until <= now) {
      this.#locks.delete(bounded);
      return null;
    }
    return until;
  }

  #advance(window: Window, index: number): void {
    // An earlier `now` than the bucket (clocks of several callers disagree slightly) counts into the current bucket.
    if (index <= window.index) return;
    window.previous = index === window.index + 1 ? window.current : 0;
    window.current = 0;
    window.index = index;
  }
}
