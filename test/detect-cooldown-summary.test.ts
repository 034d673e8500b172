/**
 * Issue 6, point 6 ("grouping and de-duplication so that one attack is one alert with counts, not thousands"): a
 * detector raises once per key and signal per cool-down and counts the repeats. When the attack stops inside the
 * cool-down there is no next raise to carry them, so the end of a cool-down that counted repeats sends one follow-up
 * event (`phase: cooldown-ended`) with their number. Replayed traces with the injected clock; `tick` is called as the
 * one-second background timer would, between the trace's items. Every expected count is computed from the trace.
 */
import { describe, expect, it } from 'vitest';
import { AnomalyDetection, parseDetectorsConfig, type AnomalyDetails, type DetectorName, type DetectorsConfig } from '../src/detect/index.ts';
import { ManualClock, attackTrace, normalTraffic, userRef, type AttackScenario, type AttackTrace, type Trace, type TraceItem } from '../src/detect/traces.ts';
import { RecordingSecurityEvents, type SecurityEvent } from '../src/observe/events.ts';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const SEEDS = [1, 2];

function parse(section: Record<string, unknown> = {}): DetectorsConfig {
  const parsed = parseDetectorsConfig(section);
  if (!parsed.ok) throw new Error(parsed.errors.join('; '));
  return parsed.config;
}

const details = (e: SecurityEvent) => e.details as AnomalyDetails;
const at = (e: SecurityEvent) => Date.parse(details(e).windowEnd);
const requestIdOf = (item: TraceItem) => (item.kind === 'event' ? item.event.requestId : item.observation.requestId);

/**
 * Replays `items` into a fresh AnomalyDetection (no background timer), calling `tick` every second of trace time
 * half-way between whole seconds (as a timer would, between requests), and on until `until`.
 */
function replayTicking(items: readonly TraceItem[], start: number, until: number, config: DetectorsConfig = parse()) {
  const sink = new RecordingSecurityEvents();
  const clock = new ManualClock(start);
  const detection = new AnomalyDetection(config, { clock: clock.read, sink, autoTick: false });
  let nextTick = start - (start % SECOND) + SECOND / 2;
  const tickUntil = (t: number) => {
    for (; nextTick <= t; nextTick += SECOND) {
      clock.now = nextTick;
      detection.tick(nextTick);
    }
  };
  for (const item of items) {
    tickUntil(item.at);
    clock.now = item.at;
    if (item.kind === 'event') detection.emit(item.event);
    else detection.observe(item.observation);
  }
  tickUntil(until);
  return { events: sink.events, detection, clock };
}

/** The trace with the attack's own items after `afterMs` from its start left out: the attacker gave up there. */
function stoppedAfter(trace: AttackTrace, afterMs: number): TraceItem[] {
  return trace.items.filter((item) => !(requestIdOf(item)?.startsWith(trace.attackPrefix) === true && item.at >= trace.attackStart + afterMs));
}

const backgrounds = new Map<number, Trace>();
function background(seed: number): Trace {
  let trace = backgrounds.get(seed);
  if (trace === undefined) backgrounds.set(seed, (trace = normalTraffic({ seed })));
  return trace;
}

/** The items after the one with `requestId` (the raise's input) up to, not including, `end`, that `matches`. */
function itemsAfter(items: readonly TraceItem[], requestId: string, end: number, matches: (item: TraceItem) => boolean): TraceItem[] {
  const from = items.findIndex((item) => requestIdOf(item) === requestId);
  expect(from).toBeGreaterThanOrEqual(0);
  return items.slice(from + 1).filter((item) => item.at < end && matches(item));
}

/** Distinct epoch-aligned buckets of the items. */
const buckets = (items: readonly TraceItem[], bucketMs: number) => new Set(items.map((item) => Math.floor(item.at / bucketMs)));

