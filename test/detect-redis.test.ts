/**
 * Issue 6 point 5, "detector state in memory or Redis": several gateway processes sharing one Redis see one
 * cluster-wide view. An attack spread over the nodes is judged whole and raised once (not once per node, not zero
 * times); baseline detectors share their cool-down; Redis going away leaves each node judging alone (and saying so)
 * until it is back, when the nodes rejoin by themselves. Every test drives real Redis (REDIS_URL, see
 * redis-server.ts) with an injected clock, under a key prefix of its own that it deletes afterwards.
 */
import { spawn } from 'node:child_process';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  AnomalyDetection,
  parseDetectorsConfig,
  type AnomalyDetails,
  type DetectorsConfig,
  type RequestObservation,
  type SharedStateStats,
} from '../src/detect/index.ts';
import { ATTACK_SCENARIOS, ManualClock, attackTrace, normalTraffic, type AttackScenario, type Trace, type TraceItem } from '../src/detect/traces.ts';
import { RecordingSecurityEvents, type SecurityEvent } from '../src/observe/events.ts';
import { startRedisServer, stopTestRedis, testRedisUrl, uniqueKeyPrefix, type OwnRedis } from './redis-server.ts';

const MINUTE = 60_000;
const WINDOW = 5 * MINUTE;
/** A time well inside one epoch-aligned 5-minute window, so counts in these tests are exact, not weighted. */
const T0 = Math.floor(Date.UTC(2026, 0, 5, 12) / WINDOW) * WINDOW + 1000;

let url: string;
let admin: Redis;
const prefixes: string[] = [];
const open: AnomalyDetection[] = [];

beforeAll(async () => {
  url = await testRedisUrl();
  admin = new Redis(url, { maxRetriesPerRequest: 1 });
});

afterEach(async () => {
  for (const detection of open.splice(0)) await detection.close();
  for (const prefix of prefixes.splice(0)) {
    const keys = await keysUnder(prefix);
    if (keys.length > 0) await admin.del(...keys);
  }
});

afterAll(async () => {
  await admin?.quit();
  await stopTestRedis();
});

async function keysUnder(prefix: string, redis: Redis = admin): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  return keys;
}

function parse(section: Record<string, unknown>): DetectorsConfig {
  const parsed = parseDetectorsConfig(section);
  if (!parsed.ok) throw new Error(parsed.errors.join('; '));
  return parsed.config;
}

/**
 * A `detectors:` section with state in Redis under a fresh prefix (deleted after the test). The timeout is generous:
 * these tests are about what the cluster decides, and on a loaded test machine a script can take longer than the
 * production default of 500 ms (a timed-out sync makes the node judge alone, which the Redis-unavailable tests cover).
 */
function sharedSection(overrides: Record<string, unknown> = {}, redisUrl = url, timeout = '10s'): { section: Record<string, unknown>; prefix: string } {
  const prefix = uniqueKeyPrefix('detect');
  prefixes.push(prefix);
  return { section: { ...overrides, state: { redis: { url: redisUrl, keyPrefix: prefix, timeout } } }, prefix };
}

interface Node {
  readonly d: AnomalyDetection;
  readonly sink: RecordingSecurityEvents;
}

interface RecordingLog {
  readonly lines: Array<{ level: 'warn' | 'info'; message: string }>;
  warn(details: Record<string, unknown>, message: string): void;
  info(details: Record<string, unknown>, message: string): void;
}

function recordingLog(): RecordingLog {
  const lines: RecordingLog['lines'] = [];
  return { lines, warn: (_d, message) => lines.push({ level: 'warn', message }), info: (_d, message) => lines.push({ level: 'info', message }) };
}

async function node(section: Record<string, unknown>, clock: ManualClock, log?: RecordingLog): Promise<Node> {
  const sink = new RecordingSecurityEvents();
  // Syncs and cool-down ends run when the test says so, never on a wall-clock timer.
  const d = new AnomalyDetection(parse(section), { clock: clock.read, sink, autoSync: false, autoTick: false, ...(log ? { log } : {}) });
  open.push(d);
  expect(await d.ready).toBe(true);
  return { d, sink };
}

const anomalies = (...nodes: Node[]) => nodes.flatMap((n) => n.sink.events.filter((e) => e.type.startsWith('anomaly.')));
const details = (e: SecurityEvent) => e.details as AnomalyDetails;
const detectorStats = (n: Node, name: string) => n.d.stats().detectors.find((s) => s.name === name)!;
const syncAll = (...nodes: Node[]) => Promise.all(nodes.map((n) => n.d.sync()));

function shared(n: Node): SharedStateStats {
  const state = n.d.stats().state;
  if (state.store !== 'redis') throw new Error('state is not in Redis');
  return state;
}

/** Syncs `n` until its state is shared again (Redis back, the client reconnected: up to ~1 s of backoff). */
async function rejoin(n: Node): Promise<void> {
  for (let i = 0; i < 200 && shared(n).degraded; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    await n.d.sync();
  }
  expect(shared(n).degraded).toBe(false);
}

const loginFailure = (user: string, address: string, requestId: string): SecurityEvent => ({
  type: 'auth.login-failed',
  severity: 'low',
  requestId,
  routeId: 'auth-login',
  clientAddress: address,
  details: { reason: 'wrong-password', user },
});

function fail(n: Node, clock: ManualClock, at: number, user: string, address: string, requestId: string): void {
  clock.now = at;
  n.d.emit(loginFailure(user, address, requestId));
}

const request = (o: Partial<RequestObservation> & { at: number; requestId: string }): RequestObservation => ({
  routeId: 'orders',
  method: 'GET',
  status: 200,
  clientAddress: '192.0.2.1',
  ...o,
});

