/**
 * The Redis counter adapter against a real Redis (REDIS_URL, default redis://127.0.0.1:6379, or a redis-server
 * started for the run; never skipped): the whole storage contract with Redis counters, the rate-limit contract
 * with an injected clock (the Lua scripts held to the TypeScript's exact boundaries), and Redis' own clock with
 * bursts sent well inside one window. Each test uses its own key prefix.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { describeStoreContract } from '../contract.testkit.ts';
import { describeCounterRateContract } from '../counters.testkit.ts';
import { openMemoryStores } from '../memory/index.ts';
import { openStores } from '../index.ts';
import { CounterStoreUnavailableError, StoreCorruptError, type RateDecision } from '../ports.ts';
import { MemoryCounterStore } from '../memory/counters.ts';
import { RecordingSecurityEvents } from '../../observe/events.ts';
import { BruteForceGuard } from '../../identity/login/brute-force.ts';
import { GCRA, GCRA_BATCH } from './scripts.ts';
import { runScriptOnKeys, type ScriptingBufferCommands } from './connection.ts';
import { DAMAGED_LOCK_MS, MAX_BATCH } from './counters.ts';
import type { Socket } from 'node:net';
import { acquireRedis, openRedisCounterStore, openRedisConnections, RedisCounterStore } from './index.ts';
import { startRedisServer, stopTestRedis, testRedisUrl, uniqueKeyPrefix } from '../../../test/redis-server.ts';

let url: string;
beforeAll(async () => {
  url = await testRedisUrl();
});
afterAll(async () => {
  await stopTestRedis();
});

function open(prefix: string, clock: 'server' | 'caller' = 'caller'): RedisCounterStore {
  return openRedisCounterStore(url, { keyPrefix: prefix, commandTimeoutMs: 2000, clock });
}

async function openReady(prefix: string, clock: 'server' | 'caller' = 'caller'): Promise<RedisCounterStore> {
  const store = open(prefix, clock);
  expect(await store.ready).toBe(true);
  return store;
}

describeStoreContract('memory identities + Redis counters', async (masterKey) => {
  const counterStore = await openReady(uniqueKeyPrefix('contract'));
  const stores = openStores('memory:', { masterKey, counterStore });
  return { stores, cleanup: () => stores.close() };
});

describeCounterRateContract('redis (caller clock)', async () => {
  const store = await openReady(uniqueKeyPrefix('rate-contract'));
  return { store, leases: true, cleanup: () => store.close() };
});

describe('Redis counters on Redis time', () => {
  it('lets exactly the burst through when 500 requests arrive well inside one window', async () => {
    const store = await openReady(uniqueKeyPrefix('server-clock'), 'server');
    try {
      // 100 per day: the allowance refills by ~0.06 per minute, so the burst is the whole answer.
      const interval = 86_400_000 / 100;
      const answers = await Promise.all(Array.from({ length: 500 }, () => store.take('burst', interval, 100, 0)));
      expect(answers.filter((d) => d.allowed)).toHaveLength(100);
      const remaining = answers.filter((d) => d.allowed).map((d) => d.remaining).sort((a, b) => a - b);
      expect(remaining).toEqual(Array.from({ length: 100 }, (_, i) => i));
      for (const refused of answers.filter((d) => !d.allowed)) expect(refused.retryAfterMs).toBeGreaterThan(0);
      // Quotas and slots on Redis time too.
      const quota = await Promise.all(Array.from({ length: 50 }, () => store.quota('q', 20, 'day', 0)));
      expect(quota.filter((d) => d.allowed)).toHaveLength(20);
      const slots = await Promise.all(Array.from({ length: 30 }, (_, i) => store.acquire('c', `l${i}`, 7, 60_000, 0)));
      expect(slots.filter((n) => n >= 0)).toHaveLength(7);
    } finally {
      await store.close();
    }
  });

  it('keeps working after SCRIPT FLUSH (EVALSHA falls back to EVAL on NOSCRIPT)', async () => {
    const store = await openReady(uniqueKeyPrefix('noscript'));
    const admin = new Redis(url);
    try {
      expect((await store.take('k', 1000, 2, 1_000_000)).allowed).toBe(true);
      await admin.script('FLUSH');
      expect((await store.take('k', 1000, 2, 1_000_000)).allowed).toBe(true);
      expect((await store.take('k', 1000, 2, 1_000_000)).allowed).toBe(false);
      expect(await store.increment('w', 60_000, 1_000_000)).toBe(1);
    } finally {
      admin.disconnect();
      await store.close();
    }
  });

  it('bounds key length in Redis: a 10,000-character key is stored under a 64-hex digest', async () => {
    const prefix = uniqueKeyPrefix('bounded');
    const store = await openReady(prefix);
    const admin = new Redis(url);
    try {
      await store.take('h:' + 'y'.repeat(10_000), 1000, 5, 1_000_000);
      const keys = await admin.keys(`${prefix}*`);
      expect(keys).toHaveLength(1);
      expect(keys[0]).toMatch(new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}g:h:[0-9a-f]{64}$`));
      // Every key expires.
      expect(await admin.pttl(keys[0]!)).toBeGreaterThan(0);
    } finally {
      admin.disconnect();
      await store.close();
    }
  });

  it('sends the commands of one event-loop turn in one socket write, and each later turn in its own', async () => {
    const store = await openReady(uniqueKeyPrefix('coalesce'));
    // The store's own connection (one per URL and timeout in a process), to count the writes on its socket.
    const lease = acquireRedis(url, { commandTimeoutMs: 2000 });
    const socket = lease.client.stream as Socket;
    const writes: number[] = [];
    const { _write: write, _writev: writev } = socket;
    socket._write = function (chunk, encoding, callback) {
      writes.push(1);
      write.call(this, chunk, encoding, callback);
    };
    socket._writev = function (chunks, callback) {
      writes.push(chunks.length);
      writev!.call(this, chunks, callback);
    };
    try {
      const counts = await Promise.all(Array.from({ length: 200 }, (_, i) => store.increment(`k${i % 10}`, 60_000, 1_000_000)));
      expect(writes).toEqual([200]);
      // Each command still has its own, correct answer: 20 increments per key, in order.
      for (let k = 0; k < 10; k++) expect(counts.filter((_, i) => i % 10 === k)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      // Awaiting each answer before the next command: one write per command.
      for (let i = 0; i < 3; i++) await store.increment('alone', 60_000, 1_000_000);
      expect(writes).toEqual([200, 1, 1, 1]);
    } finally {
      socket._write = write;
      socket._writev = writev;
      await lease.release();
      await store.close();
    }
  });

  it('sends the rate checks of one turn as one batched script (at most MAX_BATCH keys), each caller getting its own decision', async () => {
    const store = await openReady(uniqueKeyPrefix('batch'));
    const reference = new MemoryCounterStore();
    // Count the scripts the store's own connection runs (the real client; the call goes through unchanged).
    const lease = acquireRedis(url, { commandTimeoutMs: 2000 });
    const client = lease.client;
    const sent: Array<{ sha: string; keys: number; argv: number }> = [];
    // Single checks go as evalsha, batches as evalshaBuffer (connection.ts runScriptOnKeys): both are counted.
    const raw = client as unknown as ScriptingBufferCommands & { evalsha: ScriptingBufferCommands['evalshaBuffer'] };
    const { evalsha, evalshaBuffer } = raw;
    const counting = (original: (...a: Array<string | number>) => Promise<unknown>) =>
      function (this: unknown, ...args: Array<string | number>) {
        sent.push({ sha: String(args[0]), keys: Number(args[1]), argv: args.length - 2 - Number(args[1]) });
        return original.apply(this, args);
      };
    raw.evalsha = counting(evalsha);
    raw.evalshaBuffer = counting(evalshaBuffer);
    try {
      // 200 checks over 10 keys with different rates in one turn, one key named 20 times: the decisions are those
      // of the same checks made one by one, in order (the memory store is the reference).
      const checks = Array.from({ length: 200 }, (_, i) => ({ key: `k${i % 10}`, interval: 1000 * ((i % 10) + 1), burst: (i % 10) + 1 }));
      const answers = await Promise.all(checks.map((c) => store.take(c.key, c.interval, c.burst, 1_000_000)));
      const expected: RateDecision[] = [];
      // (copied: the memory store answers with one reused decision object)
      for (const c of checks) expected.push({ ...(await reference.take(c.key, c.interval, c.burst, 1_000_000)) });
      expect(answers).toEqual(expected);
      expect(answers.filter((d) => d.allowed)).toHaveLength(55);
      // Each parameter set goes once per batch (10 here: the group count, then five per group), not once per key.
      expect(sent).toEqual([
        { sha: GCRA_BATCH.sha, keys: MAX_BATCH, argv: 1 + 5 * 10 },
        { sha: GCRA_BATCH.sha, keys: 200 - MAX_BATCH, argv: 1 + 5 * 10 },
      ]);
      // A lone check goes as the single-key script; after SCRIPT FLUSH a batch still runs (EVAL fallback).
      sent.length = 0;
      expect((await store.take('alone', 1000, 5, 1_000_000)).remaining).toBe(4);
      expect(sent).toEqual([{ sha: GCRA.sha, keys: 1, argv: 4 }]);
      const admin = new Redis(url);
      await admin.script('FLUSH');
      admin.disconnect();
      const again = await Promise.all([store.take('alone', 1000, 5, 1_000_000), store.take('other', 1000, 5, 1_000_000)]);
      expect(again.map((d) => d.remaining)).toEqual([3, 4]);
    } finally {
      raw.evalsha = evalsha;
      raw.evalshaBuffer = evalshaBuffer;
      await lease.release();
      await store.close();
      await reference.close();
    }
  });

  // The batch script checks its own arguments: group counts that do not add up to the keys are an error reply (the
  // callers then fail as on any store error), never a decision for the wrong key or a key left unchecked.
  it.each([
    ['counts short of the keys', ['a', 'b', 'c'], [1, 1000, 5, -1, 1, 2]],
    ['counts beyond the keys', ['a', 'b'], [2, 1000, 5, -1, 1, 1, 2000, 5, -1, 1, 2]],
    ['no groups', ['a'], [0]],
  ])('refuses a batch whose groups do not match its keys: %s', async (_what, keys, args) => {
    const lease = acquireRedis(url, { commandTimeoutMs: 2000 });
    try {
      expect(await lease.ready).toBe(true);
      const prefix = uniqueKeyPrefix('batch-shape');
      await expect(runScriptOnKeys(lease.client, GCRA_BATCH, keys.map((k) => prefix + k), args as number[], (reply) => reply)).rejects.toThrow(/group counts do not match/);
    } finally {
      await lease.release();
    }
  });

  it('fails every check of a batch when the store closes before the batch is sent, and none is lost silently', async () => {
    const store = await openReady(uniqueKeyPrefix('batch-closed'));
    const pending = Array.from({ length: 5 }, (_, i) => store.take(`k${i}`, 1000, 5, 1_000_000));
    const closing = store.close();
    const settled = await Promise.allSettled(pending);
    await closing;
    expect(settled.map((r) => r.status)).toEqual(Array.from({ length: 5 }, () => 'rejected'));
    for (const r of settled) expect((r as PromiseRejectedResult).reason).toBeInstanceOf(CounterStoreUnavailableError);
  });

  it('shares one connection per URL in a process and closes it with the last holder', async () => {
    const before = openRedisConnections();
    const a = await openReady(uniqueKeyPrefix('share'));
    const b = await openReady(uniqueKeyPrefix('share'));
    expect(openRedisConnections()).toBe(before + 1);
    await a.close();
    expect(openRedisConnections()).toBe(before + 1);
    expect((await b.take('k', 1000, 1, 5)).allowed).toBe(true);
    await b.close();
    expect(openRedisConnections()).toBe(before);
  });
});

/**
 * Stored data is input too: values the adapter never wrote, put in Redis by something else. Lua's tonumber accepts
 * 'nan', 'inf', '1e400' (infinity) and '1e300', so before the scripts checked them a damaged failure counter
 * answered NaN for ever (never >= the limit: the account could never be locked) and an 'Infinity' lock read as
 * unlocked yet was never replaced. Each case damages a key through a second connection, then uses the store.
 */
