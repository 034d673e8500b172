/**
 * Bounded building blocks of detector state. Every structure has a fixed worst-case size, so a flood of distinct
 * keys (addresses, accounts, object ids: all attacker-chosen) costs evictions, never memory (issue 6 "Bad input":
 * event floods cannot exhaust memory). Updates are O(1) amortised and allocate nothing on the common path.
 */

/** Per-key state kept in a `BoundedLru` carries the tick of its last move to the recent end. */
export interface LruEntry {
  lruTick: number;
}

/**
 * A map with a cap on its size that forgets the least recently used key first and counts what it forgot. `Map` keeps
 * insertion order, so re-inserting a key on use moves it to the recent end and the first key is the one to evict.
 *
 * Re-inserting costs two hash operations, so it is done lazily: only when at least capacity/2 other keys were
 * (re)inserted since the key last moved. A key used at least that often is always in the recent half of the map and
 * is never the one evicted; a key used less often ages as in an exact LRU. A hot key (a busy route, a steady client)
 * thus costs one lookup per use.
 */
export class BoundedLru<V extends LruEntry> {
  readonly capacity: number;
  #evictions = 0;
  #tick = 0;
  readonly #refreshAfter: number;
  readonly #map = new Map<string, V>();
  readonly #create: (key: string) => V;

  constructor(capacity: number, create: (key: string) => V) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('capacity must be a positive integer');
    this.capacity = capacity;
    this.#refreshAfter = capacity >> 1;
    this.#create = create;
  }

  get size(): number {
    return this.#map.size;
  }

  get evictions(): number {
    return this.#evictions;
  }

  /** The state of `key`, created when absent (evicting the least recently used key at the cap). */
  touch(key: string): V {
    const map = this.#map;
    const found = map.get(key);
    if (found !== undefined) {
      if (this.#tick - found.lruTick > this.#refreshAfter) {
        map.delete(key);
        map.set(key, found);
        found.lruTick = this.#tick++;
      }
      return found;
    }
    if (map.size >= this.capacity) {
      const oldest = map.keys().next().value as string;
      map.delete(oldest);
      this.#evictions++;
    }
    const created = this.#create(key);
    created.lruTick = this.#tick++;
    map.set(key, created);
    return created;
  }

  /** The state of `key` without changing its recency, or undefined. */
  peek(key: string): V | undefined {
    return this.#map.get(key);
  }

  values(): IterableIterator<V> {
    return this.#map.values();
  }
}

/**
 * An approximate sliding-window counter in constant space: the count of the current fixed window plus the previous
 * window's count weighted by how much of it still overlaps the sliding window (the method Cloudflare describes in
 * "How we built rate limiting capable of scaling to millions of domains", 2017). It never double-counts a burst at a
 * window boundary the way a plain fixed window does, and errs by at most the previous window's skew.
 */
export class SlidingCount {
  #start = Number.NaN;
  #prev = 0;
  #curr = 0;

  /** Adds `n` at `now` and returns the estimated count in the `windowMs` ending at `now`. */
  add(now: number, windowMs: number, n = 1): number {
    this.#roll(now, windowMs);
    this.#curr += n;
    return this.#estimate(now, windowMs);
  }

  /** The estimated count in the `windowMs` ending at `now`, without adding. */
  count(now: number, windowMs: number): number {
    this.#roll(now, windowMs);
    return this.#estimate(now, windowMs);
  }

  #roll(now: number, windowMs: number): void {
    if (Number.isNaN(this.#start)) {
      this.#start = now;
      return;
    }
    const elapsed = now - this.#start;
    if (elapsed < windowMs) return;
    const windows = Math.floor(elapsed / windowMs);
    this.#prev = windows === 1 ? this.#curr : 0;
    this.#curr = 0;
    this.#start += windows * windowMs;
  }

  #estimate(now: number, windowMs: number): number {
    // Clamped to [0, 1]: a clock that steps back (NTP) must not inflate the previous window.
    const overlap = 1 - (now - this.#start) / windowMs;
    return this.#prev * (overlap > 1 ? 1 : overlap > 0 ? overlap : 0) + this.#curr;
  }
}

/**
 * Distinct values seen in a sliding window, capped. Each value maps to the last time it was seen, re-inserted on
 * every sighting so the first entry is always the least recently seen; expiry walks from the front and stops at the
 * first live entry, so each value is expired at most once (O(1) amortised). At the cap the least recently seen value
 * is dropped: the count then reads "at least `cap`", which is all a threshold needs.
 */