interface Case {
  readonly scenario: AttackScenario;
  readonly detector: DetectorName;
  readonly type: string;
  readonly signal: string;
  readonly cooldownMs: number;
  /** The attack stops this long after it started: inside the cool-down. */
  readonly stopAfterMs: number;
  /** The repeats of the cool-down the raise `raised` opened, computed from the trace. */
  readonly repeats: (items: readonly TraceItem[], trace: AttackTrace, raised: SecurityEvent) => number;
}

const loginFailureFor = (ref: string) => (item: TraceItem) =>
  item.kind === 'event' && item.event.type === 'auth.login-failed' && (item.event.details as { user?: string }).user === ref;

const CASES: Case[] = [
  {
    // Per-key count: every failure for the account after the threshold, inside the cool-down, is a repeat.
    scenario: 'brute-force',
    detector: 'bruteForce',
    type: 'anomaly.brute-force',
    signal: 'account-failures',
    cooldownMs: 5 * MINUTE,
    stopAfterMs: 3 * MINUTE,
    repeats: (items, _trace, raised) => itemsAfter(items, raised.requestId!, at(raised) + 5 * MINUTE, loginFailureFor(userRef('user-7'))).length,
  },
  {
    // Per-key distinct: one address trying a leaked account every 3 s; each failure from it after the tenth distinct
    // account is a repeat.
    scenario: 'credential-stuffing',
    detector: 'credentialStuffing',
    type: 'anomaly.credential-stuffing',
    signal: 'distinct-accounts',
    cooldownMs: 10 * MINUTE,
    stopAfterMs: 3 * MINUTE,
    repeats: (items, trace, raised) =>
      itemsAfter(items, raised.requestId!, at(raised) + 10 * MINUTE, (item) => item.kind === 'event' && item.event.type === 'auth.login-failed' && item.event.clientAddress === trace.attacker.address).length,
  },
  {
    // Per-key count of sequential denials: each further step of the walk is a repeat.
    scenario: 'bola-sequential-denials',
    detector: 'bolaEnumeration',
    type: 'anomaly.bola-enumeration',
    signal: 'sequential-denials',
    cooldownMs: 5 * MINUTE,
    stopAfterMs: 3 * MINUTE,
    repeats: (items, trace, raised) =>
      itemsAfter(items, raised.requestId!, at(raised) + 5 * MINUTE, (item) => requestIdOf(item)?.startsWith(trace.attackPrefix) === true).length,
  },
  {
    // Baseline: one judgement per one-minute bucket, so each later bucket of the run (480 requests against a floor
    // of 120) is one repeat.
    scenario: 'scraping',
    detector: 'scraping',
    type: 'anomaly.scraping',
    signal: 'volume',
    cooldownMs: 15 * MINUTE,
    stopAfterMs: 10 * MINUTE,
    repeats: (items, trace, raised) => {
      const attack = itemsAfter(items, raised.requestId!, at(raised) + 15 * MINUTE, (item) => requestIdOf(item)?.startsWith(trace.attackPrefix) === true);
      const raisedBucket = Math.floor(at(raised) / MINUTE);
      return [...buckets(attack, MINUTE)].filter((b) => b !== raisedBucket).length;
    },
  },
  {
    // Baseline per route: a 5-minute fuzzing run of 401s (shorter than the 15-minute cool-down), one repeat per
    // later bucket.
    scenario: 'error-spike-4xx',
    detector: 'errorSpike',
    type: 'anomaly.error-spike',
    signal: 'rate-4xx',
    cooldownMs: 15 * MINUTE,
    stopAfterMs: 5 * MINUTE,
    repeats: (items, trace, raised) => {
      const attack = itemsAfter(items, raised.requestId!, at(raised) + 15 * MINUTE, (item) => requestIdOf(item)?.startsWith(trace.attackPrefix) === true);
      const raisedBucket = Math.floor(at(raised) / MINUTE);
      return [...buckets(attack, MINUTE)].filter((b) => b !== raisedBucket).length;
    },
  },
];

