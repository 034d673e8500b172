/**
 * In-process CounterStore: the single-node default (also used by the SQLite mode, since counters are
 * hot, short-lived and need no durability). The rate-limiting issue adds the Redis adapter for
 * several gateway processes. Memory is bounded: an attacker spraying new keys (addresses, usernames)
 * evicts stale entries first, then the oldest ones, but cannot grow the process.
 */
import type { CounterStore, EpochMs } from '../ports.ts';
import { boundCounterKey, requireTime, requireWindow, slidingWindowCount } from '../shared.ts';

interface Window {
  windowMs: number;
  /** floor(now / windowMs) of the current bucket. */
  index: number;
  current: number;
  previous: number;
}

export interface MemoryCounterOptions {
  /** Most keys counted at once (default 100,000). */
  readonly maxKeys?: number;
  /** Most keys locked at once (default 100,000). */
  readonly maxLocks?: number;
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

  constructor(options: MemoryCounterOptions = {}) {
    this.#maxKeys = options.maxKeys ?? 100_000;
    this.#maxLocks = options.maxLocks ?? 100_000;
  }

  /** Number of counted and locked keys held (for tests and metrics). */
  get size(): { readonly keys: number; readonly locks: number } {
    return { keys: this.#windows.size, locks: this.#locks.size };
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