export class DistinctWindow {
  readonly #seen = new Map<string, number>();
  readonly #cap: number;
  /** The last-seen time of the first entry, or a lower bound of it: expiry runs only when it may find something. */
  #oldestAt = Number.POSITIVE_INFINITY;
  /**
   * Whether the last `add` recorded something new: a value not seen in the window, or a sighting that moved a value's
   * time on. Shared state (shared.ts) sends only those sightings to Redis; the others change nothing there either.
   */
  fresh = false;

  constructor(cap: number) {
    this.#cap = cap;
  }

  get size(): number {
    return this.#seen.size;
  }

  /**
   * Records `value` at `now` and returns the number of distinct values seen within `windowMs` before `now`. A value
   * seen again within an eighth of the window keeps its time (no re-insertion): it may then expire up to that much
   * early, which only ever lowers the count, and the next sighting adds it back.
   */
  add(value: string, now: number, windowMs: number): number {
    const seen = this.#seen;
    if (now - this.#oldestAt > windowMs) this.#expire(now, windowMs);
    const seenAt = seen.get(value);
    if (seenAt !== undefined) {
      if (windowMs !== Number.POSITIVE_INFINITY && now - seenAt < windowMs / 8) {
        this.fresh = false;
        return seen.size;
      }
      seen.delete(value);
    } else if (seen.size >= this.#cap) {
      seen.delete(seen.keys().next().value as string);
      this.#oldestAt = Number.NEGATIVE_INFINITY; // unknown now: the next add re-reads it
    }
    seen.set(value, now);
    if (seen.size === 1) this.#oldestAt = now;
    this.fresh = true;
    return seen.size;
  }

  /** The distinct count within `windowMs` before `now`. */
  count(now: number, windowMs: number): number {
    if (now - this.#oldestAt > windowMs) this.#expire(now, windowMs);
    return this.#seen.size;
  }

  has(value: string): boolean {
    return this.#seen.has(value);
  }

  clear(): void {
    this.#seen.clear();
    this.#oldestAt = Number.POSITIVE_INFINITY;
  }

  #expire(now: number, windowMs: number): void {
    const seen = this.#seen;
    for (const [value, at] of seen) {
      if (now - at <= windowMs) {
        this.#oldestAt = at;
        return;
      }
      seen.delete(value);
    }
    this.#oldestAt = Number.POSITIVE_INFINITY;
  }
}

/** The last `SAMPLE_SIZE` request ids, for evidence. One array per key, filled in place. */
export const SAMPLE_SIZE = 10;

export class SampleRing {
  readonly #ids: string[] = [];
  #next = 0;

