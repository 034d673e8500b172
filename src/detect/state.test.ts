import { describe, expect, it } from 'vitest';
import { BoundedLru, Cooldown, DistinctWindow, SAMPLE_SIZE, SampleRing, SlidingCount, VolumeBaseline, type BaselineSettings } from './state.ts';

describe('BoundedLru', () => {
  it('keeps at most `capacity` keys, forgets the least recently used first and counts it', () => {
    let created = 0;
    const lru = new BoundedLru<{ n: number; lruTick: number }>(3, () => ({ n: created++, lruTick: 0 }));
    lru.touch('a');
    lru.touch('b');
    lru.touch('c');
    lru.touch('a'); // a is now the most recent; b is the oldest
    lru.touch('d');
    expect(lru.size).toBe(3);
    expect(lru.evictions).toBe(1);
    expect(lru.peek('b')).toBeUndefined();
    expect(lru.peek('a')?.n).toBe(0);
    expect([...lru.values()].map((v) => v.n)).toEqual([2, 0, 3]);
  });

  it('stays bounded under 100,000 distinct keys', () => {
    const lru = new BoundedLru(1000, () => ({ lruTick: 0 }));
    for (let i = 0; i < 100_000; i++) lru.touch(`k${i}`);
    expect(lru.size).toBe(1000);
    expect(lru.evictions).toBe(99_000);
  });

  it('never evicts a key used at least every capacity/2 insertions, though it moves it only that often', () => {
    const lru = new BoundedLru(100, () => ({ lruTick: 0, id: Math.random() }));
    const hot = lru.touch('hot');
    for (let i = 0; i < 100_000; i++) {
      lru.touch(`cold-${i}`);
      if (i % 49 === 0) expect(lru.touch('hot')).toBe(hot);
    }
    expect(lru.peek('hot')).toBe(hot);
    // A key that stops being used ages out like in an exact LRU.
    for (let i = 0; i < 100; i++) lru.touch(`later-${i}`);
    expect(lru.peek('hot')).toBeUndefined();
  });

  it('refuses a capacity that is not a positive integer', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) expect(() => new BoundedLru(bad, () => ({ lruTick: 0 }))).toThrow(RangeError);
  });
});

describe('SlidingCount', () => {
  it('counts within the window and weighs the previous window by its overlap', () => {
    const c = new SlidingCount();
    for (let i = 0; i < 10; i++) c.add(1000 + i, 60_000);
    expect(c.count(1000 + 59_000, 60_000)).toBe(10);
    // Half way through the next window, half of the previous window still counts.
    expect(c.count(1000 + 90_000, 60_000)).toBeCloseTo(5, 5);
    expect(c.add(1000 + 90_000, 60_000)).toBeCloseTo(6, 5);
    // Two windows later nothing is left.
    expect(c.count(1000 + 200_000, 60_000)).toBe(0);
  });

  it('does not double a burst at a window boundary', () => {
    const c = new SlidingCount();
    c.add(0, 60_000);
    for (let i = 0; i < 10; i++) c.add(59_990 + i, 60_000);
    // 11 in the first window; right after the boundary, almost all of them still count, and nothing more.
    expect(c.add(60_001, 60_000)).toBeLessThanOrEqual(12);
    expect(c.count(60_001, 60_000)).toBeGreaterThan(11);
  });
});

describe('DistinctWindow', () => {
  it('counts distinct values seen in the window and forgets older ones', () => {
    const w = new DistinctWindow(100);
    expect(w.add('a', 0, 1000)).toBe(1);
    expect(w.add('b', 100, 1000)).toBe(2);
    expect(w.add('a', 200, 1000)).toBe(2); // seen again: still two, and a is refreshed
    expect(w.add('c', 1150, 1000)).toBe(2); // b (100) expired; a (200) not
    expect(w.has('b')).toBe(false);
    expect(w.count(5000, 1000)).toBe(0);
  });

  it('is capped: at the cap the least recently seen value is dropped', () => {
    const w = new DistinctWindow(5);
    for (let i = 0; i < 1000; i++) w.add(`v${i}`, i, 1_000_000);
    expect(w.size).toBe(5);
    expect(w.has('v999')).toBe(true);
    expect(w.has('v994')).toBe(false);
    // After the cap, expiry still works.
    expect(w.count(3_000_000, 1_000_000)).toBe(0);
  });

  it('never expires with an infinite window', () => {
    const w = new DistinctWindow(3);
    w.add('x', 0, Number.POSITIVE_INFINITY);
    expect(w.count(1e15, Number.POSITIVE_INFINITY)).toBe(1);
  });
});

