/**
 * Rate limits on Redis through real gateways: accuracy at concurrency 50, two gateway OS processes enforcing one
 * global limit, Redis stopped and restarted in the middle (fail closed → 503, fail local → per-process limits,
 * then back to Redis by itself), and the brute-force counters of authentication in Redis too. Redis is the one at
 * REDIS_URL (default redis://127.0.0.1:6379) or a redis-server started for the run, never skipped; the outage
 * test starts its own server. Every gateway uses its own key prefix.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { Pool } from 'undici';
import { Redis } from 'ioredis';
import { startRecordingUpstream, startTestGateway, type RecordingUpstream, type TestGateway } from './helpers.ts';
import { startRedisServer, stopTestRedis, testRedisUrl, uniqueKeyPrefix } from './redis-server.ts';
import { openConfiguredStores } from '../src/storage/configured.ts';
import { RedisCounterStore, openRedisConnections, openRedisCounterStore } from '../src/storage/redis/index.ts';
import { loadTestConfig } from './helpers.ts';

let redisUrl: string;
beforeAll(async () => {
  redisUrl = await testRedisUrl();
});
afterAll(async () => {
  await stopTestRedis();
});

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function upstream(): Promise<RecordingUpstream> {
  const server = await startRecordingUpstream();
  cleanups.push(() => server.close());
  return server;
}

async function gateway(document: Record<string, unknown>): Promise<TestGateway> {
  const gw = await startTestGateway(document);
  cleanups.push(() => gw.close());
  return gw;
}

function limitedRoute(up: RecordingUpstream, rate: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { id: 'api', match: { path: '/**' }, upstream: up.url, public: true, 'address-limit': { limits: [{ key: 'route', rate }], ...extra } };
}

async function blast(urls: readonly string[], total: number, concurrency: number): Promise<Map<number, number>> {
  const pools = urls.map((url) => new Pool(url, { connections: Math.ceil(concurrency / urls.length), pipelining: 1 }));
  const counts = new Map<number, number>();
  let sent = 0;
  const worker = async (index: number) => {
    const pool = pools[index % pools.length]!;
    while (sent < total) {
      sent++;
      const { statusCode, body } = await pool.request({ path: '/load', method: 'GET' });
      await body.dump();
      counts.set(statusCode, (counts.get(statusCode) ?? 0) + 1);
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, (_, i) => worker(i)));
  } finally {
    await Promise.all(pools.map((pool) => pool.close()));
  }
  return counts;
}

async function get(url: string): Promise<{ status: number; code?: string; headers: Headers }> {
  const res = await fetch(url);
  const text = await res.text();
  const code = res.headers.get('content-type') === 'application/problem+json' ? ((JSON.parse(text) as { code: string }).code) : undefined;
  return { status: res.status, code, headers: res.headers };
}

describe('one limit on Redis', () => {
  it('admits the limit within 1% over 10,000 requests at concurrency 50', async () => {
    const up = await upstream();
    const gw = await gateway({ counters: { store: redisUrl, keyPrefix: uniqueKeyPrefix('accuracy') }, routes: [limitedRoute(up, '5000/d')] });
    const counts = await blast([gw.url], 10_000, 50);
    const ok = counts.get(200) ?? 0;
    expect(ok + (counts.get(429) ?? 0)).toBe(10_000);
    expect(Math.abs(ok - 5000)).toBeLessThanOrEqual(50);
    expect(up.seen.length).toBe(ok);
  }, 120_000);

  it('frees concurrency slots held in Redis when requests complete', async () => {
    const held: Array<() => void> = [];
    const up = await startRecordingUpstream((_req, res) => held.push(() => res.end('ok')));
    cleanups.push(() => up.close());
    const gw = await gateway({
      counters: { store: redisUrl, keyPrefix: uniqueKeyPrefix('concurrency') },
      routes: [{ id: 'api', match: { path: '/**' }, upstream: up.url, public: true, 'address-limit': { limits: [{ key: 'ip', concurrency: 2 }] } }],
    });
    for (let round = 0; round < 3; round++) {
      const first = [fetch(`${gw.url}/a`), fetch(`${gw.url}/b`)];
      for (let i = 0; i < 500 && held.length < 2; i++) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(held).toHaveLength(2);
      expect((await get(`${gw.url}/c`)).status).toBe(429);
      for (const release of held.splice(0)) release();
      for (const res of await Promise.all(first)) {
        expect(res.status).toBe(200);
        await res.arrayBuffer();
      }
      // The release (ZREM) follows the response; wait until both slots are back before the next round.
      for (let i = 0; i < 500 && gw.gateway.inFlight > 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  });

  it('two gateway processes sharing Redis enforce one global limit', async () => {
    const up = await upstream();
    const document = {
      mode: 'development',
      listen: { host: '127.0.0.1', port: 0 },
      admin: false,
      counters: { store: redisUrl, keyPrefix: uniqueKeyPrefix('two-processes') },
      routes: [limitedRoute(up, '1000/d')],
    };
    const children: ChildProcess[] = [];
    cleanups.push(async () => {
      await Promise.all(
        children.map(
          (child) =>
            new Promise<void>((resolve) => {
              if (child.exitCode !== null) return resolve();
              child.once('exit', () => resolve());
              child.kill('SIGTERM');
            }),
        ),
      );
    });
    const urls: string[] = [];
    for (let i = 0; i < 2; i++) {
      const child = spawn(process.execPath, ['--import', 'tsx', 'test/redis-gateway.fixture.ts'], {
        env: { ...process.env, RAMPART_FIXTURE_CONFIG: JSON.stringify(document) },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      children.push(child);
      const line = await new Promise<string>((resolve, reject) => {
        const lines = createInterface({ input: child.stdout! });
        lines.once('line', resolve);
        child.once('exit', (code) => reject(new Error(`gateway process exited with ${code}`)));
      });
      urls.push((JSON.parse(line) as { url: string }).url);
    }
    expect(children.map((c) => c.pid)).not.toContain(process.pid);
    // 3,000 requests spread over both processes: each alone would admit 1,000; together they admit 1,000.
    const counts = await blast(urls, 3000, 50);
    const ok = counts.get(200) ?? 0;
    expect(ok + (counts.get(429) ?? 0)).toBe(3000);
    expect(Math.abs(ok - 1000)).toBeLessThanOrEqual(10);
    expect(up.seen.length).toBe(ok);
  }, 120_000);
});

describe('Redis stopped in the middle', () => {
  it('fails closed with 503 or falls back to per-process limits, and returns to Redis by itself', async () => {
    const own = await startRedisServer();
    cleanups.push(() => own.stop());
    const up = await upstream();
    const prefix = uniqueKeyPrefix('outage');
    // Leases off: the last check must reach the restarted Redis, not a lease reserved before the outage.
    const closed = await gateway({ counters: { store: own.url, keyPrefix: prefix, timeout: '200ms', lease: false }, routes: [limitedRoute(up, '1000/d')] });
    const local = await gateway({
      counters: { store: own.url, keyPrefix: prefix, timeout: '200ms', onFailure: 'closed' },
      routes: [{ ...limitedRoute(up, '5/d', { onStoreFailure: 'local' }), id: 'local' }],
    });
    expect((await get(`${closed.url}/a`)).status).toBe(200);
    expect((await get(`${local.url}/a`)).status).toBe(200);

    await own.stop();
    const down = await get(`${closed.url}/b`);
    expect(down.status).toBe(503);
    expect(down.code).toBe('RAMPART_ERR_RATE_LIMIT_UNAVAILABLE');
    expect(down.headers.get('retry-after')).toBe('1');
    for (let i = 0; i < 20; i++) expect((await get(`${closed.url}/b`)).status).toBe(503);
    // Local mode: the same limit (5/d), counted by this process alone while Redis is away.
    const localStatuses: number[] = [];
    for (let i = 0; i < 8; i++) localStatuses.push((await get(`${local.url}/b`)).status);
    expect(localStatuses).toEqual([200, 200, 200, 200, 200, 429, 429, 429]);

    await own.start();
    // Both return to Redis by themselves (the restarted Redis is empty): the closed route answers 200 again, and
    // the local route, whose local allowance is spent, is admitted again, which only Redis can do.
    const untilAdmitted = async (url: string) => {
      const deadline = Date.now() + 20_000;
      let answer = await get(url);
      while (answer.status !== 200 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        answer = await get(url);
      }
      return answer.status;
    };
    expect(await untilAdmitted(`${closed.url}/c`)).toBe(200);
    expect(await untilAdmitted(`${local.url}/c`)).toBe(200);
    const admin = new Redis(own.url);
    try {
      expect((await admin.keys(`${prefix}g:*`)).length).toBe(2);
    } finally {
      admin.disconnect();
    }
    expect(closed.gateway.inFlight).toBe(0);
  }, 60_000);
});

describe('Redis that stops answering', () => {
  it('a paused Redis costs at most the command timeout, then the failure mode applies until it answers again', async () => {
    const own = await startRedisServer();
    cleanups.push(() => own.stop());
    const up = await upstream();
    const prefix = uniqueKeyPrefix('paused');
    const gw = await gateway({
      counters: { store: own.url, keyPrefix: prefix, timeout: '200ms' },
      routes: [{ ...limitedRoute(up, '3/d', { onStoreFailure: 'local' }), id: 'local' }, { ...limitedRoute(up, '1000/d'), id: 'closed', match: { path: '/closed/**' } }],
    });
    expect((await get(`${gw.url}/a`)).status).toBe(200);
    expect((await get(`${gw.url}/closed/a`)).status).toBe(200);
    own.pause();
    try {
      // The connection stays open but nothing answers: the command times out, the route falls back.
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await get(`${gw.url}/b`)).status);
      expect(statuses).toEqual([200, 200, 200, 429, 429]);
      const closed = await get(`${gw.url}/closed/b`);
      expect([closed.status, closed.code]).toEqual([503, 'RAMPART_ERR_RATE_LIMIT_UNAVAILABLE']);
    } finally {
      own.resume();
    }
    const deadline = Date.now() + 20_000;
    let back = await get(`${gw.url}/closed/c`);
    while (back.status !== 200 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      back = await get(`${gw.url}/closed/c`);
    }
    expect(back.status).toBe(200);
    // Redis kept its state through the pause. The command that timed out had been sent: Redis ran it when it woke
    // up, so it counted (a timeout errs on the side of limiting). Spent in Redis: /a and the first /b; one is left.
    expect((await get(`${gw.url}/c`)).status).toBe(200);
    expect((await get(`${gw.url}/c`)).status).toBe(429);
  }, 60_000);
});

describe('brute-force counters in Redis', () => {
  it('stores.counters is the Redis store when counters.store is a Redis URL, shared with other connections', async () => {
    const prefix = uniqueKeyPrefix('brute-force');
    const config = loadTestConfig({ storage: 'memory:', counters: { store: redisUrl, keyPrefix: prefix }, routes: [] });
    const opened = await openConfiguredStores(config);
    const elsewhere = openRedisCounterStore(redisUrl, { keyPrefix: prefix, commandTimeoutMs: 1234 });
    try {
      expect(opened.stores.counters).toBeInstanceOf(RedisCounterStore);
      const now = Date.now();
      await opened.stores.counters.lockUntil('login-fail:user:alice', now + 60_000);
      for (let i = 0; i < 3; i++) await opened.stores.counters.increment('login-fail:addr:192.0.2.9', 900_000, now);
      // Another connection (another gateway process would have its own) sees the same lock and count.
      expect(await elsewhere.ready).toBe(true);
      expect(await elsewhere.lockedUntil('login-fail:user:alice', now)).toBe(now + 60_000);
      expect(await elsewhere.get('login-fail:addr:192.0.2.9', 900_000, now)).toBe(3);
    } finally {
      await elsewhere.close();
      await opened.stores.close();
    }
  });

  it('the api-key lockout counts in Redis through a gateway, on the connection the limits use', async () => {
    const prefix = uniqueKeyPrefix('api-key-lockout');
    const up = await upstream();
    const before = openRedisConnections();
    const gw = await gateway({
      storage: 'memory:',
      counters: { store: redisUrl, keyPrefix: prefix },
      routes: [{ id: 'keys', match: { path: '/**' }, upstream: up.url, authenticate: ['api-key'], 'address-limit': { limits: [{ key: 'ip', rate: '100/s' }] } }],
    });
    // stores.counters and the address-limit policy share one Redis connection in this process.
    expect(openRedisConnections()).toBe(before + 1);
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${gw.url}/x`, { headers: { 'x-api-key': `rk_${'A'.repeat(12)}_${'b'.repeat(43)}` } });
      await res.arrayBuffer();
      expect(res.status).toBe(401);
    }
    const admin = new Redis(redisUrl);
    try {
      const keys = await admin.keys(`${prefix}w:*`);
      expect(keys).toHaveLength(1);
      expect(keys[0]).toContain('apikey-fail:');
      expect(await admin.hget(keys[0]!, 'c')).toBe('3');
    } finally {
      admin.disconnect();
    }
  });
});