describe('per-key detectors see the whole cluster', () => {
  it('brute force: 6 failures on each of two nodes (threshold 10) is one event for the cluster, with the cluster counts', async () => {
    const { section } = sharedSection();
    const clock = new ManualClock(T0);
    const a = await node(section, clock);
    const b = await node(section, clock);
    for (let i = 0; i < 6; i++) fail(a, clock, T0 + i * 1000, 'victim', `203.0.113.${i + 1}`, `a-${i}`);
    for (let i = 0; i < 6; i++) fail(b, clock, T0 + 6000 + i * 1000, 'victim', `198.51.100.${i + 1}`, `b-${i}`);
    // Alone, neither node has reached the threshold.
    await a.d.sync();
    expect(anomalies(a, b)).toEqual([]);
    await b.d.sync();
    const events = anomalies(a, b);
    expect(events).toHaveLength(1);
    expect(b.sink.events).toHaveLength(1);
    const d = details(events[0]!);
    expect(d).toMatchObject({ detector: 'bruteForce', signal: 'account-failures', principal: 'user:victim', count: 12, threshold: 10, distinct: 12, suppressed: 0 });
    expect(d.sampleRequestIds).toEqual(['b-0', 'b-1', 'b-2', 'b-3', 'b-4', 'b-5']);
    expect(events[0]!.clientAddress).toBe('198.51.100.6');
    expect(d.windowEnd).toBe(new Date(T0 + 11_000).toISOString());

    // More guesses inside the cool-down, on both nodes: no second event anywhere, each counted as a repeat.
    for (let i = 0; i < 4; i++) fail(a, clock, T0 + 20_000 + i * 1000, 'victim', '203.0.113.1', `a2-${i}`);
    for (let i = 0; i < 3; i++) fail(b, clock, T0 + 30_000 + i * 1000, 'victim', '198.51.100.1', `b2-${i}`);
    await syncAll(a, b);
    expect(anomalies(a, b)).toHaveLength(1);
    expect(detectorStats(a, 'bruteForce').suppressed + detectorStats(b, 'bruteForce').suppressed).toBe(2);

    // After the cool-down the attack, still going, is raised again, once, carrying the 7 repeats the cluster saw.
    for (let i = 0; i < 10; i++) fail(a, clock, T0 + WINDOW + MINUTE + i * 1000, 'victim', '203.0.113.1', `a3-${i}`);
    await syncAll(a, b);
    expect(anomalies(a, b)).toHaveLength(2);
    expect(a.sink.events).toHaveLength(1);
    expect(details(a.sink.events[0]!)).toMatchObject({ suppressed: 7, sampleRequestIds: Array.from({ length: 10 }, (_, i) => `a3-${i}`) });
  });

  it('brute force: the same split with memory state raises nothing (each node sees 6): what sharing adds', () => {
    const clock = new ManualClock(T0);
    const make = () => {
      const sink = new RecordingSecurityEvents();
      return { d: new AnomalyDetection(parse({}), { clock: clock.read, sink, autoTick: false }), sink };
    };
    const a = make();
    const b = make();
    for (let i = 0; i < 6; i++) fail(a, clock, T0 + i * 1000, 'victim', `203.0.113.${i + 1}`, `a-${i}`);
    for (let i = 0; i < 6; i++) fail(b, clock, T0 + 6000 + i * 1000, 'victim', `198.51.100.${i + 1}`, `b-${i}`);
    expect(anomalies(a, b)).toEqual([]);
    expect(a.d.stats().state).toEqual({ store: 'memory' });
  });

  it('brute force: two nodes syncing at the same moment still raise exactly one event', async () => {
    const { section } = sharedSection();
    const clock = new ManualClock(T0);
    const nodes = await Promise.all([node(section, clock), node(section, clock), node(section, clock)]);
    for (let round = 0; round < 5; round++) {
      for (const [i, n] of nodes.entries()) fail(n, clock, T0 + round * 3000 + i * 1000, 'target', `203.0.113.${i}`, `r${round}-${i}`);
      await syncAll(...nodes);
    }
    const events = anomalies(...nodes);
    expect(events).toHaveLength(1);
    expect(details(events[0]!).count).toBeGreaterThanOrEqual(10);
    expect(details(events[0]!).distinct).toBe(3);
  });

  it('brute force across two OS processes sharing Redis: one event between them', async () => {
    const { section } = sharedSection();
    const items = (tag: string, base: string, offset: number): TraceItem[] =>
      Array.from({ length: 6 }, (_, i) => ({ at: T0 + offset + i * 1000, kind: 'event', event: loginFailure('victim', `${base}.${i + 1}`, `${tag}-${i}`) }));
    const run = (nodeItems: TraceItem[]) =>
      new Promise<{ ready: boolean; events: SecurityEvent[] }>((resolve, reject) => {
        const child = spawn(process.execPath, ['--import', 'tsx', 'test/detect-redis-node.fixture.ts'], {
          env: { ...process.env, RAMPART_DETECT_NODE: JSON.stringify({ detectors: section, items: nodeItems }) },
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        let out = '';
        child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
        child.once('error', reject);
        child.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as { ready: boolean; events: SecurityEvent[] }) : reject(new Error(`node exited ${code}`))));
      });
    const [first, second] = await Promise.all([run(items('p1', '203.0.113', 0)), run(items('p2', '198.51.100', 6000))]);
    expect(first.ready && second.ready).toBe(true);
    const events = [...first.events, ...second.events];
    expect(events.map((e) => e.type)).toEqual(['anomaly.brute-force']);
    expect(details(events[0]!)).toMatchObject({ count: 12, distinct: 12 });
  }, 60_000);

  it('token sharing: every distinct address counts, whichever node it arrived at; the same addresses on two nodes count once', async () => {
    const { section } = sharedSection();
    const clock = new ManualClock(T0);
    const a = await node(section, clock);
    const b = await node(section, clock);
    const use = (n: Node, at: number, credentialId: string, clientAddress: string, requestId: string) =>
      n.d.observe(request({ at, requestId, credentialId, clientAddress, principal: 'svc-billing' }));
    // Leaked: three networks on each node, six in all (threshold 5).
    for (let i = 0; i < 3; i++) use(a, T0 + i * 1000, 'key-leaked', `203.0.113.${i + 1}`, `a-${i}`);
    for (let i = 0; i < 3; i++) use(b, T0 + 5000 + i * 1000, 'key-leaked', `198.51.100.${i + 1}`, `b-${i}`);
    // Shared by two nodes' load balancing, not leaked: the same four addresses seen on both.
    for (let i = 0; i < 4; i++) {
      use(a, T0 + 10_000 + i * 1000, 'key-fine', `192.0.2.${i + 1}`, `fa-${i}`);
      use(b, T0 + 10_500 + i * 1000, 'key-fine', `192.0.2.${i + 1}`, `fb-${i}`);
    }
    await syncAll(a, b);
    const events = anomalies(a, b);
    expect(events.map((e) => `${details(e).signal} ${details(e).credentialId as string} ${details(e).distinct}`)).toEqual(['distinct-addresses key-leaked 6']);
    expect(details(events[0]!).principal).toBe('svc-billing');
  });

  it('credential stuffing: distinct accounts from one address are counted over both nodes', async () => {
    const { section } = sharedSection();
    const clock = new ManualClock(T0);
    const a = await node(section, clock);
    const b = await node(section, clock);
    for (let i = 0; i < 6; i++) fail(a, clock, T0 + i * 1000, `leaked-${i}`, '203.0.113.66', `a-${i}`);
    await a.d.sync();
    for (let i = 6; i < 12; i++) fail(b, clock, T0 + i * 1000, `leaked-${i}`, '203.0.113.66', `b-${i}`);
    // One account failing on both nodes is one account.
    fail(a, clock, T0 + 13_000, 'leaked-11', '203.0.113.66', 'a-dup');
    await syncAll(a, b);
    const events = anomalies(a, b);
    expect(events.map((e) => details(e).signal)).toEqual(['distinct-accounts']);
    expect(details(events[0]!)).toMatchObject({ distinct: 12, threshold: 10 });
    expect(events[0]!.clientAddress).toBe('203.0.113.66');
  });

  it('BOLA: distinct ids and a sequential walk spread over two nodes are one event per signal', async () => {
    const { section } = sharedSection();
    const clock = new ManualClock(T0);
    const a = await node(section, clock);
    const b = await node(section, clock);
    // 30 distinct ids read on each node, 60 in all (threshold 50); half of b's are ids a also read (they count once).
    for (let i = 0; i < 30; i++) a.d.observe(request({ at: T0 + i * 500, requestId: `a-${i}`, principal: 'mallory', objectId: `ord-${i * 7}` }));
    for (let i = 0; i < 45; i++) b.d.observe(request({ at: T0 + i * 500, requestId: `b-${i}`, principal: 'mallory', objectId: `ord-${(i + 15) * 7}` }));
    // A walk upwards, every answer 404, round-robin over the nodes: each node sees every other id.
    for (let i = 0; i < 40; i++) {
      const n = i % 2 === 0 ? a : b;
      n.d.observe(request({ at: T0 + 30_000 + i * 500, requestId: `w-${i}`, principal: 'walker', objectId: String(5000 + i), status: 404 }));
    }
    await syncAll(a, b);
    const events = anomalies(a, b);
    expect(events.map((e) => `${details(e).principal} ${details(e).signal}`).sort()).toEqual(['mallory distinct-ids', 'walker sequential-denials']);
    const distinct = events.find((e) => details(e).signal === 'distinct-ids')!;
    expect(details(distinct).distinct).toBe(60);
    const walk = events.find((e) => details(e).signal === 'sequential-denials')!;
    expect(details(walk).count).toBe(38); // the first id each node saw has no predecessor there
  });

  it('an anonymous address and a principal of the same name are different keys', async () => {
    const { section } = sharedSection({ bolaEnumeration: { distinctIds: 10 } });
    const clock = new ManualClock(T0);
    const a = await node(section, clock);
    for (let i = 0; i < 6; i++) a.d.observe(request({ at: T0 + i * 100, requestId: `p-${i}`, principal: '192.0.2.9', objectId: `x-${i}` }));
    for (let i = 0; i < 6; i++) a.d.observe(request({ at: T0 + i * 100, requestId: `a-${i}`, clientAddress: '192.0.2.9', objectId: `y-${i}` }));
    await a.d.sync();
    expect(anomalies(a)).toEqual([]);
  });
});