describe('SampleRing', () => {
  it(`keeps the last ${SAMPLE_SIZE} ids, oldest first`, () => {
    const ring = new SampleRing();
    for (let i = 0; i < 25; i++) ring.push(`r${i}`);
    expect(ring.list()).toEqual(Array.from({ length: 10 }, (_, i) => `r${15 + i}`));
    ring.clear();
    ring.push('x');
    expect(ring.list()).toEqual(['x']);
  });
});

describe('Cooldown', () => {
  it('admits one event per cool-down and reports how many repeats it suppressed', () => {
    const c = new Cooldown();
    expect(c.admit(0, 1000)).toBe(true);
    expect(c.raised(0)).toBe(0);
    expect(c.admit(10, 1000)).toBe(false);
    expect(c.admit(999, 1000)).toBe(false);
    expect(c.admit(1000, 1000)).toBe(true);
    expect(c.raised(1000)).toBe(2);
  });

  it('takeSuppressed hands the repeats to a follow-up once, and leaves the cool-down running', () => {
    const c = new Cooldown();
    c.raised(0);
    expect(c.admit(10, 1000)).toBe(false);
    expect(c.admit(20, 1000)).toBe(false);
    expect(c.suppressed).toBe(2);
    expect(c.takeSuppressed()).toBe(2);
    expect(c.takeSuppressed()).toBe(0);
    // The raise time did not move: still inside the cool-down, and the next repeat is counted afresh.
    expect(c.raisedAt).toBe(0);
    expect(c.admit(30, 1000)).toBe(false);
    // The next raise reports only what came after the take.
    expect(c.admit(1000, 1000)).toBe(true);
    expect(c.raised(1000)).toBe(1);
  });
});

describe('VolumeBaseline', () => {
  const settings: BaselineSettings = { bucketMs: 60_000, alpha: 1 / 60, warmupBuckets: 30, zScore: 4, ratio: 4, minCount: 100, ceiling: Number.POSITIVE_INFINITY };

  it('learns a steady rate and sets the limit at the largest of floor, ratio and z-score', () => {
    const b = new VolumeBaseline();
    // 50 requests a minute for two hours.
    for (let minute = 0; minute < 120; minute++) for (let i = 0; i < 50; i++) b.add(minute * 60_000 + i * 1000, settings);
    b.advance(120 * 60_000, settings);
    expect(b.mean).toBeGreaterThan(45);
    expect(b.mean).toBeLessThanOrEqual(50);
    expect(b.limit).toBeCloseTo(Math.max(100, b.mean * 4, b.mean + 4 * Math.sqrt(b.variance)), 5);
  });

  it('has no limit during the warm-up except the ceiling', () => {
    const b = new VolumeBaseline();
    b.add(0, settings);
    expect(b.limit).toBe(Number.POSITIVE_INFINITY);
    const capped = new VolumeBaseline();
    capped.add(0, { ...settings, ceiling: 500 });
    expect(capped.limit).toBe(500);
  });

  it('folds idle buckets as zeros, and a long absence to nothing', () => {
    const b = new VolumeBaseline();
    for (let minute = 0; minute < 60; minute++) for (let i = 0; i < 60; i++) b.add(minute * 60_000 + i * 1000, settings);
    const before = b.mean;
    b.advance(70 * 60_000, settings);
    expect(b.mean).toBeLessThan(before);
    b.advance(10_000 * 60_000, settings);
    expect(b.mean).toBe(0);
  });

  it('learns an attack bucket only up to its limit (clamped)', () => {
    const b = new VolumeBaseline();
    for (let minute = 0; minute < 60; minute++) for (let i = 0; i < 10; i++) b.add(minute * 60_000 + i * 1000, settings);
    b.advance(60 * 60_000, settings);
    const limit = b.limit;
    const mean = b.mean;
    for (let i = 0; i < 100_000; i++) b.add(60 * 60_000 + (i % 60_000), settings);
    b.advance(61 * 60_000, settings);
    expect(b.mean).toBeCloseTo(mean + settings.alpha * (limit - mean), 5);
  });
});
