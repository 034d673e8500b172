/**
 * `AuditingSecurityEvents` in front of real SQLite files: which events reach the chain and the events store, in
 * what form, that an audit entry is committed before `emit` returns, that no planted secret or PII value reaches
 * the database files (their bytes are searched, WAL included), and how the writer behaves when the store is locked
 * by another connection (retry, health, bounded queue with an `audit.gap` entry).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import type { AuthSuccessSettings } from '../src/audit/auth-success.ts';
import { ChainHasher } from '../src/audit/chain.ts';
import { createPrivacy } from '../src/audit/privacy.ts';
import { AuditingSecurityEvents, isDurableSecurityEvents } from '../src/audit/sink.ts';
import { SqliteAuditStore } from '../src/audit/sqlite.ts';
import { AuditWriter } from '../src/audit/writer.ts';
import { EventRecorder } from '../src/events-store/recorder.ts';
import { SqliteEventsStore } from '../src/events-store/sqlite.ts';
import { RecordingSecurityEvents, type SecurityEvent } from '../src/observe/events.ts';

const dir = mkdtempSync(join(tmpdir(), 'rampart-audit-sink-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const privacy = createPrivacy({ key: randomBytes(32) });
let n = 0;

function setup(options: { authentication?: boolean; busyTimeoutMs?: number; maxQueue?: number; authSuccess?: AuthSuccessSettings; now?: () => number } = {}) {
  const base = join(dir, `sink-${++n}`);
  const store = SqliteAuditStore.open(`${base}-audit.db`, { hasher: new ChainHasher(randomBytes(32)), busyTimeoutMs: options.busyTimeoutMs ?? 5000 });
  const writer = new AuditWriter(store, { retryDelayMs: () => 5, ...(options.maxQueue ? { maxQueue: options.maxQueue } : {}) });
  const eventsStore = new SqliteEventsStore(`${base}-events.db`);
  const recorder = new EventRecorder(eventsStore, { privacy, sweepEveryMs: 0 });
  const next = new RecordingSecurityEvents();
  const events = new AuditingSecurityEvents({
    privacy,
    audit: writer,
    events: recorder,
    next,
    ...(options.authentication === undefined ? {} : { authentication: options.authentication }),
    ...(options.authSuccess === undefined ? {} : { authSuccess: options.authSuccess }),
    ...(options.now === undefined ? {} : { now: options.now }),
  });
  return { base, store, writer, eventsStore, recorder, next, events };
}

async function chainEntries(store: SqliteAuditStore) {
  const out = [];
  for await (const e of store.read()) out.push(e);
  return out;
}

const loginFailed: SecurityEvent = {
  type: 'auth.login-failed',
  severity: 'low',
  requestId: 'req-1',
  routeId: 'auth',
  clientAddress: '203.0.113.9',
  details: { reason: 'wrong-password', user: '0123456789abcdef' },
};
const denied: SecurityEvent = {
  type: 'authz.denied',
  severity: 'medium',
  requestId: 'req-2',
  routeId: 'orders',
  clientAddress: '2001:db8::7',
  details: { subject: 'user-42', route: 'orders', method: 'GET', objectId: '7', check: 'object', rule: 'owner', reason: 'not the owner' },
};
const csp: SecurityEvent = { type: 'csp.violation', severity: 'low', clientAddress: '198.51.100.1', details: { directive: 'script-src', blockedUri: 'https://evil.test/x.js' } };

describe('AuditingSecurityEvents', () => {
  it('records audit events in the chain, every event in the events store, and passes every event on', async () => {
    const { store, eventsStore, recorder, next, events } = setup();
    expect(isDurableSecurityEvents(events)).toBe(true);
    for (const e of [loginFailed, denied, csp]) events.emit(e);
    expect(next.events).toEqual([loginFailed, denied, csp]);
    const chain = await chainEntries(store);
    expect(chain.map((e) => [e.type, e.actor, e.outcome, e.route, e.requestId])).toEqual([
      ['auth.login-failed', 'anonymous', 'failure', 'auth', 'req-1'],
      ['authz.denied', 'user-42', 'denied', 'orders', 'req-2'],
    ]);
    expect(chain[0]!.client).toBe(privacy.address('203.0.113.9'));
    expect(chain[0]!.client).toMatch(/^h:/);
    expect(chain[1]!.details).toMatchObject({ check: 'object', rule: 'owner', objectId: '7' });
    await recorder.flush();
    const stored = eventsStore.query({});
    expect(stored.map((e) => e.type)).toEqual(['auth.login-failed', 'authz.denied', 'csp.violation']);
    expect(stored[2]!.client).toBe(privacy.address('198.51.100.1'));
    expect((await store.verify()).ok).toBe(true);
  });

  it('commits the audit entry before emit returns (SQLite): another connection sees it at once', () => {
    const { base, events } = setup();
    const reader = new Database(`${base}-audit.db`, { readonly: true });
    const count = reader.prepare('SELECT count(*) AS n FROM audit_chain');
    events.emit(loginFailed);
    expect((count.get() as { n: number }).n).toBe(1);
    events.emit(denied);
    expect((count.get() as { n: number }).n).toBe(2);
    reader.close();
  });

  it('emitDurable resolves once the entry is in the chain', async () => {
    const { store, events } = setup();
    await events.emitDurable({ type: 'data.access', severity: 'info', routeId: 'orders', requestId: 'r', details: { subject: 'u1', operation: 'GET', objectId: '9' } });
    const [entry] = await chainEntries(store);
    expect(entry).toMatchObject({ type: 'data.access', actor: 'u1', details: { operation: 'GET', objectId: '9' } });
  });

  it('records auth.succeeded only when authentication auditing is on', async () => {
    const ok: SecurityEvent = { type: 'auth.succeeded', severity: 'info', details: { subject: 'svc', method: 'api-key' } };
    const on = setup();
    on.events.emit(ok);
    await on.events.flush();
    expect(await chainEntries(on.store)).toHaveLength(1);
    const off = setup({ authentication: false });
    off.events.emit(ok);
    off.events.emit(loginFailed);
    await off.events.flush();
    expect((await chainEntries(off.store)).map((e) => e.type)).toEqual(['auth.login-failed']);
  });

  it('batches the per-request types within one batch window, in order with the entries committed at once', async () => {
    const { base, store, events } = setup({ authSuccess: { record: 'every-request', windowMs: 60_000, maxKeys: 10_000 } });
    const reader = new Database(`${base}-audit.db`, { readonly: true });
    const count = () => (reader.prepare('SELECT count(*) AS n FROM audit_chain').get() as { n: number }).n;
    const ok = (id: string): SecurityEvent => ({ type: 'auth.succeeded', severity: 'info', requestId: id, details: { subject: 'svc', method: 'jwt' } });
    events.emit(ok('a'));
    events.emit(ok('b'));
    expect(count()).toBe(0);
    // A `now` entry takes the pending batch with it, in emission order, in one transaction.
    events.emit({ ...loginFailed, requestId: 'c' });
    expect(count()).toBe(3);
    events.emit(ok('d'));
    expect(count()).toBe(3);
    // Past the batch window (20 ms by default) the pending entry is written by the timer.
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(count()).toBe(4);
    reader.close();
    expect((await chainEntries(store)).map((e) => e.requestId)).toEqual(['a', 'b', 'c', 'd']);
    expect((await store.verify()).ok).toBe(true);
  });

  it('per window (the default): one entry per principal, credential, address and route with the count; failures stay one by one, at once', async () => {
    let now = 1_700_000_000_000;
    const { base, store, recorder, eventsStore, events } = setup({ now: () => now });
    const reader = new Database(`${base}-audit.db`, { readonly: true });
    const rows = () => reader.prepare('SELECT type, actor, request_id AS requestId FROM audit_chain ORDER BY seq').all() as Array<{ type: string; actor: string; requestId: string }>;
    const ok = (subject: string, id: string, client = '203.0.113.9'): SecurityEvent => ({
      type: 'auth.succeeded',
      severity: 'info',
      requestId: id,
      routeId: 'orders',
      clientAddress: client,
      details: { subject, kind: 'user', method: 'jwt', credentialId: `jti-${subject}` },
    });
    for (let i = 0; i < 500; i++) {
      events.emit(ok('alice', `a${i}`));
      now += 10;
    }
    events.emit(ok('bob', 'b0'));
    events.emit(ok('alice', 'a-other-address', '198.51.100.4'));
    // Successes are counted, not written; a failure in the middle is written at once, on its own.
    expect(rows()).toEqual([]);
    events.emit({ ...loginFailed, requestId: 'fail-1' });
    expect(rows()).toEqual([{ type: 'auth.login-failed', actor: 'anonymous', requestId: 'fail-1' }]);
    await events.flush();
    expect(rows().slice(1)).toEqual([
      { type: 'auth.succeeded', actor: 'alice', requestId: 'a0' },
      { type: 'auth.succeeded', actor: 'bob', requestId: 'b0' },
      { type: 'auth.succeeded', actor: 'alice', requestId: 'a-other-address' },
    ]);
    reader.close();
    const [alice, bob, aliceElsewhere] = (await chainEntries(store)).slice(1);
    expect(alice).toMatchObject({
      route: 'orders',
      outcome: 'success',
      client: privacy.address('203.0.113.9'),
      details: { record: 'per-window', count: 500, credentialId: 'jti-alice', firstAt: 1_700_000_000_000, lastAt: 1_700_000_004_990 },
    });
    expect(bob!.details).toMatchObject({ count: 1 });
    expect(aliceElsewhere).toMatchObject({ client: privacy.address('198.51.100.4'), details: { count: 1 } });
    expect((await store.verify()).ok).toBe(true);
    // The events store gets the same summaries: one row per key and window, not one per request.
    await recorder.flush();
    const stored = eventsStore.query({}).filter((e) => e.type === 'auth.succeeded');
    expect(stored.map((e) => e.details['count']).sort()).toEqual([1, 1, 500]);
  });

  it('every-request: one entry per success', async () => {
    const { store, events } = setup({ authSuccess: { record: 'every-request', windowMs: 60_000, maxKeys: 10_000 } });
    for (let i = 0; i < 5; i++) events.emit({ type: 'auth.succeeded', severity: 'info', requestId: `r${i}`, details: { subject: 'svc', method: 'api-key' } });
    await events.flush();
    const chain = await chainEntries(store);
    expect(chain.map((e) => e.requestId)).toEqual(['r0', 'r1', 'r2', 'r3', 'r4']);
    expect(chain.every((e) => e.details['count'] === undefined)).toBe(true);
  });

  it('close() writes the open window; successes after it get an entry each', async () => {
    const { store, writer, events } = setup();
    events.emit({ type: 'auth.succeeded', severity: 'info', requestId: 'r1', details: { subject: 'svc', method: 'api-key' } });
    events.emit({ type: 'auth.succeeded', severity: 'info', requestId: 'r2', details: { subject: 'svc', method: 'api-key' } });
    events.close();
    events.emit({ type: 'auth.succeeded', severity: 'info', requestId: 'r3', details: { subject: 'svc', method: 'api-key' } });
    await writer.close();
    const chain = await chainEntries(store);
    expect(chain.map((e) => [e.requestId, e.details['count']])).toEqual([
      ['r1', 2],
      ['r3', undefined],
    ]);
  });

  it('never writes a planted secret or PII value to the database files', async () => {
    const { base, store, writer, recorder, eventsStore, events } = setup();
    const planted = {
      password: 'Planted-Password-7f3a',
      token: 'Planted-Token-91bc',
      secret: 'Planted-Secret-55de',
      cookie: 'Planted-Cookie-0a0a',
      bearer: 'Bearer Planted-Bearer-77aa',
      jwt: 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJQbGFudGVkIn0.UGxhbnRlZC1TaWc',
      email: 'planted.person@example.org',
      username: 'PlantedUserName',
      address: '192.0.2.123',
      addressV6: '2001:db8:beef::123',
    };
    const hostile: SecurityEvent[] = [
      {
        type: 'auth.login-failed',
        severity: 'low',
        clientAddress: planted.address,
        details: { reason: 'wrong-password', username: planted.username, password: planted.password, email: planted.email },
      },
      {
        type: 'credential.rejected',
        severity: 'low',
        clientAddress: planted.addressV6,
        details: { method: 'jwt', token: planted.token, authorization: planted.bearer, seen: planted.jwt, note: `contact ${planted.email}` },
      },
      { type: 'auth.client-authentication-failed', severity: 'low', details: { clientId: 'billing', client_secret: planted.secret, headers: { cookie: planted.cookie } } },
      { type: 'authz.denied', severity: 'medium', clientAddress: planted.address, details: { subject: planted.email, check: 'rule' } },
      { type: 'csp.violation', severity: 'low', clientAddress: planted.address, details: { documentUri: `https://app.test/?token=${planted.jwt}`, user: planted.username } },
    ];
    for (const e of hostile) events.emit(e);
    await events.flush();
    expect(await chainEntries(store)).toHaveLength(4);
    expect(eventsStore.query({})).toHaveLength(5);
    // The test is only meaningful if the stored rows do exist and carry the pseudonyms.
    const chain = await chainEntries(store);
    expect(chain[0]!.details.username).toBe(privacy.pseudonym(planted.username.toLowerCase()));
    expect(chain[3]!.actor).toBe(privacy.pseudonym(planted.email));
    // Search the files while they are open (the WAL holds the newest pages) and after closing.
    const search = () => {
      const files = readdirSync(dir).filter((f) => f.startsWith(`${basename(base)}-`));
      expect(files.length).toBeGreaterThanOrEqual(2);
      const bytes = Buffer.concat(files.map((f) => readFileSync(join(dir, f))));
      for (const [name, value] of Object.entries(planted)) {
        const needle = name === 'bearer' ? 'Planted-Bearer-77aa' : name === 'jwt' ? 'UGxhbnRlZC1TaWc' : value;
        expect(bytes.includes(Buffer.from(needle)), `${name} found in the database files`).toBe(false);
        expect(bytes.includes(Buffer.from(needle.toLowerCase())), `${name} (lower case) found in the database files`).toBe(false);
      }
      expect(bytes.includes(Buffer.from('Planted'))).toBe(false);
    };
    search();
    await writer.close();
    await recorder.close();
    await store.close();
    eventsStore.close();
    search();
  });

  it('retries while another process holds the write lock, and is unhealthy meanwhile', async () => {
    const { base, store, writer, events } = setup({ busyTimeoutMs: 0 });
    const other = new Database(`${base}-audit.db`);
    other.exec('BEGIN IMMEDIATE');
    events.emit(loginFailed);
    expect(writer.healthy).toBe(false);
    expect(writer.stats.queued).toBe(1);
    events.emit(denied);
    await expect(writer.settled()).rejects.toThrow(/locked|busy/i);
    other.exec('COMMIT');
    other.close();
    for (let i = 0; i < 1000 && !writer.healthy; i++) await writer.settled().catch(() => undefined);
    expect(writer.healthy).toBe(true);
    expect((await chainEntries(store)).map((e) => e.type)).toEqual(['auth.login-failed', 'authz.denied']);
    expect((await store.verify()).ok).toBe(true);
  });

  it('bounds the queue during an outage and records the loss as an audit.gap entry', async () => {
    const { base, store, writer, events } = setup({ busyTimeoutMs: 0, maxQueue: 100 });
    const other = new Database(`${base}-audit.db`);
    other.exec('BEGIN IMMEDIATE');
    for (let i = 0; i < 1000; i++) events.emit({ ...loginFailed, requestId: `flood-${i}` });
    expect(writer.stats.queued).toBe(100);
    expect(writer.stats.dropped).toBe(900);
    other.exec('COMMIT');
    other.close();
    for (let i = 0; i < 1000 && (!writer.healthy || writer.stats.queued > 0); i++) await writer.settled().catch(() => undefined);
    const chain = await chainEntries(store);
    expect(chain[0]).toMatchObject({ type: 'audit.gap', actor: 'rampart', outcome: 'failure', details: { lost: 900 } });
    expect(chain.slice(1).map((e) => e.requestId)).toEqual(Array.from({ length: 100 }, (_, i) => `flood-${i}`));
    expect((await store.verify()).ok).toBe(true);
  });

  it('keeps emitting to the log when the stores throw', () => {
    const next = new RecordingSecurityEvents();
    const errors: string[] = [];
    const broken = new AuditingSecurityEvents({
      privacy,
      next,
      audit: { write: () => { throw new Error('audit down'); } } as unknown as AuditWriter,
      events: { record: () => { throw new Error('events down'); } } as unknown as EventRecorder,
      onError: (_e, where) => errors.push(where),
    });
    expect(() => broken.emit(loginFailed)).not.toThrow();
    expect(next.events).toHaveLength(1);
    expect(errors).toEqual(['audit', 'events']);
  });
});