describe('baseline detectors judge per node and share the cool-down', () => {
  it('an error spike both nodes see is one event; the other node counts a repeat', async () => {
    const { section } = sharedSection();
    const clock = new ManualClock(T0);
    const a = await node(section, clock);
    const b = await node(section, clock);
    for (const [tag, n] of [['a', a], ['b', b]] as const) {
      for (let i = 0; i < 30; i++) n.d.observe(request({ at: T0 + i * 100, requestId: `${tag}-${i}`, routeId: 'checkout', status: i % 3 === 0 ? 200 : 503 }));
    }
    // Each node judged alone and wants to raise; the cluster's cool-down lets one through.
    expect(anomalies(a, b)).toEqual([]);
    await a.d.sync();
    await b.d.sync();
    const events = anomalies(a, b);
    expect(events.map((e) => `${e.routeId} ${details(e).signal}`)).toEqual(['checkout rate-5xx']);
    expect(a.sink.events).toHaveLength(1);
    expect(detectorStats(b, 'errorSpike')).toMatchObject({ raised: 0, suppressed: 1 });
  });
});

describe('cool-down ends across the cluster: one follow-up, with the repeats every node saw', () => {
  const phases = (...nodes: Node[]) => anomalies(...nodes).map((e) => `${details(e).phase} ${details(e).suppressed}`);
  const tickAll = (clock: ManualClock, at: number, ...nodes: Node[]) => {
    clock.now = at;
    for (const n of nodes) n.d.tick(at);
  };

  it('brute force spread over two nodes, stopping inside the cool-down: one raise and one follow-up between them, with all 7 repeats', async () => {
    const { section, prefix } = sharedSection();
    const clock = new ManualClock(T0);
    const a = await node(section, clock);
    const b = await node(section, clock);
    for (let i = 0; i < 6; i++) fail(a, clock, T0 + i * 1000, 'victim', `203.0.113.${i + 1}`, `a-${i}`);
    for (let i = 0; i < 6; i++) fail(b, clock, T0 + 6000 + i * 1000, 'victim', `198.51.100.${i + 1}`, `b-${i}`);
    await a.d.sync();
    await b.d.sync();
    expect(phases(b)).toEqual(['raised 0']);
    // The guessing goes on inside the cool-down on both nodes (4 + 3 repeats, counted in Redis), then stops.
    for (let i = 0; i < 4; i++) fail(a, clock, T0 + 20_000 + i * 1000, 'victim', '203.0.113.1', `a2-${i}`);
    for (let i = 0; i < 3; i++) fail(b, clock, T0 + 30_000 + i * 1000, 'victim', '198.51.100.1', `b2-${i}`);
    await syncAll(a, b);
    // b raised for the input at T0 + 11 s: its cool-down (and the cluster's lock) ends 5 minutes later.
    const end = T0 + 11_000 + WINDOW;
    tickAll(clock, end - 1, a, b);
    await syncAll(a, b);
    expect(phases(a, b)).toEqual(['raised 0']);
    tickAll(clock, end, a, b);
    // tick never waits for Redis: b's question goes with its next sync, and the follow-up comes with the answer.
    expect(shared(b).pendingEnds).toBe(1);
    expect(shared(a).pendingEnds).toBe(0);
    expect(phases(a, b)).toEqual(['raised 0']);
    await syncAll(a, b);
    expect(phases(a)).toEqual([]);
    expect(phases(b)).toEqual(['raised 0', 'cooldown-ended 7']);
    const [raised, summary] = b.sink.events as [SecurityEvent, SecurityEvent];
    expect(summary.type).toBe('anomaly.brute-force');
    expect(details(summary)).toMatchObject({
      principal: 'user:victim',
      count: 12,
      threshold: 10,
      windowStart: details(raised).windowEnd,
      windowEnd: new Date(end).toISOString(),
    });
    expect([summary.routeId, summary.clientAddress, summary.requestId]).toEqual([raised.routeId, raised.clientAddress, raised.requestId]);
    // Taken from Redis: the count is gone, and later ticks and syncs report nothing again.
    expect((await keysUnder(prefix)).filter((k) => k.includes(':sup:'))).toEqual([]);
    tickAll(clock, end + 30 * MINUTE, a, b);
    await syncAll(a, b);
    expect(phases(a, b)).toEqual(['raised 0', 'cooldown-ended 7']);
    expect([detectorStats(a, 'bruteForce').summaries, detectorStats(b, 'bruteForce').summaries]).toEqual([0, 1]);
    expect([shared(a).droppedEnds, shared(b).droppedEnds, shared(b).pendingEnds]).toEqual([0, 0, 0]);
  });

  it('a raise on the other node after the cool-down ended takes the repeats over; the first node then finds none to report', async () => {
    const { section } = sharedSection();
    const clock = new ManualClock(T0);
    const a = await node(section, clock);
    const b = await node(section, clock);
    for (let i = 0; i < 10; i++) fail(a, clock, T0 + i * 1000, 'victim', '203.0.113.1', `a-${i}`);
    await a.d.sync();
    expect(phases(a)).toEqual(['raised 0']);
    for (let i = 0; i < 3; i++) fail(b, clock, T0 + 20_000 + i * 1000, 'victim', '198.51.100.1', `b-${i}`);
    for (let i = 0; i < 2; i++) fail(a, clock, T0 + 30_000 + i * 1000, 'victim', '203.0.113.1', `a2-${i}`);
    await syncAll(a, b);
    const end = T0 + 9000 + WINDOW;
    // The guessing comes back on b after a's cool-down ended and before a asked for its repeats: b raises, with them.
    for (let i = 0; i < 10; i++) fail(b, clock, end + 1000 + i * 1000, 'victim', '198.51.100.2', `b2-${i}`);
    await b.d.sync();
    expect(phases(b)).toEqual(['raised 5']);
    // a's question now finds a later lock: another raise took over; a sends nothing.
    tickAll(clock, end + 20_000, a, b);
    await syncAll(a, b);
    expect(phases(a)).toEqual(['raised 0']);
    // b's own cool-down had no repeats: its end sends nothing either. The 5 repeats were reported once.
    tickAll(clock, end + 11_000 + WINDOW, a, b);
    await syncAll(a, b);
    expect(phases(a, b)).toEqual(['raised 0', 'raised 5']);
    expect(detectorStats(a, 'bruteForce').summaries + detectorStats(b, 'bruteForce').summaries).toBe(0);
  });

  it('an error spike on both nodes (a baseline detector): the winner\'s follow-up holds the loser\'s repeats too', async () => {
    const { section } = sharedSection();
    const clock = new ManualClock(T0);
    const a = await node(section, clock);
    const b = await node(section, clock);
    // A third of the route's answers are fine, the rest 503: a spike in every one-minute bucket it lasts.
    const spike = (minute: number) => {
      for (const [tag, n] of [['a', a], ['b', b]] as const) {
        for (let i = 0; i < 30; i++) n.d.observe(request({ at: T0 + minute * MINUTE + i * 100, requestId: `${tag}${minute}-${i}`, routeId: 'checkout', status: i % 3 === 0 ? 200 : 503 }));
      }
    };
    spike(0);
    await a.d.sync();
    await b.d.sync();
    expect(phases(a)).toEqual(['raised 0']);
    expect(detectorStats(b, 'errorSpike')).toMatchObject({ raised: 0, suppressed: 1 });
    // Two more minutes of it, then the upstream recovers: each node flags each bucket once, inside the cool-down.
    spike(1);
    spike(2);
    await syncAll(a, b);
    expect(phases(a, b)).toEqual(['raised 0']);
    // Raised for the request at T0 + 1.9 s (the 20th of the bucket, 13 of them errors), cool-down 15 minutes.
    tickAll(clock, T0 + 1900 + 15 * MINUTE, a, b);
    await syncAll(a, b);
    // 6 anomalous buckets: one raise and 5 repeats (b's first, lost claim, its 2 later ones forwarded, a's own 2).
    expect(phases(a)).toEqual(['raised 0', 'cooldown-ended 5']);
    expect(phases(b)).toEqual([]);
    expect(detectorStats(a, 'errorSpike').suppressed + detectorStats(b, 'errorSpike').suppressed).toBe(5);
    expect(a.d.stats().errors + b.d.stats().errors).toBe(0);
  });
});

