/**
 * The events store, both adapters against one contract (SQLite on a real file in a temp dir, memory), and the
 * recorder: privacy and redaction of rows, the bounded queue under a flood, retention with an injected clock.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { createPrivacy } from '../audit/privacy.ts';
import type { SecurityEvent } from '../observe/events.ts';
import { EventsStoreError, MemoryEventsStore, SqliteEventsStore, openEventsStore, type EventRow, type EventsStore } from './index.ts';
import { EventRecorder } from './recorder.ts';

const dir = mkdtempSync(join(tmpdir(), 'rampart-events-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const T0 = 1_767_225_600_000;
const privacy = createPrivacy({ key: randomBytes(32) });

function row(i: number, over: Partial<EventRow> = {}): EventRow {
  const severities = ['info', 'low', 'medium', 'high', 'critical'] as const;
  const types = ['auth.login-failed', 'authz.denied', 'csp.violation', 'auth_x.other', 'auth.brute-force-lockout'];
  return { time: T0 + i * 60_000, type: types[i % 5]!, severity: severities[i % 5]!, route: 'r', requestId: `q${i}`, client: null, details: { i }, ...over };
}

const adapters: Array<[string, () => EventsStore]> = [
  ['sqlite', () => new SqliteEventsStore(join(dir, `events-${++n}.db`))],
  ['memory', () => new MemoryEventsStore()],
];

describe.each(adapters)('%s events store', (_name, open) => {
  it('queries by time, minimum severity and type (exact and prefix), oldest first', () => {
    const store = open();
    store.insert(Array.from({ length: 20 }, (_, i) => row(i)));
    expect(store.count()).toBe(20);
    expect(store.query({}).map((e) => e.requestId)).toEqual(Array.from({ length: 20 }, (_, i) => `q${i}`));
    expect(store.query({ since: T0 + 5 * 60_000, until: T0 + 8 * 60_000 }).map((e) => e.requestId)).toEqual(['q5', 'q6', 'q7']);
    expect(store.query({ minSeverity: 'high' }).map((e) => e.severity)).toEqual(['high', 'critical', 'high', 'critical', 'high', 'critical', 'high', 'critical']);
    expect(new Set(store.query({ types: ['authz.denied'] }).map((e) => e.type))).toEqual(new Set(['authz.denied']));
    // `auth.*` is the prefix "auth.", so `auth_x.other` (an SQL LIKE wildcard look-alike) does not match.
    expect(new Set(store.query({ types: ['auth.*'] }).map((e) => e.type))).toEqual(new Set(['auth.login-failed', 'auth.brute-force-lockout']));
    expect(store.query({ types: ['auth.*'], minSeverity: 'critical' }).map((e) => e.type)).toEqual(['auth.brute-force-lockout', 'auth.brute-force-lockout', 'auth.brute-force-lockout', 'auth.brute-force-lockout']);
    expect(store.query({ limit: 3 }).map((e) => e.requestId)).toEqual(['q17', 'q18', 'q19']);
    expect(store.query({ since: T0 + 100 * 60_000 })).toEqual([]);
    store.close();
  });

  it('returns stored details as stored, and ids that grow', () => {
    const store = open();
    store.insert([row(1, { details: { nested: { a: [1, 'two'] } } }), row(2)]);
    const [a, b] = store.query({});
    expect(a!.details).toEqual({ nested: { a: [1, 'two'] } });
    expect(b!.id).toBeGreaterThan(a!.id);
    store.close();
  });

  it('sweeps by age and by row count', () => {
    const store = open();
    store.insert(Array.from({ length: 50 }, (_, i) => row(i)));
    // now = T0 + 49 min; keep 30 minutes → rows 19..49 stay (time >= T0 + 19 min).
    expect(store.sweep(T0 + 49 * 60_000, { maxAgeMs: 30 * 60_000 })).toBe(19);
    expect(store.query({ limit: 1000 })[0]!.requestId).toBe('q19');
    expect(store.sweep(T0 + 49 * 60_000, { maxRows: 10 })).toBe(21);
    expect(store.query({}).map((e) => e.requestId)).toEqual(Array.from({ length: 10 }, (_, i) => `q${40 + i}`));
    expect(store.sweep(T0 + 49 * 60_000, {})).toBe(0);
    store.close();
  });

  const hostileQueries: Array<[string, Parameters<EventsStore['query']>[0]]> = [
    ['star in the middle', { types: ['auth.*.x'] }],
    ['SQL in a type', { types: ["x' OR '1'='1"] }],
    ['percent wildcard', { types: ['%'] }],
    ['empty type', { types: [''] }],
    ['overlong type', { types: ['a'.repeat(200)] }],
    ['too many types', { types: Array.from({ length: 40 }, (_, i) => `t${i}`) }],
    ['zero limit', { limit: 0 }],
    ['fractional limit', { limit: 1.5 }],
    ['unknown severity', { minSeverity: 'urgent' as never }],
  ];
  it.each(hostileQueries)('refuses a hostile query (%s) and keeps working', (_what, query) => {
    const store = open();
    store.insert([row(1)]);
    expect(() => store.query(query)).toThrow();
    expect(store.query({})).toHaveLength(1);
    store.close();
  });

  it('caps a huge limit instead of failing', () => {
    const store = open();
    store.insert([row(1)]);
    expect(store.query({ limit: 10 ** 12 })).toHaveLength(1);
    store.close();
  });
});

describe('SQLite events store file', () => {
  it('runs in WAL mode with secure_delete and opens by URL', () => {
    const store = openEventsStore(`sqlite:events-${++n}.db`, { baseDir: dir }) as SqliteEventsStore;
    expect(store.pragmas()).toEqual({ journal_mode: 'wal', synchronous: 1 });
    store.close();
    expect(openEventsStore('memory:').kind).toBe('memory');
    expect(() => openEventsStore('postgres://u:hunter2@db/x')).toThrow(/not supported/);
    expect(() => openEventsStore('redis://u:hunter2@db/x')).toThrow(EventsStoreError);
    expect(() => openEventsStore('redis://u:hunter2@db/x')).not.toThrow(/hunter2/);
  });

  it('reads a row whose details were damaged outside Rampart as unreadable, and still returns the others', () => {
    const file = join(dir, `events-${++n}.db`);
    const store = new SqliteEventsStore(file);
    store.insert([row(0), row(1), row(2)]);
    const raw = new Database(file);
    // Not JSON, or JSON that is not an object: Rampart only ever writes an object there.
    for (const damaged of ['{"i": 1', '', 'not json at all', 'null', '[]', '1', '"x"', 'true']) {
      raw.prepare("UPDATE security_events SET details = ? WHERE request_id = 'q1'").run(damaged);
      const rows = store.query({});
      expect(rows.map((r) => r.requestId)).toEqual(['q0', 'q1', 'q2']);
      expect(rows.map((r) => r.details)).toEqual([{ i: 0 }, { unreadable: true }, { i: 2 }]);
    }
    raw.close();
    store.close();
  });
});

describe('EventRecorder', () => {
  const event: SecurityEvent = {
    type: 'auth.login-failed',
    severity: 'low',
    requestId: 'req',
    routeId: 'auth',
    clientAddress: '203.0.113.5',
    details: { reason: 'wrong-password', password: 'hunter2', username: 'Alice' },
  };

  it('stores rows privacy-protected and redacted, after the current tick', async () => {
    const store = new MemoryEventsStore();
    const recorder = new EventRecorder(store, { privacy, sweepEveryMs: 0, now: () => T0 });
    recorder.record(event);
    expect(store.count()).toBe(0);
    await recorder.flush();
    const [stored] = store.query({});
    expect(stored).toMatchObject({ time: T0, type: 'auth.login-failed', severity: 'low', route: 'auth', requestId: 'req', client: privacy.address('203.0.113.5') });
    expect(stored!.details).toEqual({ reason: 'wrong-password', password: '[redacted]', username: privacy.pseudonym('alice') });
    await recorder.close();
  });

  it('a flood cannot grow the queue: drops are counted by type in one events.dropped row', async () => {
    const store = new SqliteEventsStore(join(dir, `events-${++n}.db`));
    const recorder = new EventRecorder(store, { privacy, maxQueue: 500, sweepEveryMs: 0, now: () => T0 });
    for (let i = 0; i < 5000; i++) recorder.record({ ...event, type: i % 10 === 0 ? 'csp.violation' : 'auth.login-failed', requestId: `f${i}` });
    expect(recorder.stats.queued).toBe(500);
    await recorder.flush();
    recorder.record({ ...event, requestId: 'after' });
    await recorder.flush();
    const rows = store.query({ limit: 10_000 });
    expect(rows).toHaveLength(500 + 1 + 1);
    const dropped = rows.find((r) => r.type === 'events.dropped');
    expect(dropped?.details).toEqual({ total: 4500, byType: { 'auth.login-failed': 4050, 'csp.violation': 450 }, otherTypes: 0 });
    expect(rows[rows.length - 1]!.requestId).toBe('after');
    await recorder.close();
    store.close();
  });

  it('sweeps with the injected clock', async () => {
    let now = T0;
    const store = new MemoryEventsStore();
    const recorder = new EventRecorder(store, { privacy, retention: { maxAgeMs: 3_600_000 }, sweepEveryMs: 0, now: () => now });
    recorder.record(event);
    await recorder.flush();
    now += 3_600_000;
    expect(recorder.sweep()).toBe(0);
    now += 1;
    expect(recorder.sweep()).toBe(1);
    await recorder.close();
  });

  it('survives hostile events (non-string type, bad severity, huge details)', async () => {
    const store = new MemoryEventsStore();
    const recorder = new EventRecorder(store, { privacy, sweepEveryMs: 0 });
    recorder.record({ type: 'x'.repeat(10_000), severity: 'urgent' as never, routeId: '\u0000'.repeat(500), clientAddress: 'nope', details: { big: 'y'.repeat(1e6) } });
    recorder.record(event);
    await recorder.flush();
    const rows = store.query({});
    expect(rows).toHaveLength(2);
    expect(rows[0]!.type).toHaveLength(128);
    expect(rows[0]!.severity).toBe('info');
    expect(rows[0]!.client).toMatch(/^h:/);
    expect(JSON.stringify(rows[0]!.details).length).toBeLessThan(1000);
    await recorder.close();
  });
});