describe('an attack that stops inside the cool-down: one raise, then one follow-up with the exact repeats', () => {
  const cases = CASES.flatMap((c) => SEEDS.map((seed) => [c.scenario, seed, c] as const));
  it.each(cases)('%s, seed %i', (_scenario, seed, c) => {
    const trace = attackTrace(c.scenario, { seed, background: background(seed) });
    const items = stoppedAfter(trace, c.stopAfterMs);
    const { events, detection } = replayTicking(items, trace.start, trace.end + 2 * c.cooldownMs);
    expect(detection.stats().errors).toBe(0);

    const own = events.filter((e) => e.type === c.type && details(e).signal === c.signal);
    expect(own.map((e) => details(e).phase)).toEqual(['raised', 'cooldown-ended']);
    const [raised, summary] = own as [SecurityEvent, SecurityEvent];
    // The raise is the first of this attack: it reports nothing from an earlier cool-down.
    expect(details(raised).suppressed).toBe(0);

    const repeats = c.repeats(items, trace, raised);
    expect(repeats).toBeGreaterThan(0);
    expect(details(summary).suppressed).toBe(repeats);
    // Every repeat the detector counted (this attack is the only anomaly it saw) went out with the follow-up. The
    // BOLA walk also crosses distinct-ids: its own two events are checked in the next test.
    const stats = detection.stats().detectors.find((d) => d.name === c.detector)!;
    expect(stats).toMatchObject({ openCooldowns: 0, cooldownsCut: 0 });
    if (c.detector !== 'bolaEnumeration') expect(stats).toMatchObject({ raised: 1, summaries: 1, suppressed: repeats });

    // The follow-up is the same anomaly (it groups with the raise), its window the cool-down.
    expect(summary.type).toBe(raised.type);
    expect(summary.severity).toBe(raised.severity);
    expect(summary.routeId).toBe(raised.routeId);
    expect(summary.clientAddress).toBe(raised.clientAddress);
    expect(summary.requestId).toBe(raised.requestId);
    const d = details(summary);
    expect(d).toMatchObject({ detector: c.detector, signal: c.signal, count: details(raised).count, threshold: details(raised).threshold });
    expect(d.principal).toBe(details(raised).principal);
    expect(d.windowStart).toBe(details(raised).windowEnd);
    expect(at(summary)).toBe(at(raised) + c.cooldownMs);
    expect(Date.parse(d.windowEnd) - Date.parse(d.windowStart)).toBe(d.windowMs);
    expect(d.sampleRequestIds.length).toBeGreaterThan(0);
    expect(d.sampleRequestIds.length).toBeLessThanOrEqual(10);
  });

  it('bolaEnumeration: the walk also crossed distinct-ids; both signals report all their repeats, once', () => {
    const trace = attackTrace('bola-sequential-denials', { seed: 1, background: background(1) });
    const items = stoppedAfter(trace, 3 * MINUTE);
    const { events, detection } = replayTicking(items, trace.start, trace.end + 10 * MINUTE);
    const own = events.filter((e) => e.type === 'anomaly.bola-enumeration');
    const bySignal = (signal: string) => own.filter((e) => details(e).signal === signal).map((e) => details(e).phase);
    expect(bySignal('sequential-denials')).toEqual(['raised', 'cooldown-ended']);
    expect(bySignal('distinct-ids')).toEqual(['raised', 'cooldown-ended']);
    const stats = detection.stats().detectors.find((d) => d.name === 'bolaEnumeration')!;
    expect(own.reduce((sum, e) => sum + details(e).suppressed, 0)).toBe(stats.suppressed);
    expect(stats).toMatchObject({ raised: 2, summaries: 2, openCooldowns: 0 });
  });
});

