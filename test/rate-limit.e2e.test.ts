/**
 * address-limit and rate-limit through a real gateway (memory counters): 429 problems with Retry-After and
 * RateLimit headers, accuracy over 10,000 requests at concurrency 50, limits before authentication, per-caller
 * limits, spoofed X-Forwarded-For, hostile header keys, and concurrency slots freed however a request ends.
 * Redis-backed runs are in redis-rate-limit.e2e.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Pool } from 'undici';
import { startRecordingUpstream, startTestGateway, type RecordingUpstream, type TestGateway } from './helpers.ts';
import { openConfiguredStores, type ConfiguredStores } from '../src/storage/configured.ts';
import { generateApiKey } from '../src/policies/api-key/keys.ts';
import { hashSecret } from '../src/crypto/hashing.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function upstream(handler?: Parameters<typeof startRecordingUpstream>[0]): Promise<RecordingUpstream> {
  const server = await startRecordingUpstream(handler);
  cleanups.push(() => server.close());
  return server;
}

async function gateway(document: Record<string, unknown>, options: { stores?: ConfiguredStores } = {}): Promise<TestGateway> {
  const gw = await startTestGateway(document, options);
  cleanups.push(() => gw.close());
  return gw;
}

function route(up: RecordingUpstream, extra: Record<string, unknown>): Record<string, unknown> {
  return { routes: [{ id: 'api', match: { path: '/**' }, upstream: up.url, public: true, ...extra }] };
}

/** Sends `total` GETs with `concurrency` in flight; resolves the count per status. */
async function blast(url: string, total: number, concurrency: number, headers: Record<string, string> = {}): Promise<Map<number, number>> {
  const pool = new Pool(url, { connections: concurrency, pipelining: 1 });
  const counts = new Map<number, number>();
  let sent = 0;
  const worker = async () => {
    while (sent < total) {
      sent++;
      const { statusCode, body } = await pool.request({ path: '/load', method: 'GET', headers });
      await body.dump();
      counts.set(statusCode, (counts.get(statusCode) ?? 0) + 1);
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    await pool.close();
  }
  return counts;
}

describe('429 answers', () => {
  it('are problem+json with Retry-After and RateLimit headers; successes carry the remaining quota', async () => {
    const up = await upstream();
    const gw = await gateway(route(up, { 'address-limit': { limits: [{ key: 'ip', rate: '3/d' }] } }));
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${gw.url}/x`);
      expect(res.status).toBe(200);
      expect(res.headers.get('ratelimit-policy')).toBe('"address-0";q=3;w=86400');
      expect(res.headers.get('ratelimit')).toMatch(new RegExp(`^"address-0";r=${2 - i};t=\\d+$`));
      await res.arrayBuffer();
    }
    const refused = await fetch(`${gw.url}/x`);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('content-type')).toBe('application/problem+json');
    const retryAfter = Number(refused.headers.get('retry-after'));
    // One unit comes back every 86,400 / 3 s.
    expect(retryAfter).toBeGreaterThan(28_700);
    expect(retryAfter).toBeLessThanOrEqual(28_800);
    expect(refused.headers.get('ratelimit')).toBe(`"address-0";r=0;t=${retryAfter}`);
    expect(refused.headers.get('ratelimit-policy')).toBe('"address-0";q=3;w=86400');
    const body = (await refused.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ status: 429, code: 'RAMPART_ERR_RATE_LIMITED', title: 'Too many requests' });
    expect(body.correlationId).toBe(refused.headers.get('x-request-id'));
    expect(JSON.stringify(body)).not.toMatch(/127\.0\.0\.1|address-0|ip/);
    expect(up.seen).toHaveLength(3);
  });

  it('joins the lists of both policies and names limits as configured', async () => {
    const up = await upstream();
    const gw = await gateway(
      route(up, {
        'address-limit': { limits: [{ key: 'ip', rate: '100/m', name: 'per-ip' }] },
        'rate-limit': { limits: [{ key: 'route', quota: 2, period: 'month', name: 'monthly' }, { key: 'route', concurrency: 4, name: 'inflight' }] },
      }),
    );
    const res = await fetch(`${gw.url}/x`);
    await res.arrayBuffer();
    expect(res.headers.get('ratelimit-policy')).toBe('"per-ip";q=100;w=60, "monthly";q=2, "inflight";q=4;qu="concurrent-requests"');
    expect(res.headers.get('ratelimit')).toMatch(/^"per-ip";r=99;t=1, "inflight";r=3, "monthly";r=1;t=\d+$/);
    await (await fetch(`${gw.url}/x`)).arrayBuffer();
    const third = await fetch(`${gw.url}/x`);
    await third.arrayBuffer();
    expect(third.status).toBe(429);
    expect(third.headers.get('ratelimit')).toMatch(/^"per-ip";r=97;t=\d+, "inflight";r=3, "monthly";r=0;t=\d+$/);
  });
});

describe('accuracy', () => {
  it('admits the limit within 1% over 10,000 requests at concurrency 50', async () => {
    const up = await upstream();
    // 5,000 a day: during the run the allowance refills by well under one request.
    const gw = await gateway(route(up, { 'address-limit': { limits: [{ key: 'route', rate: '5000/d' }] } }));
    const counts = await blast(gw.url, 10_000, 50);
    const ok = counts.get(200) ?? 0;
    expect(ok + (counts.get(429) ?? 0)).toBe(10_000);
    expect(Math.abs(ok - 5000)).toBeLessThanOrEqual(50);
    expect(up.seen.length).toBe(ok);
  }, 120_000);
});

describe('before and after authentication', () => {
  it('address-limit stops credential guessing before the authenticator runs', async () => {
    const up = await upstream();
    const gw = await gateway({
      storage: 'memory:',
      routes: [{ id: 'keys', match: { path: '/**' }, upstream: up.url, authenticate: ['api-key'], 'address-limit': { limits: [{ key: 'ip', rate: '5/d' }] } }],
    });
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) {
      const res = await fetch(`${gw.url}/x`, { headers: { 'x-api-key': `rk_${'A'.repeat(12)}_${'b'.repeat(43)}` } });
      await res.arrayBuffer();
      statuses.push(res.status);
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429, 429]);
    // The refused guesses never reached the api-key policy: five failures were reported, not eight.
    expect(gw.events.events.filter((e) => e.type === 'auth.api-key-failed')).toHaveLength(5);
    expect(up.seen).toHaveLength(0);
  });

  it('rate-limit counts per authenticated caller, after authentication', async () => {
    const up = await upstream();
    const opened = await openConfiguredStores({ mode: 'development', storage: 'memory:', masterKey: undefined });
    cleanups.push(() => opened.stores.close());
    const keys: string[] = [];
    for (const name of ['alpha', 'beta']) {
      const consumer = await opened.stores.identities.createConsumer({ name, roles: [], createdAt: Date.now() });
      const { key, recordPrefix } = generateApiKey();
      await opened.stores.identities.createApiKey({ consumerId: consumer.id, prefix: recordPrefix, hash: hashSecret(key, opened.pepper), scopes: null, expiresAt: null, createdAt: Date.now() });
      keys.push(key);
    }
    const gw = await gateway(
      {
        storage: 'memory:',
        routes: [{ id: 'keys', match: { path: '/**' }, upstream: up.url, authenticate: ['api-key'], 'rate-limit': { limits: [{ key: 'consumer', rate: '2/d' }, { key: 'api-key', quota: 10, period: 'day' }] } }],
      },
      { stores: opened },
    );
    const statusOf = async (key: string) => {
      const res = await fetch(`${gw.url}/x`, { headers: { 'x-api-key': key } });
      await res.arrayBuffer();
      return res.status;
    };
    expect([await statusOf(keys[0]!), await statusOf(keys[0]!), await statusOf(keys[0]!)]).toEqual([200, 200, 429]);
    expect([await statusOf(keys[1]!), await statusOf(keys[1]!), await statusOf(keys[1]!)]).toEqual([200, 200, 429]);
    // The refused request spent nothing of the daily quota (rates are asked first, quotas last).
    const res = await fetch(`${gw.url}/x`, { headers: { 'x-api-key': keys[1]! } });
    await res.arrayBuffer();
    expect(res.headers.get('ratelimit')).toMatch(/^"rate-0";r=0;t=\d+$/);
    expect(up.seen).toHaveLength(4);
  });
});

describe('hostile keys', () => {
  it('a spoofed X-Forwarded-For does not change the address key unless the peer is a trusted proxy', async () => {
    const up = await upstream();
    const limits = { 'address-limit': { limits: [{ key: 'ip', rate: '2/d' }] } };
    const untrusted = await gateway(route(up, limits));
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await fetch(`${untrusted.url}/x`, { headers: { 'x-forwarded-for': `198.51.100.${i}` } });
      await res.arrayBuffer();
      statuses.push(res.status);
    }
    expect(statuses).toEqual([200, 200, 429, 429]);
    // Behind a trusted proxy (the loopback peer), the forwarded client is the key.
    const trusted = await gateway({ ...route(up, limits), trustedProxies: ['127.0.0.1/32', '::1/128'] });
    for (let i = 0; i < 4; i++) {
      const res = await fetch(`${trusted.url}/x`, { headers: { 'x-forwarded-for': `198.51.100.${i}` } });
      await res.arrayBuffer();
      expect(res.status).toBe(200);
    }
    const again = await fetch(`${trusted.url}/x`, { headers: { 'x-forwarded-for': '198.51.100.0' } });
    await again.arrayBuffer();
    const third = await fetch(`${trusted.url}/x`, { headers: { 'x-forwarded-for': '198.51.100.0' } });
    await third.arrayBuffer();
    expect([again.status, third.status]).toEqual([200, 429]);
  });

  const hostile: Array<[string, string]> = [
    ['a long value', 'x'.repeat(4000) + 'A'],
    ['the same long value with another last character', 'x'.repeat(4000) + 'B'],
    ['a value spelled like a hashed key', 'h:' + 'a'.repeat(64)],
    ['a value spelled like the absent marker', '-'],
    ['a value spelled like another limit', 'rl:r:api:address0:h:=other'],
    ['prototype keys', '__proto__'],
    ['constructor', 'constructor'],
    ['commas and quotes', '"a", b;r=9'],
  ];
  it('header keys are bounded and never collide, whatever the value', async () => {
    const up = await upstream();
    const gw = await gateway(route(up, { 'address-limit': { limits: [{ key: 'header:x-tenant', rate: '1/d' }] } }));
    const status = async (value: string | undefined) => {
      const res = await fetch(`${gw.url}/x`, value === undefined ? {} : { headers: { 'x-tenant': value } });
      await res.arrayBuffer();
      return res.status;
    };
    for (const [label, value] of hostile) expect([label, await status(value)]).toEqual([label, 200]);
    for (const [label, value] of hostile) expect([label, await status(value)]).toEqual([label, 429]);
    // No header at all is one shared bucket of its own, distinct from every value above (and from "-").
    expect(await status(undefined)).toBe(200);
    expect(await status(undefined)).toBe(429);
    // After all that, an ordinary tenant is still counted on its own.
    expect(await status('tenant-7')).toBe(200);
    expect(await status('tenant-7')).toBe(429);
  });
});

describe('concurrency', () => {
  it('frees a slot when the answer completes, when the upstream fails and when the client goes away', async () => {
    const held: Array<() => void> = [];
    let mode: 'hold' | 'fail' | 'ok' = 'hold';
    const up = await upstream((req, res) => {
      if (mode === 'fail') {
        res.socket?.destroy();
        return;
      }
      if (mode === 'ok') {
        res.end('ok');
        return;
      }
      held.push(() => res.end('late'));
      req.socket.once('close', () => res.destroy());
    });
    const gw = await gateway(route(up, { 'address-limit': { limits: [{ key: 'ip', concurrency: 2 }] } }));
    const waitFor = async (condition: () => boolean) => {
      for (let i = 0; i < 500 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(condition()).toBe(true);
    };

    // Completion: two held, the third refused, then the first two complete and two more get in.
    const first = [fetch(`${gw.url}/a`), fetch(`${gw.url}/b`)];
    await waitFor(() => held.length === 2);
    const third = await fetch(`${gw.url}/c`);
    expect(third.status).toBe(429);
    expect(third.headers.get('retry-after')).toBe('1');
    expect(third.headers.get('ratelimit')).toBe('"address-0";r=0');
    for (const release of held.splice(0)) release();
    for (const res of await Promise.all(first)) {
      expect(res.status).toBe(200);
      expect(res.headers.get('ratelimit')).toMatch(/^"address-0";r=[01]$/);
      await res.arrayBuffer();
    }
    mode = 'ok';
    for (let i = 0; i < 5; i++) expect((await fetch(`${gw.url}/d`)).status).toBe(200);

    // Upstream failure: the gateway answers 502; the slots come back.
    mode = 'fail';
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${gw.url}/e`);
      await res.arrayBuffer();
      expect(res.status).toBe(502);
    }
    mode = 'hold';
    const holding = [fetch(`${gw.url}/f`), fetch(`${gw.url}/g`)];
    await waitFor(() => held.length === 2);
    expect((await fetch(`${gw.url}/h`)).status).toBe(429);
    for (const release of held.splice(0)) release();
    for (const res of await Promise.all(holding)) await res.arrayBuffer();

    // Client abort: two requests hang at the upstream, the client gives up on both; their slots come back.
    const controller = new AbortController();
    const aborted = [fetch(`${gw.url}/i`, { signal: controller.signal }), fetch(`${gw.url}/j`, { signal: controller.signal })];
    await waitFor(() => held.length === 2);
    controller.abort();
    await Promise.allSettled(aborted);
    held.splice(0);
    mode = 'ok';
    await waitFor(() => gw.gateway.inFlight === 0);
    const after = [await fetch(`${gw.url}/k`), await fetch(`${gw.url}/l`)];
    expect(after.map((r) => r.status)).toEqual([200, 200]);
  });
});