describe('Redis counters with damaged stored values', () => {
  const WINDOW_MS = 15 * 60_000;
  const MAX_FAILURES = 5;
  const LOCK_MS = 15 * 60_000;
  let prefix: string;
  let store: RedisCounterStore;
  let admin: Redis;

  beforeAll(async () => {
    prefix = uniqueKeyPrefix('damaged');
    store = await openReady(prefix);
    admin = new Redis(url);
  });
  afterAll(async () => {
    const keys = await admin.keys(`${prefix}*`);
    if (keys.length > 0) await admin.del(...keys);
    admin.disconnect();
    await store.close();
  });

  /** The Redis key of a short counter key in a method family (w windows, l locks, g GCRA, q quotas, c slots). */
  const redisKey = (family: string, key: string): string => `${prefix}${family}:r:${key}`;

  function guard(): BruteForceGuard {
    const config = { windowMs: WINDOW_MS, maxFailuresPerAccount: MAX_FAILURES, maxFailuresPerAddress: 1_000, lockForMs: LOCK_MS };
    return new BruteForceGuard({ config, counters: store, events: new RecordingSecurityEvents(), pepper: Buffer.alloc(32, 7), delay: async () => undefined });
  }

  it.each(['nan', 'inf', '-inf', '1e400', 'abc', ''])(
    'a failure count damaged to %j reads as 0, never NaN, and the account still locks after the configured failures',
    async (damaged) => {
      const user = `victim-${damaged || 'empty'}`;
      const accountKey = BruteForceGuard.accountKey(user);
      const source = { requestId: 'r', clientAddress: '192.0.2.1' };
      const bruteForce = guard();
      const now = Date.now();
      for (let i = 0; i < 2; i++) await bruteForce.recordFailure(source, user, now, 'password');
      expect(await store.get(accountKey, WINDOW_MS, now)).toBe(2);
      await admin.hset(redisKey('w', accountKey), 'c', damaged);

      expect(await store.get(accountKey, WINDOW_MS, now)).toBe(0);
      for (let failure = 1; failure <= MAX_FAILURES; failure++) {
        expect(await bruteForce.lockFor(user, source.clientAddress, now)).toBeUndefined();
        await bruteForce.recordFailure(source, user, now, 'password');
        expect(await store.get(accountKey, WINDOW_MS, now)).toBe(failure);
      }
      expect(await bruteForce.lockFor(user, source.clientAddress, now)).toEqual({ scope: 'account', until: now + LOCK_MS });
      expect(await admin.hget(redisKey('w', accountKey), 'c')).toBe(String(MAX_FAILURES));
      // The same through increment itself, on a fresh damage: counting starts again at 1.
      await admin.hset(redisKey('w', accountKey), 'c', damaged);
      expect(await store.increment(accountKey, WINDOW_MS, now)).toBe(1);
    },
  );

  it.each(['Infinity', '-Infinity', 'nan', '1e300', 'abc', ''])(
    'a lock damaged to %j fails closed for DAMAGED_LOCK_MS, then ends; lockUntil replaces it',
    async (damaged) => {
      const key = `lock-${damaged || 'empty'}`;
      const now = Date.now();
      await admin.set(redisKey('l', key), damaged);
      // Neither unlocked nor a store error: a lock of bounded length, written back with an expiry.
      expect(await store.lockedUntil(key, now)).toBe(now + DAMAGED_LOCK_MS);
      expect(await admin.get(redisKey('l', key))).toBe(String(now + DAMAGED_LOCK_MS));
      expect(await admin.pttl(redisKey('l', key))).toBeGreaterThan(DAMAGED_LOCK_MS);
      expect(await store.lockedUntil(key, now + DAMAGED_LOCK_MS)).toBeNull();
      // A later lock replaces the stand-in, as it would any lock.
      await store.lockUntil(key, now + DAMAGED_LOCK_MS + LOCK_MS);
      expect(await store.lockedUntil(key, now)).toBe(now + DAMAGED_LOCK_MS + LOCK_MS);

      // lockUntil on the damaged value itself: it counts as no lock, so even an earlier end replaces it.
      await admin.set(redisKey('l', key), damaged);
      await store.lockUntil(key, now + 1_000);
      expect(await store.lockedUntil(key, now)).toBe(now + 1_000);
      expect(await store.lockedUntil(key, now + 1_000)).toBeNull();
    },
  );

  it('a plausible lock end without an expiry is damaged too (this adapter never writes one); a lock it wrote stays as it is', async () => {
    const now = Date.now();
    await admin.set(redisKey('l', 'persisted'), String(now + 365 * 86_400_000));
    expect(await store.lockedUntil('persisted', now)).toBe(now + DAMAGED_LOCK_MS);
    await store.lockUntil('written', now + LOCK_MS);
    expect(await store.lockedUntil('written', now)).toBe(now + LOCK_MS);
    expect(await admin.get(redisKey('l', 'written'))).toBe(String(now + LOCK_MS));
  });

  it('a reply that is not a finite number rejects with StoreCorruptError, so the brute-force guard fails as for a store error', async () => {
    const lease = acquireRedis(url, { commandTimeoutMs: 2000 });
    const client = lease.client;
    const evalsha = client.evalsha;
    const raw = client as unknown as ScriptingBufferCommands;
    const { evalshaBuffer } = raw;
    client.evalsha = (() => Promise.resolve('nan')) as unknown as typeof client.evalsha;
    try {
      await expect(store.increment('k', WINDOW_MS, 1_000_000)).rejects.toBeInstanceOf(StoreCorruptError);
      await expect(store.lockedUntil('k', 1_000_000)).rejects.toBeInstanceOf(StoreCorruptError);
      await expect(guard().recordFailure({ requestId: 'r', clientAddress: '192.0.2.9' }, 'someone', 1_000_000, 'password')).rejects.toBeInstanceOf(
        StoreCorruptError,
      );
      client.evalsha = (() => Promise.resolve([1, 'inf', 0, 0, 1])) as unknown as typeof client.evalsha;
      await expect(Promise.resolve(store.take('k', 1000, 5, 1_000_000))).rejects.toBeInstanceOf(StoreCorruptError);
      // A batch (two checks in one turn) is read raw (evalshaBuffer): a non-integer entry, a bulk string left as a
      // Buffer included, rejects every check of the batch the same way; so do units reserved that do not match the
      // decision (this store asked for 1: leases are off).
      const damagedBatches: Array<[unknown[], RegExp]> = [
        [[1, 'inf', 0, 0, 1], /not a finite number/],
        [[1, Buffer.from('4'), 0, 0, 1], /not a finite number/],
        [[1, 4, 0, 0], /unexpected reply/],
        [[1, 4, 0, 0, 2], /units reserved/],
        [[1, 4, 0, 0, 0], /units reserved/],
        [[0, 0, 10, 10, 1], /units reserved/],
        [[1, 4, 0, 0, 'nan'], /not a finite number/],
      ];
      for (const [damaged, reason] of damagedBatches) {
        raw.evalshaBuffer = () => Promise.resolve([[1, 4, 0, 1, 1], damaged]);
        const settled = await Promise.allSettled([store.take('k', 1000, 5, 1_000_000), store.take('k2', 1000, 5, 1_000_000)]);
        for (const outcome of settled) {
          expect(outcome.status).toBe('rejected');
          expect(String((outcome as PromiseRejectedResult).reason)).toMatch(reason);
        }
      }
    } finally {
      client.evalsha = evalsha;
      raw.evalshaBuffer = evalshaBuffer;
      await lease.release();
    }
  });

  const DAMAGED_NUMBERS = ['nan', 'inf', '-inf', '1e400', '1e300', '-5', 'abc', ''];

  it.each(DAMAGED_NUMBERS)('GCRA: a TAT damaged to %j counts as absent (a full allowance), never a NaN or endless answer', async (damaged) => {
    const key = `gcra-${damaged || 'empty'}`;
    const now = 5_000_000;
    await admin.set(redisKey('g', key), damaged);
    expect(await store.take(key, 1000, 5, now)).toEqual({ allowed: true, remaining: 4, retryAfterMs: 0, resetMs: 1000 });
    expect(await admin.get(redisKey('g', key))).toBe(String((now + 1000) * 1000));
  });

  it('GCRA: a TAT further ahead than the burst allows is cut to an empty allowance, written back, refilling at the rate', async () => {
    const now = 5_000_000;
    await admin.set(redisKey('g', 'far'), String((now + 10 * 365 * 86_400_000) * 1000));
    expect(await store.take('far', 1000, 5, now)).toEqual({ allowed: false, remaining: 0, retryAfterMs: 1000, resetMs: 5000 });
    expect(await admin.pttl(redisKey('g', 'far'))).toBeGreaterThan(0);
    expect((await store.take('far', 1000, 5, now + 1000)).allowed).toBe(true);
    expect((await store.take('far', 1000, 5, now + 1000)).allowed).toBe(false);
  });

  it.each(DAMAGED_NUMBERS)('quota: a period start or count damaged to %j counts as absent, never a NaN or endless answer', async (damaged) => {
    const now = Date.UTC(2030, 0, 15, 12);
    const dayEnd = Date.UTC(2030, 0, 16);
    const startKey = `quota-s-${damaged || 'empty'}`;
    await admin.hset(redisKey('q', startKey), 's', damaged, 'e', damaged, 'n', '7');
    expect(await store.quota(startKey, 3, 'day', now)).toEqual({ allowed: true, remaining: 2, retryAfterMs: 0, resetMs: dayEnd - now });
    const countKey = `quota-n-${damaged || 'empty'}`;
    await admin.hset(redisKey('q', countKey), 's', String(Date.UTC(2030, 0, 15)), 'e', damaged, 'n', damaged);
    expect(await store.quota(countKey, 3, 'day', now)).toEqual({ allowed: true, remaining: 2, retryAfterMs: 0, resetMs: dayEnd - now });
    expect(await admin.hgetall(redisKey('q', countKey))).toEqual({ s: String(Date.UTC(2030, 0, 15)), e: String(dayEnd), n: '1' });
  });

  it('quota: a period starting beyond the next one is not counted into (it would never end); the next period still is', async () => {
    const now = Date.UTC(2030, 0, 15, 12);
    await admin.hset(redisKey('q', 'far'), 's', String(Date.UTC(2100, 0, 1)), 'e', String(Date.UTC(2100, 0, 2)), 'n', '3');
    expect(await store.quota('far', 3, 'day', now)).toMatchObject({ allowed: true, remaining: 2 });
    // A caller whose clock runs ahead wrote the next period: counted into, as before.
    await admin.hset(redisKey('q', 'next'), 's', String(Date.UTC(2030, 0, 16)), 'e', 'junk', 'n', '3');
    expect(await store.quota('next', 3, 'day', now)).toEqual({ allowed: false, remaining: 0, retryAfterMs: Date.UTC(2030, 0, 17) - now, resetMs: Date.UTC(2030, 0, 17) - now });
  });

  it('concurrency: leases scored +inf or absurdly late hold their slot for one lease at most', async () => {
    const now = 5_000_000;
    await admin.zadd(redisKey('c', 'slots'), '+inf', 'ghost', '1e300', 'ghost2');
    expect(await store.acquire('slots', 'a', 3, 5_000, now)).toBe(0);
    expect(await admin.zrange(redisKey('c', 'slots'), 0, -1, 'WITHSCORES')).toEqual(['a', String(now + 5_000), 'ghost', String(now + 5_000), 'ghost2', String(now + 5_000)]);
    expect(await store.acquire('slots', 'b', 3, 5_000, now + 4_999)).toBe(-1);
    expect(await store.acquire('slots', 'b', 3, 5_000, now + 5_001)).toBe(2);
  });
});

