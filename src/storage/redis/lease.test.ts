/**
 * Local reservations of rate-limit units (`counters.lease`, counters.ts) against a real Redis (REDIS_URL, default
 * redis://127.0.0.1:6379, or a redis-server started for the run; never skipped). What must hold:
 * - with the allowance not refilling (the caller's clock held still), never more admitted than the limit, however
 *   many processes hold leases (units are counted in Redis when reserved), and at most one lease each fewer;
 * - a leased check answers synchronously, with the `remaining` a check without leases would have given;
 * - checks arriving while a lease is renewed wait for it: one reservation in flight per key, not one per check;
 * - refusals are the same as without leases; units not used before the lease's ttl are given up, never used late;
 * - limits whose burst × fraction is under 2 are never leased.
 * Each test uses its own key prefix and the caller's clock, so counts are exact and no test depends on wall time.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import type { RateDecision } from '../ports.ts';
import { acquireRedis, openRedisCounterStore, type RedisCounterStore } from './index.ts';
import type { ScriptingBufferCommands } from './connection.ts';
import { MAX_LEASES, type LeaseSettings } from './counters.ts';
import { stopTestRedis, testRedisUrl, uniqueKeyPrefix } from '../../../test/redis-server.ts';
import { countersConfigOf } from '../counters-config.ts';
import { loadConfigObject } from '../../config/load.ts';

let url: string;
beforeAll(async () => {
  url = await testRedisUrl();
});
afterAll(async () => {
  await stopTestRedis();
});

const LEASE: LeaseSettings = { fraction: 0.005, maxUnits: 64, ttlMs: 1000 };
const NOW = 1_700_000_000_000;
/** 1,000,000 per day: a burst of 1,000,000, leases of 64 units. */
const DAY_INTERVAL = 86_400_000 / 1_000_000;

async function openLeased(prefix: string, lease: LeaseSettings = LEASE): Promise<RedisCounterStore> {
  const store = openRedisCounterStore(url, { keyPrefix: prefix, commandTimeoutMs: 2000, clock: 'caller', lease });
  expect(await store.ready).toBe(true);
  return store;
}

/** Counts the GCRA scripts the process's connection to `url` runs while `body` runs. */
async function countingScripts<T>(body: () => Promise<T>): Promise<{ result: T; scripts: number }> {
  const connection = acquireRedis(url, { commandTimeoutMs: 2000 });
  const raw = connection.client as unknown as ScriptingBufferCommands & { evalsha: ScriptingBufferCommands['evalshaBuffer'] };
  const { evalsha, evalshaBuffer } = raw;
  let scripts = 0;
  const counting = (original: (...a: Array<string | number>) => Promise<unknown>) =>
    function (this: unknown, ...args: Array<string | number>) {
      scripts++;
      return original.apply(this, args);
    };
  raw.evalsha = counting(evalsha);
  raw.evalshaBuffer = counting(evalshaBuffer);
  try {
    return { result: await body(), scripts };
  } finally {
    raw.evalsha = evalsha;
    raw.evalshaBuffer = evalshaBuffer;
    await connection.release();
  }
}