  push(id: string): void {
    if (this.#ids.length < SAMPLE_SIZE) this.#ids.push(id);
    else {
      this.#ids[this.#next] = id;
      this.#next = (this.#next + 1) % SAMPLE_SIZE;
    }
  }

  /** Oldest first; a copy (called only when an event is raised). */
  list(): string[] {
    const ids = this.#ids;
    if (ids.length < SAMPLE_SIZE) return ids.slice();
    return [...ids.slice(this.#next), ...ids.slice(0, this.#next)];
  }

  clear(): void {
    this.#ids.length = 0;
    this.#next = 0;
  }
}

/**
 * One anomaly, one event per cool-down: the first occurrence is raised, repeats within `cooldownMs` of it are only
 * counted. Keeps one ongoing attack from becoming thousands of events (issue 6, point 6). The count goes out with
 * the next raised event (`raised`), or, when the cool-down ends first, with a follow-up event of its own
 * (`takeSuppressed`, called by BaseDetector.tick), so an attack that stops inside its cool-down is still reported
 * with its repeats.
 */
export class Cooldown {
  #raisedAt = Number.NEGATIVE_INFINITY;
  #suppressed = 0;

  /** When the current cool-down started (the last raise here, or another node's); -Infinity before any. */
  get raisedAt(): number {
    return this.#raisedAt;
  }

  /** Repeats counted since the last raise and not yet taken. */
  get suppressed(): number {
    return this.#suppressed;
  }

  /** True when an event may be raised at `now`; otherwise counts the repeat. */
  admit(now: number, cooldownMs: number): boolean {
    if (now - this.#raisedAt < cooldownMs) {
      this.#suppressed++;
      return false;
    }
    return true;
  }

  /** Marks an event raised at `now`; returns the repeats suppressed since the previous one. */
  raised(now: number): number {
    const suppressed = this.#suppressed;
    this.#raisedAt = now;
    this.#suppressed = 0;
    return suppressed;
  }

  /**
   * Returns the repeats counted since the last raise and zeroes them, leaving the raise time alone: they are reported
   * now, by a follow-up event (the cool-down ended, or was cut short), so the next raise must not report them again.
   * A repeat after this (the cool-down still running) is counted afresh.
   */
  takeSuppressed(): number {
    const suppressed = this.#suppressed;
    this.#suppressed = 0;
    return suppressed;
  }

  /**
   * Another gateway node raised this anomaly at `raisedAt` (the cluster's cool-down lock says so): this node's own
   * cool-down follows it, so that if Redis becomes unreachable this node, judging alone, does not raise it again
   * before the cluster's cool-down is over.
   */
  heldElsewhere(raisedAt: number): void {
    if (raisedAt > this.#raisedAt) this.#raisedAt = raisedAt;
  }
}

/** Settings of a per-key volume baseline (see `VolumeBaseline`). */
export interface BaselineSettings {
  readonly bucketMs: number;
  /** EWMA weight of each completed bucket: bucket / baseline span. */
  readonly alpha: number;
  /** Buckets of history (since the key was first seen) before the baseline is trusted. */
  readonly warmupBuckets: number;
  readonly zScore: number;
  /** The count must also exceed `ratio` times the mean... */
  readonly ratio: number;
  /** ...and this absolute floor, so a quiet key's first busy minute is not an anomaly. */
  readonly minCount: number;
  /** A count that is anomalous whatever the baseline (also during warm-up); Infinity when off. */
  readonly ceiling: number;
}

/** Idle buckets folded one by one at most; beyond this the mean is (1-α)^512 of itself: effectively 0. */
const MAX_IDLE_FOLDS = 512;

/**
 * A key's request count per bucket against its own history: exponentially weighted mean and variance of the
 * per-bucket counts (West 1979 / Finch 2009 incremental form), a z-score test with a ratio and an absolute floor, and
 * a warm-up before the baseline is believed. Idle buckets count as zeros. An anomalous bucket is folded in clamped
 * to its limit, so an attack does not teach the baseline that the attack is normal.
 */
export class VolumeBaseline {
  bucketStart = Number.NaN;
  firstBucket = Number.NaN;
  /** Requests in the current bucket. */
  count = 0;
  mean = 0;
  variance = 0;
  /** The anomaly limit of the current bucket, computed once when the bucket opens. */
  limit = Number.POSITIVE_INFINITY;
  #folded = false;

  /** Moves to the bucket holding `now` (folding finished ones) and counts one request; returns the bucket count. */
  add(now: number, s: BaselineSettings): number {
    this.advance(now, s);
    return ++this.count;
  }

  advance(now: number, s: BaselineSettings): void {
    if (Number.isNaN(this.bucketStart)) {
      this.bucketStart = now - (now % s.bucketMs);
      this.firstBucket = this.bucketStart;
      this.limit = this.#limitFor(s);
      return;
    }
    if (now < this.bucketStart + s.bucketMs) return;
    const buckets = Math.floor((now - this.bucketStart) / s.bucketMs);
    this.#fold(Math.min(this.count, this.limit), s.alpha);
    const idle = Math.min(buckets - 1, MAX_IDLE_FOLDS);
    for (let i = 0; i < idle; i++) this.#fold(0, s.alpha);
    if (buckets - 1 > MAX_IDLE_FOLDS) this.mean = this.variance = 0;
    this.bucketStart += buckets * s.bucketMs;
    this.count = 0;
    this.limit = this.#limitFor(s);
  }

  #fold(x: number, alpha: number): void {
    // The first bucket starts the mean (no bias towards 0 from an empty history).
    if (!this.#folded) {
      this.#folded = true;
      this.mean = x;
      return;
    }
    const diff = x - this.mean;
    const incr = alpha * diff;
    this.mean += incr;
    this.variance = (1 - alpha) * (this.variance + diff * incr);
  }

  #limitFor(s: BaselineSettings): number {
    const warmedUp = this.bucketStart - this.firstBucket >= s.warmupBuckets * s.bucketMs;
    if (!warmedUp) return s.ceiling;
    const learnt = Math.max(s.minCount, this.mean * s.ratio, this.mean + s.zScore * Math.sqrt(this.variance));
    return Math.min(learnt, s.ceiling);
  }
}
