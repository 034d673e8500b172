/**
 * The rate-limit part of the counters port contract (take, quota, acquire, release), written once and run against
 * every adapter with an injected clock: memory (counters.test.ts) and Redis with `clock: 'caller'`
 * (redis/redis.test.ts), so the Lua scripts are held to exactly the same boundaries as the TypeScript.
 */
import { describe, expect, it } from 'vitest';
import type { CounterStore, QuotaPeriod, RateDecision } from './ports.ts';

export interface OpenedCounterStore {
  readonly store: CounterStore;
  /** Whether the adapter frees unreleased concurrency slots after their lease (shared stores do). */
  readonly leases: boolean;
  cleanup(): Promise<void>;
}

/** A copy of a decision (adapters may reuse the object they return). */
async function decide(answer: RateDecision | Promise<RateDecision>): Promise<RateDecision> {
  const d = await answer;
  return { allowed: d.allowed, remaining: d.remaining, retryAfterMs: d.retryAfterMs, resetMs: d.resetMs };
}

const at = (iso: string): number => Date.parse(iso);

export function describeCounterRateContract(adapter: string, open: () => Promise<OpenedCounterStore>): void {
  describe(`counters port, rate-limit methods: ${adapter}`, () => {
    async function withStore(run: (store: CounterStore) => Promise<void>, leases?: (opened: OpenedCounterStore) => boolean): Promise<void> {
      const opened = await open();
      try {
        if (leases && !leases(opened)) return;
        await run(opened.store);
      } finally {
        await opened.cleanup();
      }
    }

    async function countAllowed(store: CounterStore, key: string, intervalMs: number, burst: number, from: number, to: number, stepMs: number): Promise<number> {
      // Sent without waiting for each answer (one connection runs them in order): a pipelined run, not 10,000 round trips.
      const answers: Array<boolean | Promise<boolean>> = [];
      for (let now = from; now < to; now += stepMs) {
        const answer = store.take(key, intervalMs, burst, now);
        answers.push(answer instanceof Promise ? answer.then((d) => d.allowed) : answer.allowed);
      }
      return (await Promise.all(answers)).filter(Boolean).length;
    }

    it('GCRA: a burst, then exactly one request per emission interval, with exact retry and reset times', () =>
      withStore(async (store) => {
        const t0 = 1_750_000_000_000;
        // 10/s: interval 100 ms, burst 10.
        for (let i = 0; i < 10; i++) {
          expect(await decide(store.take('api', 100, 10, t0))).toEqual({ allowed: true, remaining: 9 - i, retryAfterMs: 0, resetMs: (i + 1) * 100 });
        }
        expect(await decide(store.take('api', 100, 10, t0))).toEqual({ allowed: false, remaining: 0, retryAfterMs: 100, resetMs: 1000 });
        expect(await decide(store.take('api', 100, 10, t0 + 99))).toEqual({ allowed: false, remaining: 0, retryAfterMs: 1, resetMs: 901 });
        // Refusals spent nothing: exactly at the announced time one request passes, and only one.
        expect(await decide(store.take('api', 100, 10, t0 + 100))).toEqual({ allowed: true, remaining: 0, retryAfterMs: 0, resetMs: 1000 });
        expect((await decide(store.take('api', 100, 10, t0 + 100))).allowed).toBe(false);
        // Another key is untouched.
        expect((await decide(store.take('other', 100, 10, t0 + 100))).remaining).toBe(9);
      }));

    it('GCRA: no double burst where a fixed window would reset', () =>
      withStore(async (store) => {
        const second = 1_750_000_001_000; // a whole second: a fixed 1 s window starts here
        // A full burst 1 ms before the boundary ...
        expect(await countAllowed(store, 'edge', 100, 10, second - 1, second, 1)).toBe(1);
        for (let i = 0; i < 9; i++) await store.take('edge', 100, 10, second - 1);
        // ... and 20 ms past it nothing more passes (a fixed window would allow 10 more at once).
        expect(await countAllowed(store, 'edge', 100, 10, second, second + 20, 1)).toBe(0);
        // Over the next full second, exactly the rate: one per 100 ms from second - 1 + 100 on.
        expect(await countAllowed(store, 'edge', 100, 10, second + 20, second + 1020, 1)).toBe(10);
      }));

    it('GCRA: exact counts over a long run, also with a fractional interval', () =>
      withStore(async (store) => {
        const t0 = 1_760_000_000_000;
        // Burst 10, then one per 100 ms at t0+100 … t0+9900: 10 + 99 over [t0, t0 + 10 s).
        expect(await countAllowed(store, 'steady', 100, 10, t0, t0 + 10_000, 1)).toBe(109);
        // 3/s: interval 333.333 ms. Burst 3, then the k-th at the first whole ms ≥ t0 + k × 333.333:
        // k = 1 … 89 fall before t0 + 30 s (k = 90 lands at 29,999.97 → 30,000): 3 + 89.
        expect(await countAllowed(store, 'thirds', 1000 / 3, 3, t0, t0 + 30_000, 1)).toBe(92);
      }));

    it('GCRA: a burst smaller than the rate, and a key idle long enough starts full again', () =>
      withStore(async (store) => {
        const t0 = 1_770_000_000_000;
        // 100/m (interval 600 ms) with burst 5.
        expect(await countAllowed(store, 'small', 600, 5, t0, t0 + 1, 1)).toBe(1);
        for (let i = 0; i < 10; i++) await store.take('small', 600, 5, t0);
        expect((await decide(store.take('small', 600, 5, t0))).allowed).toBe(false);
        // One interval later exactly one unit came back.
        expect(await decide(store.take('small', 600, 5, t0 + 600))).toEqual({ allowed: true, remaining: 0, retryAfterMs: 0, resetMs: 3000 });
        expect(await decide(store.take('small', 600, 5, t0 + 600 + 60_000))).toEqual({ allowed: true, remaining: 4, retryAfterMs: 0, resetMs: 600 });
      }));

    const quotaCases: Array<[string, QuotaPeriod, string, string, string]> = [
      ['a day rolls over at 00:00Z', 'day', '2025-03-31T23:59:59.000Z', '2025-04-01T00:00:00.000Z', '2025-04-02T00:00:00.000Z'],
      ['a month rolls over on the 1st (leap February)', 'month', '2024-02-29T12:00:00.000Z', '2024-03-01T00:00:00.000Z', '2024-04-01T00:00:00.000Z'],
      ['a month rolls over on the 1st (February of a non-leap century)', 'month', '2100-02-28T23:59:59.999Z', '2100-03-01T00:00:00.000Z', '2100-04-01T00:00:00.000Z'],
      ['a month rolls over at the new year', 'month', '2025-12-31T23:59:59.999Z', '2026-01-01T00:00:00.000Z', '2026-02-01T00:00:00.000Z'],
      ['a 31-day month', 'month', '2025-01-01T00:00:00.000Z', '2025-02-01T00:00:00.000Z', '2025-03-01T00:00:00.000Z'],
    ];
    it.each(quotaCases)('quota: %s', (_label, period, before, boundary, nextBoundary) =>
      withStore(async (store) => {
        const now = at(before);
        const end = at(boundary);
        expect(await decide(store.quota('consumer:acme', 3, period, now))).toEqual({ allowed: true, remaining: 2, retryAfterMs: 0, resetMs: end - now });
        expect((await decide(store.quota('consumer:acme', 3, period, now))).remaining).toBe(1);
        expect((await decide(store.quota('consumer:acme', 3, period, now))).remaining).toBe(0);
        expect(await decide(store.quota('consumer:acme', 3, period, now))).toEqual({ allowed: false, remaining: 0, retryAfterMs: end - now, resetMs: end - now });
        expect((await decide(store.quota('consumer:acme', 3, period, end - 1))).allowed).toBe(false);
        // The new period starts with the whole quota.
        expect(await decide(store.quota('consumer:acme', 3, period, end))).toEqual({ allowed: true, remaining: 2, retryAfterMs: 0, resetMs: at(nextBoundary) - end });
        expect((await decide(store.quota('consumer:other', 3, period, now))).remaining).toBe(2);
      }),
    );

    it('concurrency: slots are taken and freed; a freed slot is available at once', () =>
      withStore(async (store) => {
        const now = 1_750_000_000_000;
        expect(await store.acquire('conc', 'a', 2, 60_000, now)).toBe(1);
        expect(await store.acquire('conc', 'b', 2, 60_000, now)).toBe(0);
        expect(await store.acquire('conc', 'c', 2, 60_000, now)).toBe(-1);
        await store.release('conc', 'a');
        expect(await store.acquire('conc', 'c', 2, 60_000, now)).toBe(0);
        await store.release('conc', 'b');
        await store.release('conc', 'c');
        expect(await store.acquire('conc', 'd', 2, 60_000, now)).toBe(1);
        expect(await store.acquire('elsewhere', 'e', 1, 60_000, now)).toBe(0);
      }));

    it('concurrency: a slot never released is freed after its lease (shared stores)', () =>
      withStore(
        async (store) => {
          const now = 1_750_000_000_000;
          expect(await store.acquire('leased', 'dead-node', 1, 5_000, now)).toBe(0);
          expect(await store.acquire('leased', 'next', 1, 5_000, now + 4_999)).toBe(-1);
          expect(await store.acquire('leased', 'next', 1, 5_000, now + 5_001)).toBe(0);
        },
        (opened) => opened.leases,
      ));

    it('keeps key families and long keys apart', () =>
      withStore(async (store) => {
        const now = 1_750_000_000_000;
        const long = 'rl:r:api:0:h:=' + 'x'.repeat(5000);
        expect((await decide(store.take(long + 'a', 1000, 1, now))).allowed).toBe(true);
        expect((await decide(store.take(long + 'a', 1000, 1, now))).allowed).toBe(false);
        // Same 5,000-character start, different end: its own counter.
        expect((await decide(store.take(long + 'b', 1000, 1, now))).allowed).toBe(true);
        // One name in every family: no family sees another's state.
        expect((await decide(store.take('k', 1000, 1, now))).allowed).toBe(true);
        expect((await decide(store.quota('k', 1, 'day', now))).allowed).toBe(true);
        expect(await store.acquire('k', 'x', 1, 1000, now)).toBe(0);
        expect(await store.increment('k', 60_000, now)).toBe(1);
        expect(() => store.take('', 1000, 1, now)).toThrow(TypeError);
        expect(() => store.take('k', 0, 1, now)).toThrow(TypeError);
        expect(() => store.take('k', 1000, 0, now)).toThrow(TypeError);
        expect(() => store.quota('k', 1, 'week' as QuotaPeriod, now)).toThrow(TypeError);
        await store.release('k', 'x');
      }));
  });
}
