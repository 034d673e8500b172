/**
 * Alert webhooks against real HTTP receivers on port 0 (issue 6, point 6 and "Must show": a webhook receiver gets one
 * signed, grouped alert for a brute-force run; "Bad input": a receiver that hangs or answers 500 does not slow request
 * handling, event floods cannot exhaust memory). Time is the injected clock and sleep; no assertion is about a
 * duration: everything is counts and the order in which things happened.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AlertDispatcher, type AlertDispatcherOptions } from '../src/alerts/dispatcher.ts';
import { parseAlertsConfig } from '../src/alerts/schema.ts';
import { ALERT_ID_HEADER, SIGNATURE_HEADER, verifyAlertSignature } from '../src/alerts/signature.ts';
import { createPrivacy } from '../src/audit/privacy.ts';
import { AnomalyDetection, parseDetectorsConfig } from '../src/detect/index.ts';
import { ManualClock, userRef } from '../src/detect/traces.ts';
import type { SecurityEvent, SecurityEvents } from '../src/observe/events.ts';

const SECRET = 'test-secret-0123456789abcdef0123456789';
const START = Date.UTC(2026, 0, 5, 14);
const MINUTE = 60_000;

interface Received {
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

type Answer = number | 'hang' | { status: number; headers: Record<string, string> };

interface Receiver {
  readonly url: string;
  readonly received: Received[];
  /** Resolves when the n-th request (1-based) has arrived. */
  arrived(n: number): Promise<void>;
  answered: number;
  close(): Promise<void>;
}

const open: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of open.splice(0)) await close();
});