describe('what the request path pays', () => {
  it('observe() and emit() never talk to Redis; one sync sends one script for all keys noted since the last', async () => {
    const { section } = sharedSection();
    const clock = new ManualClock(T0);
    const a = await node(section, clock);
    const before = shared(a);
    // 10,000 requests with one credential from one address, and 40 failed logins over 20 accounts from one address.
    for (let i = 0; i < 10_000; i++) a.d.observe(request({ at: T0 + i * 10, requestId: `r-${i}`, credentialId: 'key-steady', principal: 'svc' }));
    for (let i = 0; i < 40; i++) fail(a, clock, T0 + i * 100, `user-${i % 20}`, '192.0.2.50', `f-${i}`);
    expect(shared(a)).toEqual(before);
    await a.d.sync();
    expect(shared(a).scripts - before.scripts).toBe(1);
    expect(anomalies(a).map((e) => details(e).signal)).toEqual(['distinct-accounts']);
    // Nothing new noted: a sync sends nothing.
    await a.d.sync();
    expect(shared(a).scripts - before.scripts).toBe(1);
  });
});

describe('shared state is bounded', () => {
  it('distinct values per key are capped (twice the threshold) in the pending batch and in Redis', async () => {
    const { section, prefix } = sharedSection({ bolaEnumeration: { distinctIds: 10 } });
    const clock = new ManualClock(T0);
    const a = await node(section, clock);
    for (let i = 0; i < 5000; i++) a.d.observe(request({ at: T0 + i * 10, requestId: `r-${i}`, principal: 'walker', objectId: `id-${i}` }));
    await a.d.sync();
    const events = anomalies(a);
    expect(events.map((e) => details(e).signal)).toEqual(['distinct-ids']);
    expect(details(events[0]!).distinct).toBe(20);
    const sets = (await keysUnder(prefix)).filter((k) => k.includes(':bola-enumeration:') && k.endsWith(':set'));
    expect(sets).toHaveLength(1);
    expect(await admin.zcard(sets[0]!)).toBe(20);
  });

  it('keys pending between two syncs are capped at maxTracked; the rest are counted as dropped and judged locally, so a flood cannot hide an attack', async () => {
    const { section } = sharedSection({ bruteForce: { maxTracked: 100 }, credentialStuffing: { enabled: false } });
    const clock = new ManualClock(T0);
    const a = await node(section, clock);
    const b = await node(section, clock);
    for (let i = 0; i < 1000; i++) fail(a, clock, T0 + i, `flood-${i}`, '203.0.113.1', `f-${i}`);
    // The attacked account after the flood, in the same sync interval, on both nodes: a's list is full.
    for (let i = 0; i < 12; i++) fail(i % 2 === 0 ? a : b, clock, T0 + 2000 + i * 10, 'victim', '203.0.113.2', `v-${i}`);
    await a.d.sync();
    await b.d.sync();
    expect(shared(a)).toMatchObject({ droppedDeltas: 901, scripts: 1 });
    expect(a.d.stats().detectors.find((s) => s.name === 'bruteForce')).toMatchObject({ tracked: 100, evictions: 901 });
    // a judged the victim alone (6 failures: below the threshold); b's 6 went to the cluster, which holds 6 as well.
    expect(anomalies(a, b)).toEqual([]);
    for (let i = 0; i < 6; i++) fail(a, clock, T0 + 3000 + i * 10, 'victim', '203.0.113.2', `v2-${i}`);
    await a.d.sync();
    // a's 6 refused earlier ride along with these 6: the cluster holds 18, one event.
    expect(anomalies(a, b).map((e) => details(e).principal)).toEqual(['user:victim']);
  });

  it('a flood of keys is sent in chunks of at most 256 per script', async () => {
    const { section } = sharedSection({ credentialStuffing: { enabled: false } });
    const clock = new ManualClock(T0);
    const a = await node(section, clock);
    const before = shared(a).scripts;
    for (let i = 0; i < 1000; i++) fail(a, clock, T0 + i, `flood-${i}`, '203.0.113.1', `f-${i}`);
    await a.d.sync();
    expect(shared(a).scripts - before).toBe(4);
    expect(shared(a).droppedDeltas).toBe(0);
  });
});

