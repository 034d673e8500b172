/**
 * Issue 6 "Bad input": event floods cannot exhaust memory. Every detector keeps state for at most `maxTracked` keys
 * (least recently used forgotten first, counted), an attacker flooding distinct keys cannot hide an attack that keeps
 * touching its own key, and hostile observations or events never throw and leave the detectors working.
 */
import { describe, expect, it } from 'vitest';
import { AnomalyDetection, parseDetectorsConfig, type DetectorName, type RequestObservation } from '../src/detect/index.ts';
import { ManualClock } from '../src/detect/traces.ts';
import { RecordingSecurityEvents, type SecurityEvent } from '../src/observe/events.ts';

const CAP = 1000;
const FLOOD = 100_000;
const START = Date.UTC(2026, 0, 5, 12);

function detection(overrides: Record<string, unknown> = {}) {
  const capped = Object.fromEntries(
    (['bruteForce', 'credentialStuffing', 'tokenSharing', 'bolaEnumeration', 'scraping', 'errorSpike', 'adminActivity'] as const).map((name) => [
      name,
      { maxTracked: CAP, ...((overrides[name] as object | undefined) ?? {}) },
    ]),
  );
  const parsed = parseDetectorsConfig(capped);
  if (!parsed.ok) throw new Error(parsed.errors.join('; '));
  const sink = new RecordingSecurityEvents();
  const clock = new ManualClock(START);
  return { d: new AnomalyDetection(parsed.config, { clock: clock.read, sink }), sink, clock };
}

const statsOf = (d: AnomalyDetection, name: DetectorName) => d.stats().detectors.find((s) => s.name === name)!;

const loginFailure = (user: string, address: string, requestId: string): SecurityEvent => ({
  type: 'auth.login-failed',
  severity: 'low',
  requestId,
  routeId: 'auth-login',
  clientAddress: address,
  details: { reason: 'wrong-password', user },
});