describe('rate-limit leases on Redis', () => {
  it('answers the next checks of a key from one reservation, synchronously, with the remaining of unleased checks', async () => {
    const store = await openLeased(uniqueKeyPrefix('lease-sync'));
    try {
      const { result: first, scripts } = await countingScripts(async () => {
        const first = await store.take('k', DAY_INTERVAL, 1_000_000, NOW);
        const rest: RateDecision[] = [];
        for (let i = 0; i < 63; i++) {
          const answer = store.take('k', DAY_INTERVAL, 1_000_000, NOW);
          expect(answer).not.toBeInstanceOf(Promise);
          rest.push({ ...(answer as RateDecision) });
        }
        return [first, ...rest];
      });
      expect(scripts).toBe(1);
      expect(first.every((d) => d.allowed)).toBe(true);
      // What 64 checks without leases would have said: one unit less each time.
      expect(first.map((d) => d.remaining)).toEqual(Array.from({ length: 64 }, (_, i) => 1_000_000 - 1 - i));
      expect(store.leaseStats()).toMatchObject({ held: 1, served: 63, reserved: 64, given: 0 });
      // The 65th check reserves again (a promise), and Redis has counted every unit.
      const again = store.take('k', DAY_INTERVAL, 1_000_000, NOW);
      expect(again).toBeInstanceOf(Promise);
      expect((await again).remaining).toBe(1_000_000 - 65);
    } finally {
      await store.close();
    }
  });

  it('two processes with leases admit no more than the allowance, and strand at most one lease each', async () => {
    const prefix = uniqueKeyPrefix('lease-global');
    // Two gateway processes, each with its own leases. 2,000 per day: leases of 10.
    // (Two store instances share the process's one connection, but each holds its own leases, as two processes do.)
    const a = await openLeased(prefix);
    const b = await openLeased(prefix);
    try {
      const interval = 86_400_000 / 2000;
      const answers: Array<Promise<RateDecision> | RateDecision> = [];
      // 3,000 checks in waves of 100 concurrent, alternating processes: far more than the limit.
      for (let wave = 0; wave < 30; wave++) {
        const batch = Array.from({ length: 100 }, (_, i) => ((wave + i) % 2 === 0 ? a : b).take('shared', interval, 2000, NOW));
        answers.push(...(await Promise.all(batch)).map((d) => ({ ...d })));
      }
      const admitted = (await Promise.all(answers)).filter((d) => d.allowed).length;
      expect(admitted).toBeLessThanOrEqual(2000);
      expect(admitted).toBeGreaterThanOrEqual(2000 - 2 * 10);
      // Redis holds the truth: the allowance is spent whoever used the units.
      expect((await a.take('shared', interval, 2000, NOW)).allowed).toBe(false);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('checks arriving while a lease is renewed wait for it: two reservations for 100 concurrent checks, not 100', async () => {
    const store = await openLeased(uniqueKeyPrefix('lease-waiters'));
    try {
      const { result, scripts } = await countingScripts(() => Promise.all(Array.from({ length: 100 }, () => store.take('busy', DAY_INTERVAL, 1_000_000, NOW))));
      expect(result.every((d) => d.allowed)).toBe(true);
      expect(scripts).toBe(2);
      expect(store.leaseStats()).toMatchObject({ reserved: 128, served: 98 });
      // Every answer is a distinct unit: no remaining is given twice.
      expect(new Set(result.map((d) => d.remaining)).size).toBe(100);
    } finally {
      await store.close();
    }
  });

  it('a refusal reaches the checks that waited for the reservation, with its retry time; nothing is admitted', async () => {
    const store = await openLeased(uniqueKeyPrefix('lease-refused'), { fraction: 0.05, maxUnits: 64, ttlMs: 1000 });
    try {
      const interval = 86_400_000 / 1000;
      // Spend the whole allowance (1,000 per day, leases of 50).
      const spent = await Promise.all(Array.from({ length: 1000 }, () => store.take('full', interval, 1000, NOW)));
      expect(spent.filter((d) => d.allowed)).toHaveLength(1000);
      const refused = await Promise.all(Array.from({ length: 10 }, () => store.take('full', interval, 1000, NOW)));
      expect(refused.every((d) => !d.allowed && d.remaining === 0 && d.retryAfterMs > 0)).toBe(true);
    } finally {
      await store.close();
    }
  });

  it('gives up the units of a lease older than its ttl instead of using them late, and counts them', async () => {
    const store = await openLeased(uniqueKeyPrefix('lease-ttl'));
    // One unit back every 100 s: nothing refills within the test's second, so the counts are exact.
    const slow = 100_000;
    try {
      await store.take('idle', slow, 1_000_000, NOW);
      expect(store.take('idle', slow, 1_000_000, NOW + 999)).not.toBeInstanceOf(Promise);
      // At the ttl, the 62 units left are given up (spent in Redis, never used); the check reserves anew.
      const late = store.take('idle', slow, 1_000_000, NOW + 1000);
      expect(late).toBeInstanceOf(Promise);
      expect((await late).remaining).toBe(1_000_000 - 128 + 63);
      expect(store.leaseStats()).toMatchObject({ given: 62, reserved: 128 });
    } finally {
      await store.close();
    }
  });

  it('never leases a limit whose burst × fraction is under 2: every check goes to Redis', async () => {
    const store = await openLeased(uniqueKeyPrefix('lease-small'));
    try {
      // 100 per minute: 0.5 % of 100 is 0.5 unit.
      const answers = [];
      for (let i = 0; i < 5; i++) {
        const answer = store.take('login', 600, 100, NOW);
        expect(answer).toBeInstanceOf(Promise);
        answers.push(await answer);
      }
      expect(answers.map((d) => d.remaining)).toEqual([99, 98, 97, 96, 95]);
      expect(store.leaseStats()).toMatchObject({ held: 0, reserved: 0 });
    } finally {
      await store.close();
    }
  });

  it('keys longer than the raw-key bound (attacker-chosen header values) are never leased: the table holds short keys only', async () => {
    const store = await openLeased(uniqueKeyPrefix('lease-long'));
    try {
      const long = `header:x-tenant:${'t'.repeat(200)}`;
      for (let i = 0; i < 3; i++) {
        const answer = store.take(long, DAY_INTERVAL, 1_000_000, NOW);
        expect(answer).toBeInstanceOf(Promise);
        expect((await answer).remaining).toBe(1_000_000 - 1 - i);
      }
      expect(store.leaseStats()).toMatchObject({ held: 0, reserved: 0 });
    } finally {
      await store.close();
    }
  });

  it('a limit whose parameters changed (a reload) gives up the old lease and reserves under the new ones', async () => {
    const store = await openLeased(uniqueKeyPrefix('lease-params'));
    try {
      await store.take('k', DAY_INTERVAL, 1_000_000, NOW);
      const changed = store.take('k', DAY_INTERVAL * 2, 500_000, NOW);
      expect(changed).toBeInstanceOf(Promise);
      await changed;
      expect(store.leaseStats()).toMatchObject({ held: 1, given: 63 });
    } finally {
      await store.close();
    }
  });

  it(`holds at most ${MAX_LEASES} leases, giving up the ones renewed longest ago`, async () => {
    const store = await openLeased(uniqueKeyPrefix('lease-bound'));
    try {
      for (let i = 0; i < MAX_LEASES + 50; i += 500) {
        await Promise.all(Array.from({ length: Math.min(500, MAX_LEASES + 50 - i) }, (_, j) => store.take(`addr-${i + j}`, DAY_INTERVAL, 1_000_000, NOW)));
      }
      const stats = store.leaseStats();
      expect(stats.held).toBe(MAX_LEASES);
      expect(stats.given).toBe(50 * 63);
      // The first keys were given up: a check of one reserves again.
      const renewed = store.take('addr-0', DAY_INTERVAL, 1_000_000, NOW);
      expect(renewed).toBeInstanceOf(Promise);
      expect((await renewed).allowed).toBe(true);
      expect(store.take(`addr-${MAX_LEASES + 49}`, DAY_INTERVAL, 1_000_000, NOW)).not.toBeInstanceOf(Promise);
    } finally {
      await store.close();
    }
  });

  it('a damaged grant in the reply (more units than asked) fails the check as a store error', async () => {
    const prefix = uniqueKeyPrefix('lease-damaged');
    const store = await openLeased(prefix);
    const admin = new Redis(url);
    try {
      // A script answering 1,000 units for a lease of 64 cannot be this adapter's: swap the reply through the client.
      const connection = acquireRedis(url, { commandTimeoutMs: 2000 });
      const raw = connection.client as unknown as { evalsha: (...a: unknown[]) => Promise<unknown> };
      const evalsha = raw.evalsha;
      raw.evalsha = async () => [1, 10, 0, 5, 1000];
      try {
        await expect(store.take('k', DAY_INTERVAL, 1_000_000, NOW)).rejects.toThrow(/units reserved/);
      } finally {
        raw.evalsha = evalsha;
        await connection.release();
      }
      expect(store.leaseStats().held).toBe(1);
      expect(store.leaseStats().reserved).toBe(0);
    } finally {
      admin.disconnect();
      await store.close();
    }
  });
});

describe('counters.lease in the config', () => {
  it('is on by default for Redis, can be turned off, and is bounded', () => {
    const base = { mode: 'development', listen: { host: '127.0.0.1', port: 0 }, admin: false, routes: [] };
    const load = (counters: Record<string, unknown>) => loadConfigObject({ ...base, counters: { store: 'redis://127.0.0.1:6379', ...counters } });
    const defaults = load({});
    expect(defaults.ok).toBe(true);
    if (defaults.ok) expect(countersConfigOf(defaults.config.document).lease).toEqual({ fraction: 0.005, maxUnits: 64, ttlMs: 1000 });
    const off = load({ lease: false });
    if (!off.ok) throw new Error(off.errors.join('\n'));
    expect(countersConfigOf(off.config.document).lease).toBeUndefined();
    const tuned = load({ lease: { fraction: 0.01, ttl: '250ms' } });
    if (!tuned.ok) throw new Error(tuned.errors.join('\n'));
    expect(countersConfigOf(tuned.config.document).lease).toEqual({ fraction: 0.01, maxUnits: 64, ttlMs: 250 });
    for (const lease of [true, { fraction: 0 }, { fraction: 0.5 }, { maxUnits: 1 }, { maxUnits: 100_000 }, { ttl: 'soon' }, { extra: 1 }]) {
      const result = load({ lease });
      expect(result.ok, JSON.stringify(lease)).toBe(false);
      if (!result.ok) expect(result.errors.join('\n')).toContain('counters.lease');
    }
  });
});
