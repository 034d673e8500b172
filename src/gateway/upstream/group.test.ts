import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { UpstreamGroup } from './group.ts';
import type { AttemptOutcome, UpstreamConfig, UpstreamTarget } from './types.ts';

// ------------------------------------------------------------------ fixtures

/** A real upstream on 127.0.0.1 whose behaviour the test flips at run time. */
class TestUpstream {
  server = http.createServer((req, res) => this.handle(req, res));
  port = 0;
  hits = 0;
  healthHits = 0;
  lastHealthRequest: { method: string | undefined; url: string | undefined; userAgent: string | undefined } | null = null;
  status = 200;
  healthStatus = 200;
  /** Never answer /health (to exercise the check timeout). */
  healthHangs = false;
  /** Hold ordinary requests until release(). */
  holding = false;
  private held: http.ServerResponse[] = [];

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async listen(port = 0): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.port = (this.server.address() as AddressInfo).port;
  }

  /** Stops listening and drops keep-alive connections, so the port refuses connections. */
  async stop(): Promise<void> {
    if (!this.server.listening) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  /** Listens again on the same port, as a restarted upstream would. */
  async restart(): Promise<void> {
    this.server = http.createServer((req, res) => this.handle(req, res));
    await this.listen(this.port);
  }

  release(): void {
    this.holding = false;
    for (const res of this.held.splice(0)) res.end('released');
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (req.url === '/health') {
      this.healthHits++;
      this.lastHealthRequest = { method: req.method, url: req.url, userAgent: req.headers['user-agent'] };
      if (this.healthHangs) return;
      res.statusCode = this.healthStatus;
      res.end('health');
      return;
    }
    this.hits++;
    if (this.holding) {
      this.held.push(res);
      return;
    }
    res.statusCode = this.status;
    res.end('ok');
  }
}

type ConfigOverrides = {
  balance?: UpstreamConfig['balance'];
  passiveHealth?: Partial<UpstreamConfig['passiveHealth']>;
  activeHealth?: UpstreamConfig['activeHealth'];
  retries?: Partial<UpstreamConfig['retries']>;
  circuitBreaker?: Partial<UpstreamConfig['circuitBreaker']>;
  connectionsPerTarget?: number;
};

function makeConfig(targets: Array<string | { url: string; weight: number }>, overrides: ConfigOverrides = {}): UpstreamConfig {
  return {
    targets: targets.map((target) => (typeof target === 'string' ? { url: target, weight: 1 } : target)),
    balance: overrides.balance ?? 'round-robin',
    connectionsPerTarget: overrides.connectionsPerTarget ?? 8,
    timeouts: { connect: 2000, response: 5000, bodyIdle: 5000 },
    passiveHealth: { enabled: false, consecutiveFailures: 3, ejectFor: 1000, maxEjectedPercent: 50, ...overrides.passiveHealth },
    ...(overrides.activeHealth ? { activeHealth: overrides.activeHealth } : {}),
    retries: { attempts: 1, budgetRatio: 0.2, minPerSecond: 2, ...overrides.retries },
    circuitBreaker: {
      enabled: false,
      failureRateThreshold: 0.5,
      minimumRequests: 10,
      window: 10_000,
      openFor: 5000,
      halfOpenRequests: 2,
      ...overrides.circuitBreaker,
    },
  };
}

const silentLogger = pino({ level: 'silent' });

/** An injected clock; starts on a round number so rolling-window buckets line up with the test's steps. */
class TestClock {
  time = 1_000_000;
  readonly now = (): number => this.time;
  advance(ms: number): void {
    this.time += ms;
  }
}

/** Every group a test creates is closed after it, so pools never outlive the test. */
const openGroups: UpstreamGroup[] = [];
function makeGroup(config: UpstreamConfig, deps: Partial<ConstructorParameters<typeof UpstreamGroup>[1]> = {}): UpstreamGroup {
  const group = new UpstreamGroup(config, { logger: silentLogger, ...deps });
  openGroups.push(group);
  return group;
}

afterEach(async () => {
  await Promise.all(openGroups.splice(0).map((group) => group.close()));
});

/** One real attempt through the target's pool, classified the way the proxy would, and reported to the group. */
async function attempt(group: UpstreamGroup, target: UpstreamTarget, requestPath = '/'): Promise<AttemptOutcome> {
  group.start(target);
  let outcome: AttemptOutcome;
  try {
    const response = await target.pool.request({ method: 'GET', path: target.basePath + requestPath });
    await response.body.dump();
    outcome = response.statusCode >= 502 && response.statusCode <= 504 ? 'server-error' : 'success';
  } catch (error) {
    outcome = (error as { code?: string }).code === 'ECONNREFUSED' ? 'connect-error' : 'reset';
  }
  group.finish(target, outcome);
  return outcome;
}