describe('bounded detector state under a flood of distinct keys', () => {
  it('brute force: 100,000 distinct accounts cost evictions, and the attacked account is still caught', () => {
    const { d, sink, clock } = detection();
    for (let i = 0; i < FLOOD; i++) {
      clock.now = START + i * 5;
      d.emit(loginFailure(`flood-${i}`, `198.18.${(i >> 8) & 255}.${i & 255}`, `f${i}`));
      // Every 100th event is a guess at the victim: 1,000 guesses within the 500 s of the flood.
      if (i % 100 === 0) d.emit(loginFailure('victim', '203.0.113.9', `v${i}`));
    }
    const s = statsOf(d, 'bruteForce');
    expect(s.tracked).toBe(CAP);
    expect(s.evictions).toBe(FLOOD + 1 - CAP); // 100,001 distinct accounts (the victim is one): each beyond the cap evicted once
    expect(s.raised).toBeGreaterThanOrEqual(1);
    expect(sink.events.some((e) => e.type === 'anomaly.brute-force' && (e.details as { principal: string }).principal === 'user:victim')).toBe(true);
    // The flood itself is credential stuffing from many addresses: a burst, reported as such, once per cool-down.
    const stuffing = statsOf(d, 'credentialStuffing');
    expect(stuffing.tracked).toBeLessThanOrEqual(CAP);
    expect(d.stats().errors).toBe(0);
  });

  const observationFloods: Array<[DetectorName, (i: number) => RequestObservation]> = [
    ['tokenSharing', (i) => ({ at: START + i, requestId: `r${i}`, routeId: 'r', method: 'GET', status: 200, clientAddress: '192.0.2.1', credentialId: `cred-${i}` })],
    ['bolaEnumeration', (i) => ({ at: START + i, requestId: `r${i}`, routeId: 'r', method: 'GET', status: 200, clientAddress: '192.0.2.1', principal: `p-${i}`, objectId: String(i) })],
    ['scraping', (i) => ({ at: START + i, requestId: `r${i}`, routeId: 'r', method: 'GET', status: 200, clientAddress: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` })],
    ['errorSpike', (i) => ({ at: START + i, requestId: `r${i}`, routeId: `route-${i}`, method: 'GET', status: 200, clientAddress: '192.0.2.1' })],
    ['adminActivity', (i) => ({ at: START + i, requestId: `r${i}`, routeId: 'admin', method: 'GET', status: 200, clientAddress: '192.0.2.1', principal: `admin-${i}`, admin: true })],
  ];

  it.each(observationFloods)('%s: 100,000 distinct keys stay within the cap, each eviction counted', (name, make) => {
    const { d } = detection();
    for (let i = 0; i < FLOOD; i++) d.observe(make(i));
    const s = statsOf(d, name);
    expect(s.tracked).toBeLessThanOrEqual(s.capacity);
    expect(s.evictions).toBe(FLOOD - s.tracked);
    expect(d.stats().errors).toBe(0);
  });

  it('per-key state is bounded too: one principal touching 100,000 distinct object ids', () => {
    const { d, sink } = detection({ bolaEnumeration: { cooldown: '1h' } });
    for (let i = 0; i < FLOOD; i++) {
      d.observe({ at: START + i, requestId: `r${i}`, routeId: 'order', method: 'GET', status: 200, clientAddress: '192.0.2.1', principal: 'walker', objectId: `obj-${i}` });
    }
    const raised = sink.events.filter((e) => e.type === 'anomaly.bola-enumeration');
    // One event (one cool-down), the distinct count capped at twice the threshold, the rest counted as suppressed.
    expect(raised).toHaveLength(1);
    expect((raised[0]!.details as { distinct: number }).distinct).toBe(50);
    expect(statsOf(d, 'bolaEnumeration').suppressed).toBe(FLOOD - 50);
  });
});

describe('hostile input never throws and leaves detection working', () => {
  const hostileObservations: Array<[string, Partial<RequestObservation>]> = [
    ['status 0', { status: 0 }],
    ['status 999', { status: 999 }],
    ['status -1', { status: -1 }],
    ['status NaN', { status: Number.NaN }],
    ['time NaN', { at: Number.NaN }],
    ['time going backwards a day', { at: START - 86_400_000 }],
    ['huge object id', { objectId: '9'.repeat(100_000), principal: 'p' }],
    ['numeric id beyond 2^53', { objectId: '123456789012345678901234567890', principal: 'p', status: 404 }],
    ['object id with NUL and unicode', { objectId: '1\u0000\u202e2', principal: 'p' }],
    ['huge credential id', { credentialId: 'c'.repeat(100_000) }],
    ['empty strings', { routeId: '', clientAddress: '', principal: '', credentialId: '', objectId: '' }],
    ['not-an-address', { clientAddress: 'nope', credentialId: 'c1' }],
    ['prototype-named keys', { principal: '__proto__', routeId: 'constructor', credentialId: 'hasOwnProperty', objectId: '__proto__' }],
    ['admin without principal', { admin: true }],
  ];

  it.each(hostileObservations)('%s', (_name, override) => {
    const { d, sink } = detection();
    const base: RequestObservation = { at: START, requestId: 'x', routeId: 'r', method: 'GET', status: 200, clientAddress: '192.0.2.1' };
    for (let i = 0; i < 100; i++) d.observe({ ...base, ...override, requestId: `h${i}` });
    expect(d.stats().errors).toBe(0);
    // Afterwards a plain BOLA walk is still caught.
    for (let i = 0; i < 60; i++) {
      d.observe({ ...base, at: START + 1000 + i * 1000, requestId: `w${i}`, principal: 'walker', objectId: String(5000 + i), status: 404 });
    }
    expect(sink.events.some((e) => e.type === 'anomaly.bola-enumeration' && (e.details as { principal: string }).principal === 'walker')).toBe(true);
  });

  const hostileEvents: Array<[string, SecurityEvent]> = [
    ['no details', { type: 'auth.login-failed', severity: 'low' }],
    ['details not an object', { type: 'auth.login-failed', severity: 'low', details: 'x' as unknown as Record<string, unknown> }],
    ['user an object', { type: 'auth.login-failed', severity: 'low', details: { user: { a: 1 } } }],
    ['huge user', { type: 'auth.login-failed', severity: 'low', clientAddress: '192.0.2.1', details: { user: 'u'.repeat(1_000_000) } }],
    ['unknown severity', { type: 'auth.login-failed', severity: 'bogus' as 'low', details: { user: 'u' } }],
    ['an anomaly coming back in', { type: 'anomaly.brute-force', severity: 'high', details: { user: 'u', principal: 'user:u' } }],
  ];

  it.each(hostileEvents)('%s', (_name, event) => {
    const { d, sink } = detection();
    for (let i = 0; i < 100; i++) d.emit(event);
    expect(d.stats().errors).toBe(0);
    // Never a loop: anomaly events fed back in are ignored.
    expect(sink.events.filter((e) => e.type === 'anomaly.brute-force' && (e.details as { principal?: string }).principal === 'user:u')).toHaveLength(
      event.type === 'auth.login-failed' && typeof (event.details as { user?: unknown } | undefined)?.user === 'string' && (event.details as { user: string }).user === 'u' ? 1 : 0,
    );
    for (let i = 0; i < 10; i++) d.emit(loginFailure('after', '192.0.2.2', `a${i}`));
    expect(sink.events.some((e) => e.type === 'anomaly.brute-force' && (e.details as { principal: string }).principal === 'user:after')).toBe(true);
  });
});