describe('background sync', () => {
  it('with autoSync (the gateway default) the split attack is raised once without anyone calling sync()', async () => {
    const prefix = uniqueKeyPrefix('detect');
    prefixes.push(prefix);
    const section = { state: { redis: { url, keyPrefix: prefix, syncInterval: '50ms' } } };
    const clock = new ManualClock(T0);
    const make = () => {
      const sink = new RecordingSecurityEvents();
      const d = new AnomalyDetection(parse(section), { clock: clock.read, sink });
      open.push(d);
      return { d, sink };
    };
    const a = make();
    const b = make();
    expect(await a.d.ready).toBe(true);
    expect(await b.d.ready).toBe(true);
    for (let i = 0; i < 6; i++) fail(a, clock, T0 + i * 1000, 'victim', `203.0.113.${i}`, `a-${i}`);
    for (let i = 0; i < 6; i++) fail(b, clock, T0 + 6000 + i * 1000, 'victim', `198.51.100.${i}`, `b-${i}`);
    for (let i = 0; i < 200 && anomalies(a, b).length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 25));
    // A few more intervals: still one.
    for (let i = 0; i < 4; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(anomalies(a, b).map((e) => details(e).count)).toEqual([12]);
  });
});

describe('keys in Redis are namespaced, bounded and expire', () => {
  const hostile: Array<[string, string]> = [
    ['a megabyte-long account name', 'x'.repeat(1_000_000)],
    ['glob and separator characters', '*:{}[]?\\'],
    ['a CRLF', 'victim\r\nDEL *'],
    ['a NUL', 'vic\u0000tim'],
    ['non-ASCII', 'пользователь-😈'],
    ['empty-looking whitespace', '   '],
  ];
  it.each(hostile)('%s: counted like any account, under a fixed-length hashed key with a TTL', async (_label, user) => {
    const { section, prefix } = sharedSection();
    const clock = new ManualClock(T0);
    const a = await node(section, clock);
    const b = await node(section, clock);
    for (let i = 0; i < 10; i++) fail(i % 2 === 0 ? a : b, clock, T0 + i * 1000, user, `203.0.113.${i}`, `h-${i}`);
    await syncAll(a, b);
    expect(anomalies(a, b)).toHaveLength(1);
    const keys = await keysUnder(prefix);
    // Brute force keys the account; credential stuffing keys each of the ten addresses.
    expect(keys.filter((k) => k.includes(':brute-force:')).length).toBeGreaterThan(0);
    expect(new Set(keys.filter((k) => k.includes(':credential-stuffing:')).map((k) => k.split(':credential-stuffing:')[1]!.slice(0, 22))).size).toBe(10);
    for (const key of keys) {
      expect(key.startsWith(`${prefix}detect:`)).toBe(true);
      expect(key.length).toBeLessThanOrEqual(prefix.length + 80);
      expect(key).not.toContain(user.slice(0, 20));
      const ttl = await admin.pttl(key);
      expect(ttl, key).toBeGreaterThan(0);
    }
    // The set of addresses holds hashes, not addresses.
    const set = keys.find((k) => k.includes(':brute-force:') && k.endsWith(':set'))!;
    const members = await admin.zrange(set, 0, -1);
    expect(members).toHaveLength(10);
    for (const member of members) expect(member).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });

  it('TTLs are the window (sets, counters 2 windows) and the cool-down (locks)', async () => {
    const { section, prefix } = sharedSection({ bruteForce: { window: '2m', cooldown: '7m' } });
    const clock = new ManualClock(T0);
    const a = await node(section, clock);
    for (let i = 0; i < 10; i++) fail(a, clock, T0 + i * 100, 'victim', '203.0.113.1', `t-${i}`);
    await a.d.sync();
    expect(anomalies(a)).toHaveLength(1);
    const keys = await keysUnder(prefix);
    const ttlsOf = (suffix: RegExp) => Promise.all(keys.filter((k) => suffix.test(k)).map((k) => admin.pttl(k)));
    const sets = await ttlsOf(/:set$/);
    const counters = await ttlsOf(/:n:\d+$/);
    const locks = await ttlsOf(/:lock:account-failures$/);
    // Brute force (its failures and addresses) and credential stuffing (the address's accounts): one set and one counter each.
    expect([sets.length, counters.length, locks.length]).toEqual([2, 2, 1]);
    for (const ttl of [...sets, ...counters]) expect(ttl).toBeGreaterThan(0);
    // Sets live one window (2 minutes for brute force, 10 for credential stuffing), counters two.
    expect([Math.min(...sets) <= 2 * MINUTE, Math.max(...sets) <= 10 * MINUTE]).toEqual([true, true]);
    expect([Math.min(...counters) <= 4 * MINUTE, Math.max(...counters) <= 20 * MINUTE]).toEqual([true, true]);
    expect(locks[0]).toBeGreaterThan(6 * MINUTE);
    expect(locks[0]).toBeLessThanOrEqual(7 * MINUTE);
    expect(keys.every((k) => /:(set|n:\d+|lock:[a-z-]+)$/.test(k))).toBe(true);
  });
});

