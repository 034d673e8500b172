/**
 * Detector state in Redis through two running gateways (issue 6 point 5, "detector state in memory or Redis"): one
 * principal walking object ids, half of the walk through each gateway, stays under the threshold on each node but
 * not in the cluster; with `detectors.state: redis` the two nodes raise one anomaly between them, and after both
 * stop the Redis keys they wrote all carry a TTL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { startRecordingUpstream, startTestGateway, type RecordingUpstream, type TestGateway } from './helpers.ts';

const ISSUER = 'https://idp.test';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

describe('detector state shared through Redis by two gateways', () => {
  const prefix = `rampart-test-${randomBytes(4).toString('hex')}:`;
  let upstream: RecordingUpstream;
  let a: TestGateway;
  let b: TestGateway;
  let token: string;
  let redis: Redis;

  beforeAll(async () => {
    redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
    const pair = await generateKeyPair('ES256', { extractable: true });
    const jwk = { ...(await exportJWK(pair.publicKey)) } as Record<string, unknown>;
    const now = Math.floor(Date.now() / 1000);
    token = await new SignJWT({ iss: ISSUER, aud: 'api', sub: 'mallory', roles: ['customer'], iat: now, exp: now + 600 }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).sign(pair.privateKey);
    upstream = await startRecordingUpstream();
    const document = {
      counters: { store: REDIS_URL, keyPrefix: prefix },
      issuers: { corp: { issuer: ISSUER, audiences: ['api'], algorithms: ['ES256'], keys: [{ kid: 'k1', alg: 'ES256', jwk }], roles: { claim: 'roles' } } },
      roles: { customer: { permissions: ['orders:read'] } },
      detectors: { state: { redis: { syncInterval: '50ms' } }, bolaEnumeration: { distinctIds: 20, sequentialDenials: 20 }, errorSpike: { enabled: false } },
      routes: [
        {
          id: 'order',
          match: { path: '/orders/{orderId}', methods: ['GET'] },
          upstream: upstream.url,
          authenticate: [{ jwt: 'corp' }],
          authorize: { permissions: ['orders:read'], object: { id: 'path.orderId', type: 'integer', lookup: { type: 'orders' } } },
        },
      ],
    };
    a = await startTestGateway(document);
    b = await startTestGateway(document);
  });

  afterAll(async () => {
    await a?.close();
    await b?.close();
    await upstream?.close();
    if (redis !== undefined) {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
    }
  });

  it('raises the bola-enumeration anomaly once for a walk split over both nodes (12 ids each, thresholds 20)', async () => {
    for (let id = 2000; id < 2024; id++) {
      const gw = id % 2 === 0 ? a : b;
      const res = await fetch(`${gw.url}/orders/${id}`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(404);
    }
    const bola = () => [...a.events.events, ...b.events.events].filter((e) => e.type === 'anomaly.bola-enumeration');
    for (let i = 0; i < 100 && bola().length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    // A few more sync rounds: a second node raising the same anomaly would show up here.
    await new Promise((r) => setTimeout(r, 300));
    // One event per signal for the cluster (both signals are crossed: 24 distinct ids, 24 sequential denials), each
    // naming the whole walk; neither node alone (12 of each) reaches a threshold of 20.
    const signals = bola().map((e) => (e.details as { signal: string }).signal).sort();
    expect(signals).toEqual(['distinct-ids', 'sequential-denials']);
    for (const event of bola()) {
      expect((event.details as { principal: string }).principal).toBe('mallory');
      expect((event.details as { count: number }).count).toBeGreaterThanOrEqual(20);
    }
    const keys = await redis.keys(`${prefix}detect:*`);
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) expect(await redis.pttl(key), key).toBeGreaterThan(0);
  });
});