async function startReceiver(answer: (n: number, request: Received) => Answer): Promise<Receiver> {
  const received: Received[] = [];
  const waiters = new Map<number, () => void>();
  const hanging: ServerResponse[] = [];
  const receiver = {
    url: '',
    received,
    answered: 0,
    arrived: (n: number) =>
      received.length >= n ? Promise.resolve() : new Promise<void>((resolve) => waiters.set(n, resolve)),
    close: async () => {},
  };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const request = { headers: req.headers, body: Buffer.concat(chunks) };
      received.push(request);
      const n = received.length;
      const a = answer(n, request);
      if (a === 'hang') hanging.push(res);
      else {
        const { status, headers } = typeof a === 'number' ? { status: a, headers: {} } : a;
        res.writeHead(status, headers).end(status >= 300 && status < 400 ? '' : 'ok');
        receiver.answered++;
      }
      waiters.get(n)?.();
      waiters.delete(n);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  receiver.close = async () => {
    for (const res of hanging) res.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  open.push(receiver.close);
  return receiver;
}

/** Sleeps recorded, resolved at once (or rejected when aborted, as the real one is). */
function recordingSleep() {
  const waits: number[] = [];
  const sleep = (ms: number, signal: AbortSignal) => {
    waits.push(ms);
    return signal.aborted ? Promise.reject(signal.reason as Error) : Promise.resolve();
  };
  return { waits, sleep };
}

function dispatcherFor(destinations: Array<Record<string, unknown>>, options: Omit<Partial<AlertDispatcherOptions>, 'clock'> & { clock: ManualClock }) {
  const parsed = parseAlertsConfig(destinations);
  if (!parsed.ok) throw new Error(parsed.errors.join('; '));
  const { clock, ...rest } = options;
  const dispatcher = new AlertDispatcher(parsed.destinations, { autoFlush: false, sleep: recordingSleep().sleep, random: () => 0.5, ...rest, clock: clock.read });
  open.push(() => dispatcher.close(AbortSignal.abort()));
  return dispatcher;
}

const json = (r: Received) => JSON.parse(r.body.toString('utf8')) as Record<string, unknown>;

function verified(r: Received, clock: ManualClock) {
  return verifyAlertSignature(r.headers[SIGNATURE_HEADER], r.body, SECRET, { now: clock.read });
}

const highEvent = (over: Partial<SecurityEvent> = {}): SecurityEvent => ({
  type: 'auth.refresh-token-reuse',
  severity: 'high',
  requestId: 'req-1',
  clientAddress: '198.51.100.7',
  details: { subject: 'user-1', familyId: 'fam-1' },
  ...over,
});

/**
 * The gateway's fan-out with the default detectors: every event to the dispatcher (one destination) and to
 * detection; the anomalies detection raises come back through the same `events`.
 */
function detectionToAlerts(
  clock: ManualClock,
  destination: Record<string, unknown>,
): { dispatcher: ReturnType<typeof dispatcherFor>; events: SecurityEvents; detection: AnomalyDetection } {
  const dispatcher = dispatcherFor([destination], { clock });
  const detectors = parseDetectorsConfig({});
  if (!detectors.ok) throw new Error(detectors.errors.join());
  const events: SecurityEvents = {
    emit(event) {
      dispatcher.emit(event);
      detection.emit(event);
    },
  };
  // No background tick: the tests end cool-downs (detection.tick) when their clock says so, like the dispatcher's flush.
  const detection = new AnomalyDetection(detectors.config, { clock: clock.read, sink: events, autoTick: false });
  return { dispatcher, events, detection };
}

describe('a brute-force run through detection and alerting', () => {
  it('200 failures for one account become ONE signed, grouped alert with counts', async () => {
    const clock = new ManualClock(START);
    // The receiver checks the signature as a real one would, and refuses what does not verify.
    const receiver = await startReceiver((_n, request) => (verified(request, clock).ok ? 200 : 401));
    const { dispatcher, events, detection } = detectionToAlerts(clock, { webhook: receiver.url, secret: SECRET, groupWindow: '30m' });

    const victim = userRef('alice');
    const ids = new Set<string>();
    // One failure every 5 s for 1,000 s: several brute-force windows, so the detector raises more than once.
    for (let i = 0; i < 200; i++) {
      clock.now = START + i * 5000;
      const requestId = `bf-${i}`;
      ids.add(requestId);
      events.emit({ type: 'auth.login-failed', severity: 'low', requestId, routeId: 'auth-login', clientAddress: '203.0.113.50', details: { reason: 'wrong-password', user: victim } });
    }
    const bruteForce = detection.stats().detectors.find((d) => d.name === 'bruteForce')!;
    expect(bruteForce.raised).toBeGreaterThanOrEqual(2);

    clock.advance(30 * MINUTE);
    dispatcher.flush();
    await dispatcher.idle();

    expect(receiver.received).toHaveLength(1);
    expect(dispatcher.stats()[0]).toMatchObject({ delivered: 1, deadLettered: 0 });
    const [alert] = receiver.received as [Received];
    expect(verified(alert, clock)).toEqual({ ok: true, timestamp: Math.floor(clock.now / 1000) });
    const body = json(alert);
    expect(alert.headers[ALERT_ID_HEADER]).toBe(body.id);
    expect(alert.headers['content-type']).toBe('application/json');
    expect(body).toMatchObject({
      version: 1,
      type: 'anomaly.brute-force',
      severity: 'high',
      routeId: 'auth-login',
      principal: `user:${victim}`,
      clientAddress: '203.0.113.50',
      count: bruteForce.raised,
    });
    // Repeats the detector folded into its events travel with the alert; all of it is at most the 191 failures
    // from the threshold on (the last cool-down's repeats go out with its follow-up event, once the cool-down ended:
    // this test never ticks the detection, see the default-grouping tests below).
    expect(body.suppressed).toBeGreaterThan(100);
    expect((body.count as number) + (body.suppressed as number)).toBeLessThanOrEqual(191);
    expect(Date.parse(body.lastSeen as string)).toBeGreaterThan(Date.parse(body.firstSeen as string));
    const samples = body.sampleRequestIds as string[];
    expect(samples.length).toBeGreaterThan(0);
    for (const id of samples) expect(ids.has(id)).toBe(true);
    const details = body.details as Record<string, unknown>;
    expect(details).toMatchObject({ detector: 'bruteForce', signal: 'account-failures', threshold: 10 });
    expect(details.count as number).toBeGreaterThanOrEqual(10);
    // The 200 low-severity failures themselves were below the destination's minimum severity.
    expect(dispatcher.stats()[0]!.events).toBe(bruteForce.raised);
    // The body carries no secret: neither the signing secret nor a password-like field.
    expect(alert.body.toString()).not.toContain(SECRET);
    expect(alert.body.toString()).not.toMatch(/password"\s*:/);
  });
});

/**
 * The same run under DEFAULT grouping (groupWindow 1m, repeatInterval 15m; src/alerts/schema.ts) and default
 * detectors (bruteForce: threshold 10, window 5m, cool-down = window). The test above tunes groupWindow to 30m because
 * its run lasts 1,000 s: longer than the default window and than the default repeat interval. Under the defaults
 * the dispatcher follows Alertmanager's group_wait / repeat_interval model: the first anomaly of a run goes out one
 * groupWindow later, and what the detector raises after that waits for the repeat interval and goes out as the next
 * alert. The detector's repeats inside a cool-down go out with its next raise, or, when the run stops inside the
 * cool-down, with the follow-up event (`phase: cooldown-ended`) it sends when the cool-down ends: the same type,
 * route and principal, so the same group, after the repeat interval. Both timers are played here second by second
 * (detection.tick, then dispatcher.flush), as they run in the gateway.
 */
describe('a brute-force run under default grouping settings', () => {
  async function defaultRun(failures: number, everyMs: number, playUntil: number) {
    const clock = new ManualClock(START);
    const receiver = await startReceiver((_n, request) => (verified(request, clock).ok ? 200 : 401));
    const { dispatcher, events, detection } = detectionToAlerts(clock, { webhook: receiver.url, secret: SECRET });
    const victim = userRef('alice');
    const sentAt: number[] = [];
    const timers = async () => {
      detection.tick();
      const before = dispatcher.stats()[0]!.alerts;
      dispatcher.flush();
      if (dispatcher.stats()[0]!.alerts === before) return;
      sentAt.push(clock.now);
      // Delivered before the clock moves on, so the receiver checks the signature at the time it was made.
      await dispatcher.idle();
    };
    for (let t = START; t <= START + playUntil; t += 1000) {
      clock.now = t;
      const i = (t - START) / everyMs;
      if (Number.isInteger(i) && i < failures) {
        events.emit({ type: 'auth.login-failed', severity: 'low', requestId: `bf-${i}`, routeId: 'auth-login', clientAddress: '203.0.113.50', details: { reason: 'wrong-password', user: victim } });
      }
      await timers();
    }
    const stats = detection.stats().detectors.find((d) => d.name === 'bruteForce')!;
    return { clock, receiver, dispatcher, victim, stats, sentAt };
  }

  it('a run that stops inside the cool-down (60 failures, one a second): the alert, then one follow-up alert with the 50 repeats', async () => {
    const { receiver, dispatcher, victim, stats, sentAt } = await defaultRun(60, 1000, 60 * MINUTE);
    // The tenth failure crosses the threshold (at 9 s); the other 50 fall in the detector's 5-minute cool-down.
    expect(stats).toMatchObject({ raised: 1, suppressed: 50, summaries: 1 });
    // The anomaly went out one group window after it (69 s). The cool-down's end (309 s) sent the follow-up into the
    // same group, which had fired: it waited for the repeat interval, 15 minutes after the first alert.
    expect(sentAt).toEqual([START + 69_000, START + 69_000 + 15 * MINUTE]);
    expect(receiver.received).toHaveLength(2);
    // The receiver verified each signature on arrival, at the time it was made (it answers 401 otherwise): both were
    // delivered at the first attempt.
    expect(dispatcher.stats()[0]).toMatchObject({ delivered: 2, attempts: 2 });
    const [first, second] = receiver.received.map(json) as [Record<string, unknown>, Record<string, unknown>];
    const group = { type: 'anomaly.brute-force', severity: 'high', routeId: 'auth-login', principal: `user:${victim}`, clientAddress: '203.0.113.50' };
    expect(first).toMatchObject({ ...group, count: 1, sampleRequestIds: ['bf-9'] });
    // Nothing was repeated yet when it went out.
    expect(first.suppressed).toBeUndefined();
    expect(first.details).toMatchObject({ detector: 'bruteForce', signal: 'account-failures', threshold: 10, count: 10, phase: 'raised' });
    // The second alert is the follow-up: one event, carrying the 50 repeats; its details say the cool-down ended.
    expect(second).toMatchObject({ ...group, count: 1, suppressed: 50, firstSeen: new Date(START + 309_000).toISOString() });
    expect(second.id).not.toBe(first.id);
    expect(second.details).toMatchObject({
      detector: 'bruteForce',
      signal: 'account-failures',
      phase: 'cooldown-ended',
      suppressed: 50,
      windowStart: new Date(START + 9000).toISOString(),
      windowEnd: new Date(START + 309_000).toISOString(),
    });
    // Every failure from the threshold on is in exactly one alert: the raise, or a repeat.
    expect((first.count as number) + (second.suppressed as number)).toBe(60 - 9);
    expect(dispatcher.stats()[0]).toMatchObject({ events: 2, alerts: 2, delivered: 2, deadLettered: 0 });
  });

  it('the 1,000-s run of the tuned test: one alert after the window, then one per repeat interval; every repeat in exactly one', async () => {
    const { receiver, dispatcher, stats, sentAt } = await defaultRun(200, 5000, 60 * MINUTE);
    // Raised at the tenth failure (45 s), then once per 5-minute cool-down while failures go on: 45, 345, 645, 945 s.
    // Each later raise comes as the previous cool-down ends (before the tick) and carries its repeats; the last
    // cool-down ends after the run (1,245 s) and sends its follow-up.
    expect(stats).toMatchObject({ raised: 4, summaries: 1 });
    // The first alert one group window after the first anomaly; the next ones each a repeat interval after the last.
    expect(sentAt).toEqual([START + 105_000, START + 105_000 + 15 * MINUTE, START + 105_000 + 30 * MINUTE]);
    const alerts = receiver.received.map(json);
    // The receiver refuses (401) what does not verify at arrival: all were delivered.
    expect(dispatcher.stats()[0]).toMatchObject({ events: stats.raised + stats.summaries, alerts: 3, delivered: 3 });
    // Every event is in exactly one alert: the first raise alone, the other three raises, then the follow-up.
    expect(alerts.map((a) => a.count)).toEqual([1, stats.raised - 1, 1]);
    expect(alerts.map((a) => (a.details as { phase: string }).phase)).toEqual(['raised', 'raised', 'cooldown-ended']);
    // The repeats travel with the later events; together they are all of them, each once: 191 failures from the
    // threshold on, 4 of them raised.
    const suppressed = alerts.map((a) => (a.suppressed as number | undefined) ?? 0);
    expect(suppressed[0]).toBe(0);
    expect(suppressed[1]).toBeGreaterThan(0);
    expect(suppressed[2]).toBeGreaterThan(0);
    expect(suppressed.reduce((x, y) => x + y, 0)).toBe(stats.suppressed);
    expect(stats.suppressed).toBe(191 - stats.raised);
  });
});

describe('delivery', () => {
  it('a receiver holding another secret refuses the alert (401): the signature really binds the secret', async () => {
    const clock = new ManualClock(START);
    const receiver = await startReceiver((_n, request) =>
      verifyAlertSignature(request.headers[SIGNATURE_HEADER], request.body, 'another-secret-0123456789abcdef0123', { now: clock.read }).ok ? 200 : 401,
    );
    const dispatcher = dispatcherFor([{ webhook: receiver.url, secret: SECRET }], { clock });
    dispatcher.emit(highEvent());
    dispatcher.flush(true);
    await dispatcher.idle();
    expect(dispatcher.stats()[0]).toMatchObject({ delivered: 0, attempts: 1, deadLettered: 1 });
    expect(dispatcher.deadLetters()[0]!.reason).toBe('status 401');
  });

  it('a receiver answering 500 then 200 gets the alert after a retry with backoff', async () => {
    const receiver = await startReceiver((n) => (n === 1 ? 500 : 200));
    const clock = new ManualClock(START);
    const { waits, sleep } = recordingSleep();
    const dispatcher = dispatcherFor([{ webhook: receiver.url, secret: SECRET, maxAttempts: 4, backoff: { initial: '2s', max: '1m' } }], { clock, sleep });
    dispatcher.emit(highEvent());
    dispatcher.flush(true);
    await dispatcher.idle();

    expect(receiver.received).toHaveLength(2);
    for (const r of receiver.received) expect(verified(r, clock).ok).toBe(true);
    // The same alert both times: one id, one body.
    expect(receiver.received[1]!.headers[ALERT_ID_HEADER]).toBe(receiver.received[0]!.headers[ALERT_ID_HEADER]);
    expect(receiver.received[1]!.body.equals(receiver.received[0]!.body)).toBe(true);
    // Equal jitter with random 0.5: 3/4 of the first backoff step.
    expect(waits).toEqual([1500]);
    expect(dispatcher.stats()[0]).toMatchObject({ delivered: 1, attempts: 2, retries: 1, deadLettered: 0 });
    expect(dispatcher.deadLetters()).toEqual([]);
  });

  it('backs off exponentially up to the maximum and honours Retry-After', async () => {
    const receiver = await startReceiver((n) => (n === 1 ? { status: 429, headers: { 'retry-after': '40' } } : n < 6 ? 503 : 200));
    const clock = new ManualClock(START);
    const { waits, sleep } = recordingSleep();
    const dispatcher = dispatcherFor([{ webhook: receiver.url, secret: SECRET, maxAttempts: 6, backoff: { initial: '1s', max: '8s' } }], { clock, sleep, random: () => 0 });
    dispatcher.emit(highEvent());
    dispatcher.flush(true);
    await dispatcher.idle();
    expect(receiver.received).toHaveLength(6);
    // Retry-After 40 s capped at the 8 s maximum; then 2, 4, 8, 8 s steps at their jitter floor (half).
    expect(waits).toEqual([8000, 1000, 2000, 4000, 4000]);
    expect(dispatcher.stats()[0]!.delivered).toBe(1);
  });

  it('a final 4xx is not retried; the alert goes to the dead-letter list and the JSONL file', async () => {
    const receiver = await startReceiver(() => 400);
    const dir = mkdtempSync(join(tmpdir(), 'rampart-alerts-'));
    const file = join(dir, 'dead-letters.jsonl');
    const clock = new ManualClock(START);
    const dispatcher = dispatcherFor([{ name: 'ops', webhook: receiver.url, secret: SECRET, deadLetter: { file } }], { clock });
    dispatcher.emit(highEvent());
    dispatcher.flush(true);
    await dispatcher.idle();
    expect(receiver.received).toHaveLength(1);
    const [letter] = dispatcher.deadLetters();
    expect(letter).toMatchObject({ destination: 'ops', type: 'auth.refresh-token-reuse', severity: 'high', attempts: 1, reason: 'status 400' });
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toEqual(letter);
    expect(JSON.parse(JSON.parse(lines[0]!).body as string).id).toBe(letter!.alertId);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    // Neither the secret nor the webhook URL is written.
    expect(readFileSync(file, 'utf8')).not.toContain(SECRET);
    expect(readFileSync(file, 'utf8')).not.toContain(receiver.url);
  });

  it('a redirect is not followed', async () => {
    const target = await startReceiver(() => 200);
    const receiver = await startReceiver(() => ({ status: 307, headers: { location: target.url } }));
    const clock = new ManualClock(START);
    const dispatcher = dispatcherFor([{ webhook: receiver.url, secret: SECRET }], { clock });
    dispatcher.emit(highEvent());
    dispatcher.flush(true);
    await dispatcher.idle();
    expect(target.received).toHaveLength(0);
    expect(dispatcher.deadLetters()[0]).toMatchObject({ attempts: 1, reason: 'status 307' });
  });

  it('an unreachable receiver is retried, then dead-lettered with the network error', async () => {
    const gone = await startReceiver(() => 200);
    const url = gone.url;
    await gone.close();
    const clock = new ManualClock(START);
    const dispatcher = dispatcherFor([{ webhook: url, secret: SECRET, maxAttempts: 3 }], { clock });
    dispatcher.emit(highEvent());
    dispatcher.flush(true);
    await dispatcher.idle();
    expect(dispatcher.deadLetters()[0]).toMatchObject({ attempts: 3, reason: 'network ECONNREFUSED' });
    expect(dispatcher.stats()[0]).toMatchObject({ attempts: 3, retries: 2, delivered: 0, deadLettered: 1 });
  });
});

describe('a hanging receiver', () => {
  it('never holds up emit(); each attempt is cut at its timeout and the alert is dead-lettered after maxAttempts', async () => {
    const receiver = await startReceiver(() => 'hang');
    const clock = new ManualClock(START);
    // Attempts time out when the test says so (deterministic), in place of AbortSignal.timeout.
    const attempts: AbortController[] = [];
    const attemptSignal = () => {
      const controller = new AbortController();
      attempts.push(controller);
      return controller.signal;
    };
    const dispatcher = dispatcherFor([{ webhook: receiver.url, secret: SECRET, maxAttempts: 3 }], { clock, attemptSignal });
    const order: string[] = [];

    dispatcher.emit(highEvent());
    order.push('emit returned');
    dispatcher.flush(true);
    order.push('flush returned');
    await receiver.arrived(1);
    order.push('receiver got the alert');
    // The receiver holds the request open; a thousand more events are taken while it does.
    for (let i = 0; i < 1000; i++) dispatcher.emit(highEvent({ requestId: `later-${i}`, details: { subject: `user-${i}` } }));
    order.push('1000 emits returned');
    expect(receiver.answered).toBe(0);
    expect(dispatcher.stats()[0]).toMatchObject({ inFlight: 1, events: 1001, delivered: 0 });

    for (let n = 1; n <= 3; n++) {
      await receiver.arrived(n);
      attempts[n - 1]!.abort();
    }
    await dispatcher.idle();
    expect(order).toEqual(['emit returned', 'flush returned', 'receiver got the alert', '1000 emits returned']);
    expect(receiver.received).toHaveLength(3);
    expect(receiver.answered).toBe(0);
    expect(dispatcher.deadLetters()).toHaveLength(1);
    expect(dispatcher.deadLetters()[0]).toMatchObject({ attempts: 3, reason: 'timeout' });
  });

  it('with the real per-attempt timeout too', async () => {
    const receiver = await startReceiver(() => 'hang');
    const clock = new ManualClock(START);
    const dispatcher = dispatcherFor([{ webhook: receiver.url, secret: SECRET, maxAttempts: 2, timeout: '100ms' }], { clock });
    dispatcher.emit(highEvent());
    dispatcher.flush(true);
    await dispatcher.idle();
    expect(receiver.received).toHaveLength(2);
    expect(dispatcher.deadLetters()[0]).toMatchObject({ attempts: 2, reason: 'timeout' });
  });

  it('close() gives pending alerts their attempt, and a deadline cuts what still hangs', async () => {
    const receiver = await startReceiver((n) => (n === 1 ? 200 : 'hang'));
    const clock = new ManualClock(START);
    const dispatcher = dispatcherFor([{ webhook: receiver.url, secret: SECRET, groupWindow: '1h', concurrency: 1 }], { clock });
    dispatcher.emit(highEvent({ details: { subject: 'a' } }));
    dispatcher.emit(highEvent({ details: { subject: 'b' } }));
    dispatcher.emit(highEvent({ details: { subject: 'c' } }));
    const deadline = new AbortController();
    const closed = dispatcher.close(deadline.signal);
    await receiver.arrived(2);
    deadline.abort();
    await closed;
    expect(receiver.received).toHaveLength(2);
    expect(dispatcher.stats()[0]).toMatchObject({ delivered: 1, deadLettered: 2, queued: 0, inFlight: 0 });
    expect(dispatcher.deadLetters().map((d) => d.reason)).toEqual(['shutdown', 'shutdown']);
    // Closed: later events are ignored.
    dispatcher.emit(highEvent());
    expect(dispatcher.stats()[0]!.events).toBe(3);
  });
});

describe('a flood of events', () => {
  it('100,000 events stay within the group, queue and dead-letter bounds, with every drop counted', async () => {
    const receiver = await startReceiver(() => 'hang');
    const clock = new ManualClock(START);
    const held: AbortController[] = [];
    const dispatcher = dispatcherFor(
      [{ webhook: receiver.url, secret: SECRET, maxGroups: 1000, queueSize: 100, concurrency: 2, deadLetter: { max: 50 } }],
      {
        clock,
        attemptSignal: () => {
          const c = new AbortController();
          held.push(c);
          return c.signal;
        },
      },
    );
    const flood = (offset: number) => {
      for (let i = 0; i < 100_000; i++) {
        dispatcher.emit({
          type: 'anomaly.scraping',
          severity: 'high',
          requestId: `f-${offset + i}`,
          clientAddress: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
          details: { principal: `p-${offset + i}`, count: 1 },
        });
      }
    };
    flood(0);
    expect(dispatcher.stats()[0]).toMatchObject({ events: 100_000, groups: 1000, overflowGroups: 1, overflowed: 99_000, alerts: 0 });

    dispatcher.flush(true);
    await receiver.arrived(2);
    // 1,001 alerts (1,000 groups + the overflow group): 2 in flight, 100 queued, the rest dead-lettered and counted.
    expect(dispatcher.stats()[0]).toMatchObject({ alerts: 1001, inFlight: 2, queued: 100, dropped: 899, deadLettered: 899, deadLettersDiscarded: 849 });
    expect(dispatcher.deadLetters()).toHaveLength(50);
    expect(dispatcher.deadLetters().every((d) => d.reason === 'queue-full')).toBe(true);

    // More of the same while deliveries hang: still bounded.
    flood(100_000);
    const during = dispatcher.stats()[0]!;
    expect(during.groups).toBe(1000);
    expect(during.overflowGroups).toBe(1);
    expect(during.queued).toBe(100);

    await dispatcher.close(AbortSignal.abort());
    const after = dispatcher.stats()[0]!;
    expect(after).toMatchObject({ delivered: 0, queued: 0, inFlight: 0, alerts: 1002 });
    expect(after.deadLettered).toBe(1002);
    expect(dispatcher.deadLetters()).toHaveLength(50);

  });

  it('beyond maxGroups, events fold into one group per type that reports the count without principals or addresses', async () => {
    const receiver = await startReceiver(() => 200);
    const clock = new ManualClock(START);
    const dispatcher = dispatcherFor([{ webhook: receiver.url, secret: SECRET, maxGroups: 10 }], { clock });
    for (let i = 0; i < 1000; i++) dispatcher.emit(highEvent({ type: 'anomaly.scraping', requestId: `o-${i}`, clientAddress: `10.0.${i >> 8}.${i & 255}`, details: { principal: `p-${i}` } }));
    dispatcher.flush(true);
    await dispatcher.idle();
    const alerts = receiver.received.map(json);
    expect(alerts).toHaveLength(11);
    const overflow = alerts.filter((a) => a.overflow === true);
    expect(overflow).toHaveLength(1);
    expect(overflow[0]).toMatchObject({ type: 'anomaly.scraping', count: 990, sampleRequestIds: ['o-10', 'o-11', 'o-12', 'o-13', 'o-14', 'o-15', 'o-16', 'o-17', 'o-18', 'o-19'] });
    expect(overflow[0]!.clientAddress).toBeUndefined();
    expect(overflow[0]!.principal).toBeUndefined();
    expect(overflow[0]!.details).toBeUndefined();
  });
});

describe('grouping, filters and formats', () => {
  it('groups by type, route and principal; a group that fired waits its repeat interval', async () => {
    const receiver = await startReceiver(() => 200);
    const clock = new ManualClock(START);
    const dispatcher = dispatcherFor([{ webhook: receiver.url, secret: SECRET, groupWindow: '1m', repeatInterval: '15m' }], { clock });
    for (let i = 0; i < 5; i++) dispatcher.emit(highEvent({ requestId: `a-${i}`, details: { subject: 'alice' } }));
    for (let i = 0; i < 3; i++) dispatcher.emit(highEvent({ requestId: `b-${i}`, details: { subject: 'bob' } }));
    dispatcher.emit(highEvent({ requestId: 'c-0', routeId: 'other', details: { subject: 'alice' } }));
    clock.advance(30_000);
    dispatcher.flush();
    expect(receiver.received).toHaveLength(0); // not yet: the group window is open
    clock.advance(30_000);
    dispatcher.flush();
    await dispatcher.idle();
    const key = (a: Record<string, unknown>) => `${String(a.principal)}/${String(a.routeId ?? '')}`;
    const first = receiver.received.map(json).sort((a, b) => key(a).localeCompare(key(b)));
    expect(first.map((a) => [a.principal, a.routeId ?? null, a.count])).toEqual([
      ['alice', null, 5],
      ['alice', 'other', 1],
      ['bob', null, 3],
    ]);
    expect(first[0]!.sampleRequestIds).toEqual(['a-0', 'a-1', 'a-2', 'a-3', 'a-4']);

    // Alice again, 2 minutes after her alert: held until 15 minutes after it, then one alert with the new count.
    clock.advance(2 * MINUTE);
    for (let i = 0; i < 7; i++) dispatcher.emit(highEvent({ requestId: `a2-${i}`, details: { subject: 'alice' } }));
    clock.advance(5 * MINUTE);
    dispatcher.flush();
    await dispatcher.idle();
    expect(receiver.received).toHaveLength(3);
    clock.advance(8 * MINUTE);
    dispatcher.flush();
    await dispatcher.idle();
    expect(receiver.received).toHaveLength(4);
    expect(json(receiver.received[3]!)).toMatchObject({ principal: 'alice', count: 7 });
  });

  it('sends only what passes minSeverity and types', async () => {
    const receiver = await startReceiver(() => 200);
    const clock = new ManualClock(START);
    const dispatcher = dispatcherFor([{ webhook: receiver.url, secret: SECRET, minSeverity: 'high', types: ['anomaly.*', 'auth.refresh-token-reuse'] }], { clock });
    dispatcher.emit(highEvent({ severity: 'medium' }));
    dispatcher.emit(highEvent({ type: 'authz.denied' }));
    dispatcher.emit(highEvent({ type: 'anomaly-not-a-family', severity: 'critical' }));
    dispatcher.emit(highEvent({ type: 'anomaly.scraping', severity: 'critical', details: { principal: 'p' } }));
    dispatcher.emit(highEvent());
    dispatcher.flush(true);
    await dispatcher.idle();
    expect(receiver.received.map((r) => json(r).type).sort()).toEqual(['anomaly.scraping', 'auth.refresh-token-reuse']);
  });

  it('sends several destinations independently: a failing one does not hold up the other', async () => {
    const ok = await startReceiver(() => 200);
    const failing = await startReceiver(() => 500);
    const clock = new ManualClock(START);
    const dispatcher = dispatcherFor(
      [
        { name: 'good', webhook: ok.url, secret: SECRET },
        { name: 'bad', webhook: failing.url, secret: SECRET, maxAttempts: 2 },
      ],
      { clock },
    );
    dispatcher.emit(highEvent());
    dispatcher.flush(true);
    await dispatcher.idle();
    expect(ok.received).toHaveLength(1);
    expect(failing.received).toHaveLength(2);
    expect(dispatcher.deadLetters().map((d) => d.destination)).toEqual(['bad']);
  });

  it('the slack format is {text, blocks}, signed like any other, with event data escaped', async () => {
    const receiver = await startReceiver(() => 200);
    const clock = new ManualClock(START);
    const dispatcher = dispatcherFor([{ webhook: receiver.url, secret: SECRET, format: 'slack' }], { clock });
    dispatcher.emit(highEvent({ details: { subject: '<!channel>', reason: 'reuse <script>' } }));
    dispatcher.flush(true);
    await dispatcher.idle();
    const [r] = receiver.received as [Received];
    expect(verified(r, clock).ok).toBe(true);
    const body = json(r) as { text: string; blocks: Array<{ type: string }> };
    expect(body.text).toContain('[HIGH] auth.refresh-token-reuse: 1 event');
    expect(body.blocks.map((b) => b.type)).toEqual(['header', 'section', 'section', 'context']);
    expect(r.body.toString()).not.toContain('<!channel>');
    expect(r.body.toString()).not.toContain('<script>');
  });

  it('hashes client addresses and pseudonymises people when privacy says so', async () => {
    const receiver = await startReceiver(() => 200);
    const clock = new ManualClock(START);
    // The privacy the audit chain and the events store use: alert values match what they keep.
    const privacy = createPrivacy({ addresses: 'hash', key: Buffer.alloc(32, 3) });
    const dispatcher = dispatcherFor([{ webhook: receiver.url, secret: SECRET }], { clock, privacy });
    dispatcher.emit(highEvent({ details: { subject: 'u', address: '198.51.100.7', username: 'alice@example.com' } }));
    dispatcher.flush(true);
    await dispatcher.idle();
    const text = receiver.received[0]!.body.toString();
    expect(text).not.toContain('198.51.100.7');
    expect(text).not.toContain('alice');
    const body = json(receiver.received[0]!);
    expect(body.clientAddress).toBe(privacy.address('198.51.100.7'));
    expect((body.details as Record<string, unknown>).address).toBe(privacy.address('198.51.100.7'));
  });
});

describe('hostile events', () => {
  const hostile: Array<[string, SecurityEvent]> = [
    ['severity "constructor"', { type: 'x.y', severity: 'constructor' as 'high' }],
    ['severity "__proto__"', { type: 'x.y', severity: '__proto__' as 'high' }],
    ['type not a string', { type: 42 as unknown as string, severity: 'high' }],
    ['type of 100 kB', { type: 't'.repeat(100_000), severity: 'high' }],
    ['request id of 100 kB and a principal of 100 kB', { type: 'x.y', severity: 'high', requestId: 'r'.repeat(100_000), details: { principal: 'p'.repeat(100_000) } }],
    ['details a string', { type: 'x.y', severity: 'high', details: 'text' as unknown as Record<string, unknown> }],
    ['suppressed not a number', { type: 'x.y', severity: 'high', details: { suppressed: '1e9' } }],
    ['suppressed Infinity', { type: 'x.y', severity: 'high', details: { suppressed: Number.POSITIVE_INFINITY } }],
    ['cyclic details', { type: 'x.y', severity: 'high', details: (() => { const o: Record<string, unknown> = {}; o.self = o; return o; })() }],
  ];

  it.each(hostile)('%s: emit does not throw, alerts stay well-formed and bounded', async (_name, event) => {
    const receiver = await startReceiver(() => 200);
    const clock = new ManualClock(START);
    const dispatcher = dispatcherFor([{ webhook: receiver.url, secret: SECRET, minSeverity: 'info' }], { clock });
    for (let i = 0; i < 100; i++) expect(() => dispatcher.emit(event)).not.toThrow();
    dispatcher.emit(highEvent());
    dispatcher.flush(true);
    await dispatcher.idle();
    const alerts = receiver.received.map(json);
    // The ordinary event after them is delivered like any other.
    expect(alerts.some((a) => a.type === 'auth.refresh-token-reuse')).toBe(true);
    for (const r of receiver.received) {
      expect(verified(r, clock).ok).toBe(true);
      expect(r.body.length).toBeLessThan(8 * 1024);
      expect(['info', 'low', 'medium', 'high', 'critical']).toContain(json(r).severity);
      const suppressed = json(r).suppressed;
      expect(suppressed === undefined || (Number.isSafeInteger(suppressed) && (suppressed as number) > 0)).toBe(true);
    }
  });
});