describe('Redis unavailable: each node judges alone, says so, and rejoins by itself', () => {
  let own: OwnRedis;
  beforeAll(async () => {
    own = await startRedisServer();
  });
  afterAll(async () => {
    await own?.stop();
  });

  it('stopped: the node raises on its own state, flags it and logs once; back: it rejoins and the cluster does not raise the same attack again', async () => {
    const { section } = sharedSection({}, own.url);
    const clock = new ManualClock(T0);
    const log = recordingLog();
    const a = await node(section, clock, log);
    const b = await node(section, clock);
    expect(shared(a)).toMatchObject({ store: 'redis', degraded: false });
    expect(log.lines).toEqual([{ level: 'info', message: 'detectors: detector state shared through Redis' }]);

    await own.stop();
    // Noted for the cluster before anyone knows Redis is gone...
    for (let i = 0; i < 12; i++) fail(a, clock, T0 + i * 1000, 'victim', `203.0.113.${i}`, `down-${i}`);
    expect(anomalies(a)).toEqual([]);
    await a.d.sync();
    await a.d.sync();
    expect(shared(a)).toMatchObject({ store: 'redis', degraded: true });
    expect(log.lines.filter((l) => l.level === 'warn')).toHaveLength(1);
    // ...so judged here when the sync finds it gone: 12 failures on this node alone cross the threshold, one event.
    expect(anomalies(a).map((e) => details(e).count)).toEqual([12]);
    // Brute force on another account keeps being judged locally while Redis is away.
    for (let i = 0; i < 10; i++) fail(a, clock, T0 + 20_000 + i * 100, 'other', '198.51.100.7', `down2-${i}`);
    expect(anomalies(a)).toHaveLength(2);

    await own.start();
    await rejoin(a);
    expect(shared(a)).toMatchObject({ degraded: false, pendingClaims: 0 });
    expect(log.lines.at(-1)).toEqual({ level: 'info', message: 'detectors: Redis reachable again; detector state is shared again' });
    await rejoin(b);
    // The attack goes on at the other node: the cool-down node a took while alone is the cluster's now.
    for (let i = 0; i < 12; i++) fail(b, clock, T0 + 60_000 + i * 1000, 'victim', `198.51.100.${i}`, `b-${i}`);
    await b.d.sync();
    expect(anomalies(b)).toEqual([]);
    expect(detectorStats(b, 'bruteForce').suppressed).toBeGreaterThan(0);
    // And shared judgement is back: a new account split over both nodes is one event again.
    for (let i = 0; i < 5; i++) fail(a, clock, T0 + 90_000 + i * 1000, 'third', `203.0.113.${i}`, `a3-${i}`);
    for (let i = 0; i < 5; i++) fail(b, clock, T0 + 95_000 + i * 1000, 'third', `198.51.100.${i}`, `b3-${i}`);
    await syncAll(a, b);
    expect(anomalies(a, b).filter((e) => details(e).principal === 'user:third')).toHaveLength(1);
    expect(a.d.stats().errors + b.d.stats().errors).toBe(0);
  }, 60_000);

  it('gone when a cool-down ends: the question waits (bounded) and goes when Redis is back; the follow-up invents nothing', async () => {
    const { section } = sharedSection({}, own.url);
    const clock = new ManualClock(T0);
    const a = await node(section, clock);
    for (let i = 0; i < 10; i++) fail(a, clock, T0 + i * 1000, 'victim', '203.0.113.1', `a-${i}`);
    await a.d.sync();
    expect(anomalies(a).map((e) => details(e).phase)).toEqual(['raised']);
    await own.stop();
    await a.d.sync();
    await a.d.sync();
    expect(shared(a).degraded).toBe(true);
    // Judged alone now: 3 more failures inside the cool-down are repeats on this node.
    for (let i = 0; i < 3; i++) fail(a, clock, T0 + 20_000 + i * 1000, 'victim', '203.0.113.1', `a2-${i}`);
    clock.now = T0 + 9000 + WINDOW;
    a.d.tick();
    await a.d.sync();
    expect(shared(a)).toMatchObject({ degraded: true, pendingEnds: 1, droppedEnds: 0 });
    expect(anomalies(a)).toHaveLength(1);
    await own.start();
    await rejoin(a);
    // Answered by the restarted (empty) Redis: the follow-up reports this node's 3 repeats and makes up nothing.
    expect(anomalies(a).map((e) => `${details(e).phase} ${details(e).suppressed}`)).toEqual(['raised 0', 'cooldown-ended 3']);
    expect(shared(a)).toMatchObject({ pendingEnds: 0, droppedEnds: 0 });
  }, 60_000);

  it('shut down while Redis is gone: the unanswered question is dropped and counted, the node\'s own repeats still reported', async () => {
    const { section } = sharedSection({}, own.url);
    const clock = new ManualClock(T0);
    const a = await node(section, clock);
    for (let i = 0; i < 10; i++) fail(a, clock, T0 + i * 1000, 'victim', '203.0.113.1', `a-${i}`);
    await a.d.sync();
    await own.stop();
    try {
      await a.d.sync();
      await a.d.sync();
      for (let i = 0; i < 2; i++) fail(a, clock, T0 + 20_000 + i * 1000, 'victim', '203.0.113.1', `a2-${i}`);
      // Before its end: close() ends the cool-down now, and the question cannot go anywhere.
      clock.now = T0 + 2 * MINUTE;
      await a.d.close();
      expect(anomalies(a).map((e) => `${details(e).phase} ${details(e).suppressed}`)).toEqual(['raised 0', 'cooldown-ended 2']);
      expect(details(anomalies(a)[1]!).windowEnd).toBe(new Date(T0 + 2 * MINUTE).toISOString());
      expect(shared(a)).toMatchObject({ pendingEnds: 0, droppedEnds: 1 });
    } finally {
      await own.start();
    }
  }, 60_000);

  it('paused (a sent batch times out): its deltas are dropped and counted, not sent twice; the node judges alone until Redis answers', async () => {
    const { section } = sharedSection({}, own.url, '200ms');
    const clock = new ManualClock(T0);
    const a = await node(section, clock);
    own.pause();
    try {
      for (let i = 0; i < 4; i++) fail(a, clock, T0 + i * 1000, 'slow', '203.0.113.1', `p-${i}`);
      await a.d.sync();
      // Two keys went out: the account (brute force) and the address (credential stuffing).
      expect(shared(a)).toMatchObject({ degraded: true, droppedDeltas: 2, failedSyncs: 1 });
      // Judged alone from here: 6 more make 10 on this node.
      for (let i = 4; i < 10; i++) fail(a, clock, T0 + i * 1000, 'slow', '203.0.113.1', `p-${i}`);
      expect(anomalies(a)).toHaveLength(1);
    } finally {
      own.resume();
    }
    await rejoin(a);
    expect(shared(a)).toMatchObject({ pendingClaims: 0, droppedDeltas: 2 });
  }, 60_000);
});