describe('an attack that goes on past the cool-down', () => {
  it.each(SEEDS)('brute force (20 minutes against 5-minute cool-downs), seed %i: raises carry the repeats, nothing counted twice', (seed) => {
    const trace = attackTrace('brute-force', { seed, background: background(seed) });
    const { events, detection } = replayTicking(trace.items, trace.start, trace.end + 10 * MINUTE);
    const own = events.filter((e) => e.type === 'anomaly.brute-force');
    const raises = own.filter((e) => details(e).phase === 'raised');
    const summaries = own.filter((e) => details(e).phase === 'cooldown-ended');
    const victim = loginFailureFor(userRef('user-7'));
    // 200 failures every 6 s: raised at the 10th, then at the failure that comes as each cool-down ends (one every
    // 5 minutes), so each later raise, coming before the tick, reports the previous cool-down's repeats itself...
    expect(raises).toHaveLength(4);
    for (let k = 1; k < raises.length; k++) {
      expect(at(raises[k]!) - at(raises[k - 1]!)).toBe(5 * MINUTE);
      const between = itemsAfter(trace.items, raises[k - 1]!.requestId!, at(raises[k]!), victim).length;
      expect(between).toBeGreaterThan(40);
      expect(details(raises[k]!).suppressed).toBe(between);
    }
    // ...and the only follow-up is the last cool-down's, after the attack stopped, with its own repeats.
    expect(summaries).toHaveLength(1);
    const last = raises.at(-1)!;
    expect(at(summaries[0]!)).toBe(at(last) + 5 * MINUTE);
    expect(details(summaries[0]!).suppressed).toBe(itemsAfter(trace.items, last.requestId!, at(last) + 5 * MINUTE, victim).length);

    // Every failure for the account from the first raise to the end of the last cool-down is a raise or a repeat.
    const attempts = itemsAfter(trace.items, raises[0]!.requestId!, at(last) + 5 * MINUTE, victim).length + 1;
    const reported = own.reduce((sum, e) => sum + details(e).suppressed, 0);
    expect(reported).toBe(attempts - raises.length);
    expect(reported).toBe(detection.stats().detectors.find((d) => d.name === 'bruteForce')!.suppressed);
  });

  it.each(SEEDS)('scraping (30 minutes against a 15-minute cool-down), seed %i: the repeats of each cool-down reported once', (seed) => {
    const trace = attackTrace('scraping', { seed, background: background(seed) });
    const { events, detection } = replayTicking(trace.items, trace.start, trace.end + 30 * MINUTE);
    const own = events.filter((e) => e.type === 'anomaly.scraping');
    expect(new Set(own.map((e) => details(e).principal))).toEqual(new Set(['user-20']));
    const [first, second] = own as [SecurityEvent, SecurityEvent];
    // Raised in the run's first bucket; the next 14 buckets (up to the cool-down's end) each crossed the limit again.
    expect(details(first).phase).toBe('raised');
    const end = at(first) + 15 * MINUTE;
    const runBuckets = [...buckets(trace.items.filter((item) => requestIdOf(item)?.startsWith(trace.attackPrefix) === true && item.at >= trace.attackStart && item.at < end), MINUTE)];
    expect(runBuckets[0]).toBe(Math.floor(at(first) / MINUTE));
    // The bucket after the end crosses its (by now higher) limit only after the tick at the end, so the follow-up
    // comes first and the raise after it has nothing to report.
    expect(details(second)).toMatchObject({ phase: 'cooldown-ended', suppressed: runBuckets.length - 2 });
    expect(at(second)).toBe(end);
    const phases = own.map((e) => details(e).phase);
    expect(phases.filter((p) => p === 'raised').length).toBeGreaterThanOrEqual(2);
    expect(phases.join(' ')).not.toContain('cooldown-ended cooldown-ended');
    const later = own.slice(2);
    expect(details(later[0]!)).toMatchObject({ phase: 'raised', suppressed: 0 });
    // However the later buckets went, every repeat the detector counted was reported exactly once.
    const reported = own.reduce((sum, e) => sum + details(e).suppressed, 0);
    expect(reported).toBe(detection.stats().detectors.find((d) => d.name === 'scraping')!.suppressed);
  });
});