function pickOrigins(group: UpstreamGroup, count: number, exclude?: UpstreamTarget): string[] {
  const origins: string[] = [];
  for (let i = 0; i < count; i++) origins.push(group.pick(exclude)?.origin ?? 'none');
  return origins;
}

function countBy(values: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}

function targetByOrigin(group: UpstreamGroup, origin: string): UpstreamTarget {
  // pick() is the only way to reach a target object; cycle until the wanted one comes up.
  for (let i = 0; i < 1000; i++) {
    const target = group.pick();
    if (target?.origin === origin) return target;
  }
  throw new Error(`target ${origin} never picked`);
}

function statusOf(group: UpstreamGroup, origin: string): ReturnType<UpstreamGroup['status']>[number] {
  const found = group.status().find((entry) => entry.origin === origin);
  if (!found) throw new Error(`no status for ${origin}`);
  return found;
}

/** Polls until the condition holds; the bound is generous and is not an assertion about speed. */
async function waitFor(condition: () => boolean, what: string, boundMs = 10_000): Promise<void> {
  const deadline = Date.now() + boundMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const upstreams: TestUpstream[] = [];
let a: TestUpstream;
let b: TestUpstream;
let c: TestUpstream;

beforeAll(async () => {
  for (let i = 0; i < 3; i++) {
    const upstream = new TestUpstream();
    await upstream.listen();
    upstreams.push(upstream);
  }
  [a, b, c] = upstreams as [TestUpstream, TestUpstream, TestUpstream];
});

afterAll(async () => {
  await Promise.all(upstreams.map((upstream) => upstream.stop()));
});

afterEach(() => {
  for (const upstream of upstreams) {
    upstream.release();
    upstream.status = 200;
    upstream.healthStatus = 200;
    upstream.healthHangs = false;
    upstream.hits = 0;
    upstream.healthHits = 0;
  }
});

// ------------------------------------------------------------------ targets

describe('targets', () => {
  it('derives origin, base path and Host header from the URL and reuses one object per target', () => {
    const group = makeGroup(
      makeConfig([`http://127.0.0.1:${a.port}/api/v1/`, 'https://backend.example:443', 'http://backend.example:8080/svc']),
    );
    const seen = new Map<string, UpstreamTarget>();
    for (let i = 0; i < 9; i++) {
      const target = group.pick();
      expect(target).not.toBeNull();
      const previous = seen.get(target!.origin);
      if (previous) expect(target).toBe(previous);
      seen.set(target!.origin, target!);
    }
    const first = seen.get(`http://127.0.0.1:${a.port}`)!;
    expect(first.basePath).toBe('/api/v1');
    expect(first.hostHeader).toBe(`127.0.0.1:${a.port}`);
    const tls = seen.get('https://backend.example')!;
    expect(tls.basePath).toBe('');
    expect(tls.hostHeader).toBe('backend.example');
    const withPort = seen.get('http://backend.example:8080')!;
    expect(withPort.basePath).toBe('/svc');
    expect(withPort.hostHeader).toBe('backend.example:8080');
  });

  it('forwards to the base path over the pool', async () => {
    let seenUrl = '';
    const server = http.createServer((req, res) => {
      seenUrl = req.url ?? '';
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      const group = makeGroup(makeConfig([`http://127.0.0.1:${port}/base`]));
      const target = group.pick()!;
      expect(await attempt(group, target, '/items/1')).toBe('success');
      expect(seenUrl).toBe('/base/items/1');
      await group.close();
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  const invalidConfigs: Array<[string, UpstreamConfig]> = [
    ['no targets', makeConfig([])],
    ['not a URL', makeConfig(['not a url'])],
    ['non-http scheme', makeConfig(['ftp://files.example'])],
    ['credentials in URL', makeConfig(['http://user:secret@backend.example'])],
    ['query in URL', makeConfig(['http://backend.example/?debug=1'])],
    ['fragment in URL', makeConfig(['http://backend.example/#x'])],
    ['zero weight', makeConfig([{ url: 'http://backend.example', weight: 0 }])],
    ['NaN weight', makeConfig([{ url: 'http://backend.example', weight: Number.NaN }])],
    ['zero connections', makeConfig(['http://backend.example'], { connectionsPerTarget: 0 })],
    ['relative health path', makeConfig(['http://backend.example'], {
      activeHealth: { path: 'health', interval: 1000, timeout: 500, healthyThreshold: 1, unhealthyThreshold: 1, expectStatus: [200, 299] },
    })],
  ];
  it.each(invalidConfigs)('rejects %s', (_name, config) => {
    expect(() => new UpstreamGroup(config, { logger: silentLogger })).toThrow();
  });

  it('does not echo credentials from a rejected URL', () => {
    expect(() => new UpstreamGroup(makeConfig(['http://user:s3cr3t@backend.example']), { logger: silentLogger })).toThrow(
      /^(?!.*s3cr3t).*$/,
    );
  });

  it('refuses a target from another group', () => {
    const one = makeGroup(makeConfig([a.url]));
    const other = makeGroup(makeConfig([a.url]));
    const foreign = other.pick()!;
    expect(() => one.start(foreign)).toThrow(TypeError);
    expect(() => one.finish(foreign, 'success')).toThrow(TypeError);
  });
});

// ------------------------------------------------------------------ round-robin

describe('round-robin', () => {
  it('follows nginx smooth weighted round-robin: weights 5,1,1 give a a b a c a a', () => {
    const group = makeGroup(makeConfig([{ url: a.url, weight: 5 }, { url: b.url, weight: 1 }, { url: c.url, weight: 1 }]));
    const names = new Map([[a.url, 'a'], [b.url, 'b'], [c.url, 'c']]);
    const sequence = pickOrigins(group, 14).map((origin) => names.get(origin));
    expect(sequence.join(' ')).toBe('a a b a c a a a a b a c a a');
  });

  it('distributes real requests exactly in proportion to weights', async () => {
    const group = makeGroup(makeConfig([{ url: a.url, weight: 3 }, { url: b.url, weight: 2 }, { url: c.url, weight: 1 }]));
    for (let i = 0; i < 60; i++) {
      const target = group.pick()!;
      expect(await attempt(group, target)).toBe('success');
    }
    expect([a.hits, b.hits, c.hits]).toEqual([30, 20, 10]);
    const picks = countBy(pickOrigins(group, 600));
    expect(picks).toEqual({ [a.url]: 300, [b.url]: 200, [c.url]: 100 });
  });

  it('rotates strictly through equal weights', () => {
    const group = makeGroup(makeConfig([a.url, b.url, c.url]));
    expect(pickOrigins(group, 6)).toEqual([a.url, b.url, c.url, a.url, b.url, c.url]);
  });

  it('skips the excluded target while another is available, and falls back to it when alone', () => {
    const clock = new TestClock();
    const group = makeGroup(makeConfig([a.url, b.url], { passiveHealth: { enabled: true, consecutiveFailures: 1, maxEjectedPercent: 50 } }), {
      now: clock.now,
    });
    const targetA = targetByOrigin(group, a.url);
    expect(new Set(pickOrigins(group, 10, targetA))).toEqual(new Set([b.url]));
    const targetB = targetByOrigin(group, b.url);
    group.start(targetB);
    group.finish(targetB, 'connect-error');
    // B is ejected; A is excluded but the only one left, so a retry still has somewhere to go.
    expect(group.pick(targetA)).toBe(targetA);
  });
});

// ------------------------------------------------------------------ least-requests

describe('least-requests', () => {
  it('prefers the idle target while real requests are in flight on the other', async () => {
    const group = makeGroup(makeConfig([a.url, b.url], { balance: 'least-requests' }));
    a.holding = true;
    const targetA = targetByOrigin(group, a.url);
    const pending = [attempt(group, targetA), attempt(group, targetA)];
    await waitFor(() => a.hits === 2, 'both requests to reach A');
    expect(statusOf(group, a.url).inFlight).toBe(2);
    expect(targetA.inFlight).toBe(2);
    expect(new Set(pickOrigins(group, 10))).toEqual(new Set([b.url]));
    a.release();
    expect(await Promise.all(pending)).toEqual(['success', 'success']);
    expect(targetA.inFlight).toBe(0);
    // Equal load: ties go round-robin.
    const sequence = pickOrigins(group, 4);
    expect(countBy(sequence)).toEqual({ [a.url]: 2, [b.url]: 2 });
    expect(sequence[0]).not.toBe(sequence[1]);
  });

  it('weighs load by target weight, and splits ties by weight', () => {
    const group = makeGroup(makeConfig([{ url: a.url, weight: 2 }, { url: b.url, weight: 1 }], { balance: 'least-requests' }));
    // All idle: every pick is a tie, shared 2:1 by smooth weighted round-robin.
    expect(countBy(pickOrigins(group, 30))).toEqual({ [a.url]: 20, [b.url]: 10 });
    const targetA = targetByOrigin(group, a.url);
    const targetB = targetByOrigin(group, b.url);
    group.start(targetA); // A 1/2 against B 0/1
    expect(new Set(pickOrigins(group, 5))).toEqual(new Set([b.url]));
    group.start(targetB); // A 1/2 against B 1/1
    expect(new Set(pickOrigins(group, 5))).toEqual(new Set([a.url]));
    group.start(targetA); // A 2/2 against B 1/1: a tie again
    expect(countBy(pickOrigins(group, 30))).toEqual({ [a.url]: 20, [b.url]: 10 });
  });

  it('with many targets (two random choices) never picks a busier target over an idle one', () => {
    const urls = Array.from({ length: 12 }, (_, i) => `http://backend-${i}.example`);
    const group = makeGroup(makeConfig(urls, { balance: 'least-requests' }));
    const busy = targetByOrigin(group, urls[0]!);
    for (let i = 0; i < 10; i++) group.start(busy);
    const counts = countBy(pickOrigins(group, 2000));
    expect(counts[busy.origin]).toBeUndefined();
    expect(Object.keys(counts)).toHaveLength(11);
  });
});

// ------------------------------------------------------------------ passive health

describe('passive health (outlier ejection)', () => {
  it('ejects after consecutive real failures, not before, and lets the target back after the ejection time', async () => {
    const clock = new TestClock();
    const changes: string[] = [];
    const group = makeGroup(makeConfig([a.url, b.url], { passiveHealth: { enabled: true, consecutiveFailures: 3, ejectFor: 1000 } }), {
      now: clock.now,
      onStateChange: (origin, state) => changes.push(`${origin} ${state}`),
    });
    const targetA = targetByOrigin(group, a.url);
    a.status = 503;
    expect(await attempt(group, targetA)).toBe('server-error');
    expect(await attempt(group, targetA)).toBe('server-error');
    a.status = 200;
    expect(await attempt(group, targetA)).toBe('success'); // breaks the run
    a.status = 503;
    expect(await attempt(group, targetA)).toBe('server-error');
    expect(await attempt(group, targetA)).toBe('server-error');
    expect(statusOf(group, a.url).ejectedUntil).toBe(0);
    expect(await attempt(group, targetA)).toBe('server-error');
    expect(statusOf(group, a.url).ejectedUntil).toBe(clock.time + 1000);
    expect(changes).toEqual([`${a.url} ejected`]);
    expect(new Set(pickOrigins(group, 10))).toEqual(new Set([b.url]));

    clock.advance(999);
    expect(new Set(pickOrigins(group, 10))).toEqual(new Set([b.url]));
    clock.advance(1);
    expect(new Set(pickOrigins(group, 10))).toEqual(new Set([a.url, b.url]));
    expect(statusOf(group, a.url).ejectedUntil).toBe(0);
    expect(changes).toEqual([`${a.url} ejected`, `${a.url} returned`]);
  });

  it('counts a refused connection as a failure', async () => {
    const refusing = new TestUpstream();
    await refusing.listen();
    const url = refusing.url;
    await refusing.stop();
    const clock = new TestClock();
    const group = makeGroup(makeConfig([url, a.url], { passiveHealth: { enabled: true, consecutiveFailures: 2 } }), { now: clock.now });
    const target = targetByOrigin(group, url);
    expect(await attempt(group, target)).toBe('connect-error');
    expect(await attempt(group, target)).toBe('connect-error');
    expect(statusOf(group, url).ejectedUntil).toBeGreaterThan(clock.time);
  });

  it.each<AttemptOutcome>(['connect-error', 'timeout', 'reset', 'server-error'])('counts %s as a failure', (outcome) => {
    const clock = new TestClock();
    const group = makeGroup(makeConfig([a.url, b.url], { passiveHealth: { enabled: true, consecutiveFailures: 2 } }), { now: clock.now });
    const target = targetByOrigin(group, a.url);
    for (let i = 0; i < 2; i++) {
      group.start(target);
      group.finish(target, outcome);
    }
    expect(statusOf(group, a.url).ejectedUntil).toBe(clock.time + 1000);
  });

  it('doubles the ejection time for successive ejections up to 10x, and resets after a healthy period', () => {
    const clock = new TestClock();
    const group = makeGroup(makeConfig([a.url, b.url], { passiveHealth: { enabled: true, consecutiveFailures: 2, ejectFor: 1000 } }), {
      now: clock.now,
    });
    const target = targetByOrigin(group, a.url);
    const ejectOnce = (): number => {
      group.start(target);
      group.finish(target, 'reset');
      group.start(target);
      group.finish(target, 'timeout');
      const until = statusOf(group, a.url).ejectedUntil;
      return until - clock.time;
    };
    const durations: number[] = [];
    for (let i = 0; i < 6; i++) {
      const duration = ejectOnce();
      durations.push(duration);
      clock.advance(duration); // back in, and failing again straight away
    }
    expect(durations).toEqual([1000, 2000, 4000, 8000, 10_000, 10_000]);

    // Stay in (not ejected) for as long as the last ejection lasted: the next one is back to the base.
    clock.advance(10_000);
    expect(ejectOnce()).toBe(1000);
  });

  it('never ejects more than maxEjectedPercent of the targets', () => {
    const clock = new TestClock();
    const group = makeGroup(makeConfig([a.url, b.url, c.url], { passiveHealth: { enabled: true, consecutiveFailures: 1, ejectFor: 1000, maxEjectedPercent: 50 } }), {
      now: clock.now,
    });
    const targetA = targetByOrigin(group, a.url);
    const targetB = targetByOrigin(group, b.url);
    group.start(targetA);
    group.finish(targetA, 'connect-error');
    expect(statusOf(group, a.url).ejectedUntil).toBe(clock.time + 1000);
    // A second ejection would be 2 of 3 = 67% > 50%.
    for (let i = 0; i < 5; i++) {
      group.start(targetB);
      group.finish(targetB, 'connect-error');
    }
    expect(statusOf(group, b.url).ejectedUntil).toBe(0);
    expect(new Set(pickOrigins(group, 10))).toEqual(new Set([b.url, c.url]));

    // Once A is back there is room again, and B's next failure ejects it.
    clock.advance(1000);
    group.start(targetB);
    group.finish(targetB, 'connect-error');
    expect(statusOf(group, b.url).ejectedUntil).toBe(clock.time + 1000);
  });

  it('keeps a single target unless maxEjectedPercent is 100', () => {
    const clock = new TestClock();
    const kept = makeGroup(makeConfig([a.url], { passiveHealth: { enabled: true, consecutiveFailures: 1, maxEjectedPercent: 99 } }), { now: clock.now });
    const keptTarget = kept.pick()!;
    for (let i = 0; i < 5; i++) {
      kept.start(keptTarget);
      kept.finish(keptTarget, 'connect-error');
    }
    expect(kept.pick()).toBe(keptTarget);

    const ejectable = makeGroup(makeConfig([a.url], { passiveHealth: { enabled: true, consecutiveFailures: 1, maxEjectedPercent: 100, ejectFor: 1000 } }), {
      now: clock.now,
    });
    const target = ejectable.pick()!;
    ejectable.start(target);
    ejectable.finish(target, 'connect-error');
    expect(ejectable.pick()).toBeNull();
    clock.advance(1000);
    expect(ejectable.pick()).toBe(target);
  });

  it('does nothing when disabled', () => {
    const group = makeGroup(makeConfig([a.url, b.url], { passiveHealth: { enabled: false, consecutiveFailures: 1 } }));
    const target = targetByOrigin(group, a.url);
    for (let i = 0; i < 10; i++) {
      group.start(target);
      group.finish(target, 'connect-error');
    }
    expect(statusOf(group, a.url).ejectedUntil).toBe(0);
    expect(target.inFlight).toBe(0);
  });
});

// ------------------------------------------------------------------ circuit breaker

describe('circuit breaker', () => {
  const breaker = { enabled: true, failureRateThreshold: 0.5, minimumRequests: 10, window: 10_000, openFor: 5000, halfOpenRequests: 2 };

  function record(group: UpstreamGroup, target: UpstreamTarget, outcomes: readonly AttemptOutcome[]): void {
    for (const outcome of outcomes) {
      group.start(target);
      group.finish(target, outcome);
    }
  }
  const failures = (count: number): AttemptOutcome[] => Array<AttemptOutcome>(count).fill('server-error');
  const successes = (count: number): AttemptOutcome[] => Array<AttemptOutcome>(count).fill('success');

  it('stays closed below minimumRequests whatever the failure rate', () => {
    const group = makeGroup(makeConfig([a.url, b.url], { circuitBreaker: breaker }), { now: new TestClock().now });
    const target = targetByOrigin(group, a.url);
    record(group, target, failures(9));
    expect(statusOf(group, a.url).circuit).toBe('closed');
  });

  it('opens when the request that reaches minimumRequests puts the rate at the threshold, even a success', () => {
    const group = makeGroup(makeConfig([a.url, b.url], { circuitBreaker: breaker }), { now: new TestClock().now });
    const target = targetByOrigin(group, a.url);
    record(group, target, failures(9));
    record(group, target, successes(1)); // 9 / 10
    expect(statusOf(group, a.url).circuit).toBe('open');
  });

  it('stays closed past minimumRequests while the rate is below the threshold', () => {
    const group = makeGroup(makeConfig([a.url, b.url], { circuitBreaker: breaker }), { now: new TestClock().now });
    const target = targetByOrigin(group, a.url);
    record(group, target, [...successes(6), ...failures(4)]); // 4 / 10
    record(group, target, [...successes(2), ...failures(1)]); // 5 / 13
    expect(statusOf(group, a.url).circuit).toBe('closed');
  });

  it('crosses at exactly 50% of 10 requests', () => {
    const group = makeGroup(makeConfig([a.url, b.url], { circuitBreaker: breaker }), { now: new TestClock().now });
    const target = targetByOrigin(group, a.url);
    record(group, target, [...successes(5), ...failures(4)]);
    expect(statusOf(group, a.url).circuit).toBe('closed');
    record(group, target, failures(1)); // 5 / 10 = 0.5
    expect(statusOf(group, a.url).circuit).toBe('open');
  });

  it('forgets outcomes older than the window', () => {
    const clock = new TestClock();
    const group = makeGroup(makeConfig([a.url, b.url], { circuitBreaker: breaker }), { now: clock.now });
    const target = targetByOrigin(group, a.url);
    record(group, target, failures(9));
    clock.advance(breaker.window);
    record(group, target, failures(1)); // the nine earlier failures have rolled out
    expect(statusOf(group, a.url).circuit).toBe('closed');
  });

  it('while open skips the target; after openFor admits only halfOpenRequests trials; a trial success closes it', () => {
    const clock = new TestClock();
    const changes: string[] = [];
    const group = makeGroup(makeConfig([a.url, b.url], { circuitBreaker: breaker }), {
      now: clock.now,
      onStateChange: (origin, state) => changes.push(`${origin} ${state}`),
    });
    const targetA = targetByOrigin(group, a.url);
    const targetB = targetByOrigin(group, b.url);
    record(group, targetA, failures(10));
    expect(new Set(pickOrigins(group, 10))).toEqual(new Set([b.url]));
    clock.advance(breaker.openFor - 1);
    expect(statusOf(group, a.url).circuit).toBe('open');
    expect(group.pick(targetB)).toBe(targetB); // A is still out, so the excluded B is all there is

    clock.advance(1);
    expect(statusOf(group, a.url).circuit).toBe('half-open');
    expect(group.pick(targetB)).toBe(targetA);
    group.start(targetA);
    expect(group.pick(targetB)).toBe(targetA);
    group.start(targetA);
    // Two trials in flight: A takes no third.
    expect(new Set(pickOrigins(group, 10))).toEqual(new Set([b.url]));

    group.finish(targetA, 'success');
    expect(statusOf(group, a.url).circuit).toBe('closed');
    group.finish(targetA, 'success');
    expect(new Set(pickOrigins(group, 10))).toEqual(new Set([a.url, b.url]));
    // The window starts afresh on closing: a few failures do not reopen it at once.
    record(group, targetA, failures(3));
    expect(statusOf(group, a.url).circuit).toBe('closed');
    expect(changes).toEqual([`${a.url} circuit-open`, `${a.url} circuit-half-open`, `${a.url} circuit-closed`]);
  });

  it('a trial failure reopens it for another openFor', () => {
    const clock = new TestClock();
    const group = makeGroup(makeConfig([a.url, b.url], { circuitBreaker: breaker }), { now: clock.now });
    const targetA = targetByOrigin(group, a.url);
    record(group, targetA, failures(10));
    clock.advance(breaker.openFor);
    expect(statusOf(group, a.url).circuit).toBe('half-open');
    group.start(targetA);
    group.finish(targetA, 'timeout');
    expect(statusOf(group, a.url).circuit).toBe('open');
    clock.advance(breaker.openFor - 1);
    expect(statusOf(group, a.url).circuit).toBe('open');
    clock.advance(1);
    expect(statusOf(group, a.url).circuit).toBe('half-open');
  });

  it('is distinct from ejection: a 50% failure rate trips the breaker but never a 3-in-a-row ejection', () => {
    const clock = new TestClock();
    const group = makeGroup(
      makeConfig([a.url, b.url], { circuitBreaker: breaker, passiveHealth: { enabled: true, consecutiveFailures: 3 } }),
      { now: clock.now },
    );
    const target = targetByOrigin(group, a.url);
    for (let i = 0; i < 5; i++) record(group, target, ['server-error', 'success']);
    expect(statusOf(group, a.url)).toMatchObject({ circuit: 'open', ejectedUntil: 0 });
  });

  it('returns null from pick() when every target is out', () => {
    const clock = new TestClock();
    const group = makeGroup(makeConfig([a.url, b.url], { circuitBreaker: breaker }), { now: clock.now });
    record(group, targetByOrigin(group, a.url), failures(10));
    record(group, targetByOrigin(group, b.url), failures(10));
    expect(group.pick()).toBeNull();
    expect(group.status().map((entry) => entry.circuit)).toEqual(['open', 'open']);
  });
});

// ------------------------------------------------------------------ retry budget

describe('retry budget', () => {
  it('always allows minPerSecond retries per second over the 10 s window, then refuses', () => {
    const clock = new TestClock();
    const group = makeGroup(makeConfig([a.url], { retries: { budgetRatio: 0.2, minPerSecond: 2 } }), { now: clock.now });
    let granted = 0;
    while (group.tryAcquireRetry()) granted++;
    expect(granted).toBe(20);
    expect(group.tryAcquireRetry()).toBe(false);
    clock.advance(10_000);
    expect(group.tryAcquireRetry()).toBe(true);
  });

  it('allows the ratio of recent requests when that is more, and ages both out', () => {
    const clock = new TestClock();
    const group = makeGroup(makeConfig([a.url], { retries: { budgetRatio: 0.2, minPerSecond: 2 } }), { now: clock.now });
    for (let i = 0; i < 1000; i++) group.noteRequest();
    let granted = 0;
    for (let i = 0; i < 100; i++) if (group.tryAcquireRetry()) granted++;
    expect(granted).toBe(100);
    clock.advance(5000);
    for (let i = 0; i < 150; i++) if (group.tryAcquireRetry()) granted++;
    expect(granted).toBe(200); // 20% of 1000
    // The requests (and the first 100 retries) leave the window; the 100 retries from t+5 s still count,
    // which is above the floor of 20, so nothing more is allowed until they age out too.
    clock.advance(5000);
    expect(group.tryAcquireRetry()).toBe(false);
    clock.advance(5000);
    expect(group.tryAcquireRetry()).toBe(true);
  });
});

// ------------------------------------------------------------------ active health

describe('active health checks', () => {
  const activeHealth = {
    path: '/health',
    interval: 20,
    timeout: 300,
    healthyThreshold: 2,
    unhealthyThreshold: 2,
    expectStatus: [200, 299] as const,
  };

  it('marks a target unhealthy when it answers 500, healthy again when it recovers, and logs origin only', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    const group = makeGroup(makeConfig([`${a.url}/prefix`, b.url], { activeHealth }), { logger });
    group.startHealthChecks();
    group.startHealthChecks(); // idempotent: still one timer
    await waitFor(() => a.healthHits >= 2, 'first checks');
    expect(a.lastHealthRequest).toEqual({ method: 'GET', url: '/health', userAgent: 'rampart-health-check' });
    expect(statusOf(group, a.url).healthy).toBe(true);

    a.healthStatus = 500;
    await waitFor(() => !statusOf(group, a.url).healthy, 'A unhealthy');
    expect(new Set(pickOrigins(group, 10))).toEqual(new Set([b.url]));
    expect(statusOf(group, b.url).healthy).toBe(true);

    a.healthStatus = 204;
    await waitFor(() => statusOf(group, a.url).healthy, 'A healthy again');
    expect(new Set(pickOrigins(group, 10))).toEqual(new Set([a.url, b.url]));

    const stateLines = lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((entry) => entry.state !== undefined);
    expect(stateLines.map((entry) => [entry.level, entry.origin, entry.state])).toEqual([
      [30, a.url, 'unhealthy'],
      [30, a.url, 'healthy'],
    ]);
    expect(lines.join('')).not.toContain('/prefix');
  });

  it('marks a target unhealthy when its server is closed, healthy when it listens again', async () => {
    const restartable = new TestUpstream();
    await restartable.listen();
    try {
      const group = makeGroup(makeConfig([restartable.url, b.url], { activeHealth }));
      group.startHealthChecks();
      await waitFor(() => restartable.healthHits >= 2, 'first checks');
      await restartable.stop();
      await waitFor(() => !statusOf(group, restartable.url).healthy, 'closed target unhealthy');
      await restartable.restart();
      await waitFor(() => statusOf(group, restartable.url).healthy, 'restarted target healthy');
    } finally {
      await restartable.stop();
    }
  });

  it('fails a check that does not answer within the timeout', async () => {
    const group = makeGroup(makeConfig([a.url, b.url], { activeHealth: { ...activeHealth, timeout: 50 } }));
    a.healthHangs = true;
    group.startHealthChecks();
    await waitFor(() => !statusOf(group, a.url).healthy, 'hanging target unhealthy');
    expect(statusOf(group, b.url).healthy).toBe(true);
  });

  it('does nothing when not configured', () => {
    const group = makeGroup(makeConfig([a.url]));
    group.startHealthChecks();
    expect(group.status()[0]!.healthy).toBe(true);
  });
});

// ------------------------------------------------------------------ close

describe('close', () => {
  it('waits for in-flight requests, then closes every pool; pick() returns null afterwards', async () => {
    const group = new UpstreamGroup(makeConfig([a.url, b.url]), { logger: silentLogger });
    const target = targetByOrigin(group, a.url);
    a.holding = true;
    const inFlight = attempt(group, target);
    await waitFor(() => a.hits === 1, 'request to reach A');
    let closed = false;
    const closing = group.close().then(() => {
      closed = true;
    });
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(closed).toBe(false);
    a.release();
    expect(await inFlight).toBe('success');
    await closing;
    expect(target.pool.closed).toBe(true);
    expect(target.pool.destroyed).toBe(true);
    expect(group.pick()).toBeNull();
    await group.close(); // idempotent
  });

  it('stops health checks', async () => {
    const group = new UpstreamGroup(makeConfig([a.url], { activeHealth: { path: '/health', interval: 10, timeout: 200, healthyThreshold: 1, unhealthyThreshold: 1, expectStatus: [200, 299] } }), {
      logger: silentLogger,
    });
    group.startHealthChecks();
    await waitFor(() => a.healthHits >= 2, 'checks running');
    await group.close();
    const hitsAtClose = a.healthHits;
    // Several intervals' worth of waiting: a live timer would have sent more checks.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(a.healthHits).toBe(hitsAtClose);
  });

  it('lets a process that used the group exit on its own', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'rampart-upstream-'));
    try {
      const groupModule = pathToFileURL(path.join(path.dirname(fileURLToPath(import.meta.url)), 'group.ts')).href;
      const script = path.join(dir, 'exit-check.mjs');
      await writeFile(
        script,
        `
import http from 'node:http';
import { UpstreamGroup } from ${JSON.stringify(groupModule)};
let checks = 0;
const server = http.createServer((req, res) => { if (req.url === '/health') checks++; res.end('ok'); });
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const url = 'http://127.0.0.1:' + server.address().port;
const logger = { info() {}, error() {} };
const group = new UpstreamGroup({
  targets: [{ url, weight: 1 }], balance: 'round-robin', connectionsPerTarget: 4,
  timeouts: { connect: 1000, response: 1000, bodyIdle: 1000 },
  passiveHealth: { enabled: true, consecutiveFailures: 3, ejectFor: 1000, maxEjectedPercent: 50 },
  activeHealth: { path: '/health', interval: 10, timeout: 500, healthyThreshold: 1, unhealthyThreshold: 1, expectStatus: [200, 299] },
  retries: { attempts: 1, budgetRatio: 0.2, minPerSecond: 1 },
  circuitBreaker: { enabled: true, failureRateThreshold: 0.5, minimumRequests: 5, window: 1000, openFor: 1000, halfOpenRequests: 1 },
}, { logger });
group.startHealthChecks();
while (checks < 3) await new Promise((resolve) => setTimeout(resolve, 5));
const target = group.pick();
group.start(target);
const response = await target.pool.request({ method: 'GET', path: '/' });
await response.body.text();
group.finish(target, 'success');
await group.close();
server.close();
console.log('closed');
`,
      );
      const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      // The bound only keeps a hung child from outliving the test run; exiting at all is what is asserted.
      const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('exit', (exitCode, exitSignal) => resolve([exitCode, exitSignal])));
      clearTimeout(killer);
      expect({ code, signal, stderr }).toEqual({ code: 0, signal: null, stderr: '' });
      expect(stdout.trim()).toBe('closed');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
