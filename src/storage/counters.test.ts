import { describe, expect, it } from 'vitest';
import { describeCounterRateContract } from './counters.testkit.ts';
import { MemoryCounterStore } from './memory/counters.ts';

describeCounterRateContract('memory', async () => {
  const store = new MemoryCounterStore();
  return { store, leases: false, cleanup: () => store.close() };
});

describe('memory counter store: rate-limit tables', () => {
  it('answers synchronously and reuses one decision object (no allocation per check)', () => {
    const store = new MemoryCounterStore();
    const first = store.take('k', 100, 2, 1000);
    expect(first).not.toBeInstanceOf(Promise);
    const second = store.quota('q', 5, 'day', 1000);
    expect(second).toBe(first);
    expect(store.acquire('c', 'x', 1, 1000, 1000)).toBe(0);
  });

  it('stays within maxKeys under a spray of new keys, sweeping refilled entries first', () => {
    const store = new MemoryCounterStore({ maxKeys: 100 });
    const t0 = 1_750_000_000_000;
    // An abuser at its limit, refused again and again, keeps its entry while 10,000 fresh keys arrive.
    store.take('abuser', 1000, 1, t0);
    for (let i = 0; i < 10_000; i++) {
      store.take(`spray-${i}`, 1000, 1, t0);
      if (i % 50 === 0) expect(store.take('abuser', 1000, 1, t0).allowed).toBe(false);
    }
    expect(store.size.rates).toBeLessThanOrEqual(100);
    expect(store.take('abuser', 1000, 1, t0).allowed).toBe(false);
    // Entries whose allowance refilled are stale: a later spray sweeps them without eviction pressure.
    const later = t0 + 10_000;
    for (let i = 0; i < 50; i++) store.take(`late-${i}`, 1000, 1, later);
    expect(store.size.rates).toBeLessThanOrEqual(100);
    for (let i = 0; i < 50; i++) expect(store.take(`late-${i}`, 1000, 1, later).allowed).toBe(false);
  });

  it('bounds quota and slot tables too, and drops a slot entry once freed', () => {
    const store = new MemoryCounterStore({ maxKeys: 10 });
    for (let i = 0; i < 1000; i++) store.quota(`q-${i}`, 1, 'month', 1_750_000_000_000);
    expect(store.size.quotas).toBeLessThanOrEqual(10);
    for (let i = 0; i < 5; i++) expect(store.acquire(`c-${i}`, 'l', 1, 1000, 0)).toBe(0);
    expect(store.size.slots).toBe(5);
    for (let i = 0; i < 5; i++) store.release(`c-${i}`, 'l');
    expect(store.size.slots).toBe(0);
  });
});