/** Replays a trace over `nodes` round-robin (each item to the next node), syncing them all every `syncMs` of trace time. */
async function replayOnNodes(trace: Trace, nodes: Node[], clock: ManualClock, syncMs: number): Promise<void> {
  let nextSync = (trace.items[0]?.at ?? 0) + syncMs;
  for (let i = 0; i < trace.items.length; i++) {
    const item = trace.items[i]!;
    if (item.at >= nextSync) {
      await syncAll(...nodes);
      nextSync = item.at + syncMs;
    }
    clock.now = item.at;
    const n = nodes[i % nodes.length]!;
    if (item.kind === 'event') n.d.emit(item.event);
    else n.d.observe(item.observation);
  }
  await syncAll(...nodes);
}

describe('replayed attack traces over two nodes sharing Redis', () => {
  const PER_KEY: Record<string, { type: string; signal: string; alsoAllowed: string[] }> = {
    'brute-force': { type: 'anomaly.brute-force', signal: 'account-failures', alsoAllowed: [] },
    'credential-stuffing': { type: 'anomaly.credential-stuffing', signal: 'distinct-accounts', alsoAllowed: ['anomaly.error-spike'] },
    'token-sharing': { type: 'anomaly.token-sharing', signal: 'distinct-addresses', alsoAllowed: [] },
    'bola-distinct-ids': { type: 'anomaly.bola-enumeration', signal: 'distinct-ids', alsoAllowed: [] },
    'bola-sequential-denials': { type: 'anomaly.bola-enumeration', signal: 'sequential-denials', alsoAllowed: ['anomaly.error-spike'] },
  };
  const SEEDS = [1, 2, 3];
  const backgrounds = new Map<number, Trace>();
  const background = (seed: number) => {
    let trace = backgrounds.get(seed);
    if (trace === undefined) backgrounds.set(seed, (trace = normalTraffic({ seed, users: 30 })));
    return trace;
  };
  const cases = (Object.keys(PER_KEY) as AttackScenario[]).filter((s) => ATTACK_SCENARIOS.includes(s)).flatMap((s) => SEEDS.map((seed) => [s, seed] as const));

  it.each(cases)('%s, seed %i: raised once per cool-down for the cluster, as one node with all the traffic raises it', async (scenario, seed) => {
    const trace = attackTrace(scenario, { seed, background: background(seed) });
    const expected = PER_KEY[scenario]!;
    // Memory, one node with all the traffic: the reference.
    const referenceSink = new RecordingSecurityEvents();
    const referenceClock = new ManualClock(trace.start);
    const reference = new AnomalyDetection(parse({}), { clock: referenceClock.read, sink: referenceSink, autoTick: false });
    for (const item of trace.items) {
      referenceClock.now = item.at;
      if (item.kind === 'event') reference.emit(item.event);
      else reference.observe(item.observation);
    }
    const own = (events: SecurityEvent[]) => events.filter((e) => e.type === expected.type && details(e).signal === expected.signal);

    const { section } = sharedSection();
    const clock = new ManualClock(trace.start);
    const a = await node(section, clock);
    const b = await node(section, clock);
    await replayOnNodes(trace, [a, b], clock, 500);
    // Every sync answered: the cluster judged throughout (no node fell back to judging alone).
    expect([shared(a), shared(b)]).toMatchObject([
      { degraded: false, failedSyncs: 0, droppedDeltas: 0 },
      { degraded: false, failedSyncs: 0, droppedDeltas: 0 },
    ]);
    const cluster = own(anomalies(a, b));
    expect(cluster.length).toBeGreaterThanOrEqual(1);
    // Nothing unrelated fires on either node (the baseline detectors there see half the traffic each).
    const unrelated = anomalies(a, b).filter((e) => e.type !== expected.type && !expected.alsoAllowed.includes(e.type));
    expect(unrelated.map((e) => `${e.type}/${details(e).signal}`)).toEqual([]);
    // One per cool-down for the cluster: as many as the single node raised (a sync later at most adds none).
    expect(cluster.length).toBe(own(referenceSink.events).length);
    for (const e of cluster) {
      expect(details(e).sampleRequestIds.some((id) => id.startsWith(trace.attackPrefix))).toBe(true);
      expect(Date.parse(details(e).windowEnd)).toBeGreaterThanOrEqual(trace.attackStart);
    }
    // Nothing before the attack, on either node.
    for (const e of anomalies(a, b)) expect(Date.parse(details(e).windowEnd)).toBeGreaterThanOrEqual(trace.attackStart);
    expect(a.d.stats().errors + b.d.stats().errors).toBe(0);
  }, 120_000);
});