/** Synthetic failures for one account, one every `stepMs` (a second) from `from`, with request ids `${tag}-<i>`. */
function failures(detection: AnomalyDetection, clock: ManualClock, account: string, from: number, n: number, tag: string, stepMs = SECOND): void {
  for (let i = 0; i < n; i++) {
    clock.now = from + i * stepMs;
    detection.emit({
      type: 'auth.login-failed',
      severity: 'low',
      requestId: `${tag}-${i}`,
      routeId: 'auth-login',
      clientAddress: '203.0.113.9',
      details: { reason: 'wrong-password', user: account },
    });
  }
}

/** Every detector but brute force off (one object each: the config parser fills defaults in place). */
const othersOff = () =>
  Object.fromEntries(['credentialStuffing', 'tokenSharing', 'bolaEnumeration', 'scraping', 'errorSpike', 'adminActivity'].map((name) => [name, { enabled: false }]));

function bruteForceOnly(extra: Record<string, unknown> = {}) {
  const config = parse({ bruteForce: extra, ...othersOff() });
  const sink = new RecordingSecurityEvents();
  const T0 = Date.UTC(2026, 0, 5, 12);
  const clock = new ManualClock(T0);
  const detection = new AnomalyDetection(config, { clock: clock.read, sink, autoTick: false });
  const stats = () => detection.stats().detectors[0]!;
  return { detection, sink, clock, T0, stats };
}