describe('Redis going away and coming back', () => {
  it('fails fast while Redis is down, then reconnects and counts in Redis again', async () => {
    const own = await startRedisServer();
    const store = openRedisCounterStore(own.url, { keyPrefix: 'rampart-test:outage:', commandTimeoutMs: 500, clock: 'server' });
    try {
      expect(await store.ready).toBe(true);
      expect((await store.take('k', 86_400_000, 2, 0)).remaining).toBe(1);
      await own.stop();
      await expect(store.take('k', 86_400_000, 2, 0)).rejects.toBeInstanceOf(Error);
      // Not connected: rejected at once, without a round trip.
      let caught: unknown;
      for (let i = 0; i < 50 && caught === undefined; i++) {
        try {
          await store.take('k', 86_400_000, 2, 0);
        } catch (error) {
          if (error instanceof CounterStoreUnavailableError) caught = error;
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(caught).toBeInstanceOf(CounterStoreUnavailableError);
      expect(store.available).toBe(false);
      await own.start();
      // Wait (bounded) for the automatic reconnection; the restarted Redis is empty.
      const deadline = Date.now() + 15_000;
      while (!store.available && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      expect(store.available).toBe(true);
      expect((await store.take('k', 86_400_000, 2, 0)).remaining).toBe(1);
      expect((await store.take('k', 86_400_000, 2, 0)).remaining).toBe(0);
      expect((await store.take('k', 86_400_000, 2, 0)).allowed).toBe(false);
    } finally {
      await store.close();
      await own.stop();
    }
  });
});

describe('memory counters stay the default', () => {
  it('openStores without a counter store keeps the adapter’s own counters', async () => {
    const { parseMasterKey, generateMasterKey } = await import('../../crypto/master-key.ts');
    const stores = openMemoryStores({ masterKey: parseMasterKey(generateMasterKey()) });
    expect(stores.counters).not.toBeInstanceOf(RedisCounterStore);
    await stores.close();
  });
});
