import { describe, expect, it } from 'vitest';
import { describeStoreContract } from '../contract.testkit.ts';
import { MemoryCounterStore } from './counters.ts';
import { openMemoryStores } from './index.ts';

describeStoreContract('memory', async (masterKey) => {
  const stores = openMemoryStores({ masterKey });
  return { stores, cleanup: () => stores.close() };
});

describe('memory counter store bounds', () => {
  it('never holds more keys than configured, dropping stale windows first', async () => {
    const counters = new MemoryCounterStore({ maxKeys: 100, maxLocks: 10 });
    const minute = 60_000;
    await counters.increment('still-counting', minute, 10 * minute);
    for (let index = 0; index < 1000; index += 1) await counters.increment(`spray-${index}`, minute, 10 * minute + index);
    expect(counters.size.keys).toBeLessThanOrEqual(100);

    // Windows two buckets old are stale: a new key evicts them before anything live.
    const fresh = new MemoryCounterStore({ maxKeys: 10 });
    for (let index = 0; index < 9; index += 1) await fresh.increment(`old-${index}`, minute, 0);
    await fresh.increment('live', minute, 5 * minute);
    await fresh.increment('new', minute, 5 * minute);
    expect(await fresh.get('live', minute, 5 * minute)).toBe(1);
    expect(fresh.size.keys).toBe(2);
  });

  it('bounds locks, evicting expired ones first', async () => {
    const counters = new MemoryCounterStore({ maxLocks: 10 });
    for (let index = 0; index < 9; index += 1) await counters.lockUntil(`expired-${index}`, 1000);
    await counters.lockUntil('live', 10_000);
    expect(await counters.lockedUntil('live', 2000)).toBe(10_000);
    await counters.lockUntil('new', 20_000);
    expect(counters.size.locks).toBe(2);
    expect(await counters.lockedUntil('live', 2000)).toBe(10_000);
    expect(await counters.lockedUntil('new', 2000)).toBe(20_000);
    for (let index = 0; index < 100; index += 1) await counters.lockUntil(`spray-${index}`, 30_000);
    expect(counters.size.locks).toBeLessThanOrEqual(10);
  });
});