describe('cool-down ends, case by case', () => {
  it('a cool-down without repeats ends without a follow-up', () => {
    const { detection, sink, clock, T0, stats } = bruteForceOnly();
    failures(detection, clock, 'quiet', T0, 10, 'q');
    expect(sink.events.map((e) => details(e).phase)).toEqual(['raised']);
    expect(stats().openCooldowns).toBe(1);
    detection.tick(T0 + 9 * SECOND + 5 * MINUTE);
    expect(sink.events).toHaveLength(1);
    expect(stats()).toMatchObject({ raised: 1, suppressed: 0, summaries: 0, openCooldowns: 0 });
  });

  it('the follow-up waits for the end: a tick before it sends nothing; the first tick at or after it sends it, once', () => {
    const { detection, sink, clock, T0, stats } = bruteForceOnly();
    failures(detection, clock, 'victim', T0, 13, 'v');
    const end = T0 + 9 * SECOND + 5 * MINUTE;
    detection.tick(end - 1);
    expect(sink.events).toHaveLength(1);
    detection.tick(end);
    detection.tick(end + MINUTE);
    expect(sink.events.map((e) => `${details(e).phase} ${details(e).suppressed}`)).toEqual(['raised 0', 'cooldown-ended 3']);
    expect(details(sink.events[1]!).windowEnd).toBe(new Date(end).toISOString());
    expect(stats()).toMatchObject({ suppressed: 3, summaries: 1 });
  });

  it('a tick that comes before the next raise takes the repeats; that raise then reports none (and the other way round)', () => {
    // Follow-up first.
    const first = bruteForceOnly();
    failures(first.detection, first.clock, 'victim', first.T0, 15, 'v');
    const end = first.T0 + 9 * SECOND + 5 * MINUTE;
    first.detection.tick(end);
    failures(first.detection, first.clock, 'victim', end, 10, 'w');
    expect(first.sink.events.map((e) => `${details(e).phase} ${details(e).suppressed}`)).toEqual(['raised 0', 'cooldown-ended 5', 'raised 0']);
    // Raise first: it takes the repeats, and the tick after finds the cool-down replaced by the new one.
    const second = bruteForceOnly();
    failures(second.detection, second.clock, 'victim', second.T0, 15, 'v');
    failures(second.detection, second.clock, 'victim', end, 10, 'w');
    second.detection.tick(end + 30 * SECOND);
    expect(second.sink.events.map((e) => `${details(e).phase} ${details(e).suppressed}`)).toEqual(['raised 0', 'raised 5']);
    // The new cool-down's 9 repeats (failures 2-10 of the second run) are its own follow-up's.
    second.detection.tick(end + 5 * MINUTE);
    expect(second.sink.events.map((e) => `${details(e).phase} ${details(e).suppressed}`)).toEqual(['raised 0', 'raised 5', 'cooldown-ended 9']);
  });

  it('open cool-downs are bounded: beyond the cap the oldest ends early with what it counted, and it is counted', () => {
    // bruteForce with 4 keys: the table holds 4 + 16 open cool-downs.
    const { detection, sink, clock, T0, stats } = bruteForceOnly({ maxTracked: 4 });
    const accounts = 30;
    // All within one cool-down: 11 failures 100 ms apart per account, one account every 2 s.
    for (let a = 0; a < accounts; a++) failures(detection, clock, `account-${a}`, T0 + a * 2 * SECOND, 11, `a${a}`, 100);
    expect(stats()).toMatchObject({ raised: accounts, suppressed: accounts, openCooldowns: 20, cooldownsCut: 10, evictions: accounts - 4 });
    // The ten oldest were summarised when the table was full, before their end, with their one repeat.
    const early = sink.events.filter((e) => details(e).phase === 'cooldown-ended');
    expect(early.map((e) => details(e).principal)).toEqual(Array.from({ length: 10 }, (_, a) => `user:account-${a}`));
    for (const e of early) {
      expect(details(e).suppressed).toBe(1);
      expect(Date.parse(details(e).windowEnd) - Date.parse(details(e).windowStart)).toBeLessThan(5 * MINUTE);
    }
    // The rest end on time; every repeat reported once.
    detection.tick(T0 + accounts * 2 * SECOND + 5 * MINUTE);
    const summaries = sink.events.filter((e) => details(e).phase === 'cooldown-ended');
    expect(summaries).toHaveLength(accounts);
    expect(new Set(summaries.map((e) => details(e).principal)).size).toBe(accounts);
    expect(stats()).toMatchObject({ summaries: accounts, openCooldowns: 0, cooldownsCut: 10 });
  });

  it('close() ends the cool-downs still open: repeats counted before a shutdown are reported', async () => {
    const { detection, sink, clock, T0, stats } = bruteForceOnly();
    failures(detection, clock, 'victim', T0, 14, 'v');
    clock.now = T0 + 2 * MINUTE;
    await detection.close();
    expect(sink.events.map((e) => `${details(e).phase} ${details(e).suppressed}`)).toEqual(['raised 0', 'cooldown-ended 4']);
    expect(details(sink.events[1]!).windowEnd).toBe(new Date(T0 + 2 * MINUTE).toISOString());
    expect(stats().openCooldowns).toBe(0);
  });

  it('the background timer runs tick with the injected clock, and close() stops it', async () => {
    const config = parse(othersOff());
    const sink = new RecordingSecurityEvents();
    const T0 = Date.UTC(2026, 0, 5, 12);
    const clock = new ManualClock(T0);
    const detection = new AnomalyDetection(config, { clock: clock.read, sink, tickIntervalMs: 20 });
    failures(detection, clock, 'victim', T0, 12, 'v');
    clock.now = T0 + 10 * MINUTE;
    for (let i = 0; i < 200 && sink.events.length < 2; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(sink.events.map((e) => `${details(e).phase} ${details(e).suppressed}`)).toEqual(['raised 0', 'cooldown-ended 2']);
    await detection.close();
    failures(detection, clock, 'other', T0 + 11 * MINUTE, 11, 'o');
    clock.now = T0 + 30 * MINUTE;
    await new Promise((resolve) => setTimeout(resolve, 100));
    // Raised, but no timer is left to end its cool-down.
    expect(sink.events.map((e) => details(e).phase)).toEqual(['raised', 'cooldown-ended', 'raised']);
  });
});
