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
import { CounterStoreUnavailableError, type RateDecision } from '../ports.ts';
import { MemoryCounterStore } from '../memory/counters.ts';
import { GCRA, GCRA_BATCH } from './scripts.ts';
import { MAX_BATCH } from './counters.ts';
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
    const sent: Array<{ sha: string; keys: number }> = [];
    const evalsha = client.evalsha;
    client.evalsha = function (this: typeof client, ...args: unknown[]) {
      sent.push({ sha: String(args[0]), keys: Number(args[1]) });
      return (evalsha as (...a: unknown[]) => unknown).apply(this, args);
    } as typeof client.evalsha;
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
      expect(sent).toEqual([
        { sha: GCRA_BATCH.sha, keys: MAX_BATCH },
        { sha: GCRA_BATCH.sha, keys: 200 - MAX_BATCH },
      ]);
      // A lone check goes as the single-key script; after SCRIPT FLUSH a batch still runs (EVAL fallback).
      sent.length = 0;
      expect((await store.take('alone', 1000, 5, 1_000_000)).remaining).toBe(4);
      expect(sent).toEqual([{ sha: GCRA.sha, keys: 1 }]);
      const admin = new Redis(url);
      await admin.script('FLUSH');
      admin.disconnect();
      const again = await Promise.all([store.take('alone', 1000, 5, 1_000_000), store.take('other', 1000, 5, 1_000_000)]);
      expect(again.map((d) => d.remaining)).toEqual([3, 4]);
    } finally {
      client.evalsha = evalsha;
      await lease.release();
      await store.close();
      await reference.close();
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
