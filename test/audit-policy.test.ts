/**
 * The `audit` route policy over a real `AuditingSecurityEvents` and SQLite chain: `auth.succeeded` and `data.access`
 * records with principal, operation and object id; fail closed (503) when the record cannot be made durable
 * because another process holds the write lock; its config schema against hostile settings.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { ChainHasher } from '../src/audit/chain.ts';
import { AUDIT_UNAVAILABLE, auditPolicy, type AuditRoutePolicyConfig } from '../src/audit/policy.ts';
import { createPrivacy } from '../src/audit/privacy.ts';
import { AuditingSecurityEvents } from '../src/audit/sink.ts';
import { SqliteAuditStore } from '../src/audit/sqlite.ts';
import { AuditWriter } from '../src/audit/writer.ts';
import type { AuthSuccessRecord } from '../src/audit/auth-success.ts';
import { SharedResourcePool } from '../src/gateway/runtime.ts';
import { RecordingSecurityEvents, type SecurityEvents } from '../src/observe/events.ts';
import type { Principal, RequestContext } from '../src/policies/types.ts';

const dir = mkdtempSync(join(tmpdir(), 'rampart-audit-policy-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const privacy = createPrivacy({ key: randomBytes(32) });
let n = 0;

/** A chain behind the sink; successes one entry each unless `record` says per-window (the gateway's default). */
function chain(busyTimeoutMs = 5000, record: AuthSuccessRecord = 'every-request') {
  const path = join(dir, `policy-${++n}.db`);
  const store = SqliteAuditStore.open(path, { hasher: new ChainHasher(), busyTimeoutMs });
  const events = new AuditingSecurityEvents({ privacy, audit: new AuditWriter(store), authSuccess: { record, windowMs: 60_000, maxKeys: 1000 } });
  return { path, store, events };
}

async function handlers(config: Partial<AuditRoutePolicyConfig>, events: SecurityEvents) {
  const full = { ...auditPolicy.inheritConfig!({}), dataAccess: true, ...config } as AuditRoutePolicyConfig;
  return auditPolicy.create(full, { logger: pino({ level: 'silent' }), events, routeId: 'orders', development: false, shared: new SharedResourcePool() });
}

const alice: Principal = { subject: 'user-1', kind: 'user', method: 'identity-token', roles: ['customer'] };

function context(principal: Principal | undefined, params: Record<string, string> = { orderId: '7' }, method = 'GET'): RequestContext {
  return {
    // The policy reads only the fields below; it never touches the raw request.
    req: {} as IncomingMessage,
    requestId: 'req-9',
    method,
    path: `/orders/${params.orderId ?? ''}`,
    query: '',
    clientAddress: '203.0.113.4',
    secure: true,
    routeId: 'orders',
    params,
    principal,
    responseHeaders: [],
    locals: {},
  };
}

async function entries(store: SqliteAuditStore) {
  const out = [];
  for await (const e of store.read()) out.push(e);
  return out;
}

describe('audit route policy', () => {
  it('records the authentication success and the data access with principal, operation and object id', async () => {
    const { store, events } = chain();
    const h = await handlers({}, events);
    expect(await h.onRequest!(context(alice))).toBeUndefined();
    expect(await h.onRequest!(context(alice, { customerId: 'c1', orderId: '8' }, 'DELETE'))).toBeUndefined();
    const written = await entries(store);
    expect(written.map((e) => [e.type, e.actor, e.outcome])).toEqual([
      ['auth.succeeded', 'user-1', 'success'],
      ['data.access', 'user-1', 'success'],
      ['auth.succeeded', 'user-1', 'success'],
      ['data.access', 'user-1', 'success'],
    ]);
    expect(written[1]!.details).toMatchObject({ operation: 'GET', objectId: '7', kind: 'user' });
    expect(written[3]!.details).toMatchObject({ operation: 'DELETE', objectId: '8' });
    expect(written[1]).toMatchObject({ route: 'orders', requestId: 'req-9', client: privacy.address('203.0.113.4') });
    expect((await store.verify()).ok).toBe(true);
  });

  it('per window: data access stays one entry per request, successes become one entry per principal and credential with the count', async () => {
    const { store, events } = chain(5000, 'per-window');
    const h = await handlers({}, events);
    const withKey: Principal = { ...alice, method: 'api-key', credentialId: 'key_7' };
    for (let i = 0; i < 3; i++) expect(await h.onRequest!(context(withKey, { orderId: String(i) }))).toBeUndefined();
    expect(await h.onRequest!(context(alice))).toBeUndefined();
    await events.flush();
    const written = await entries(store);
    expect(written.map((e) => [e.type, e.details['objectId'] ?? e.details['count']])).toEqual([
      ['data.access', '0'],
      ['data.access', '1'],
      ['data.access', '2'],
      ['data.access', '7'],
      ['auth.succeeded', 3],
      ['auth.succeeded', 1],
    ]);
    expect(written[4]!.details).toMatchObject({ subject: 'user-1', method: 'api-key', credentialId: 'key_7', record: 'per-window' });
    expect(written[5]!.details).toMatchObject({ subject: 'user-1', method: 'identity-token' });
    expect(written[5]!.details['credentialId']).toBeUndefined();
    expect((await store.verify()).ok).toBe(true);
  });

  it('takes the object id from the configured parameter, and records anonymous access on public routes', async () => {
    const { store, events } = chain();
    const h = await handlers({ objectId: 'path.customerId', authentication: false }, events);
    await h.onRequest!(context(alice, { customerId: 'c1', orderId: '8' }));
    await h.onRequest!(context(undefined, {}));
    const written = await entries(store);
    expect(written.map((e) => [e.type, e.actor, e.details.objectId])).toEqual([
      ['data.access', 'user-1', 'c1'],
      ['data.access', 'anonymous', null],
    ]);
  });

  it('fails closed with 503 when the record cannot be made durable, and serves again once it can', async () => {
    const { path, store, events } = chain(0);
    const h = await handlers({ authentication: false }, events);
    const other = new Database(path);
    other.exec('BEGIN IMMEDIATE');
    const refused = await h.onRequest!(context(alice));
    expect(refused).toMatchObject({ kind: 'problem', code: AUDIT_UNAVAILABLE });
    other.exec('COMMIT');
    other.close();
    expect(await h.onRequest!(context(alice))).toBeUndefined();
    expect((await entries(store)).map((e) => e.type)).toEqual(['data.access']);
  });

  it('never reads an inherited property as the object id', async () => {
    const recording = new RecordingSecurityEvents();
    const h = await handlers({ objectId: 'path.toString', required: false, authentication: false }, recording);
    expect(h.onRequest!(context(alice, { orderId: '1' }))).toBeUndefined();
    expect(recording.events[0]!.details).toMatchObject({ objectId: null });
  });

  it('without required, or without a durable sink, emits and continues', async () => {
    const recording = new RecordingSecurityEvents();
    const h = await handlers({ required: true }, recording);
    expect(h.onRequest!(context(alice))).toBeUndefined();
    expect(recording.events.map((e) => e.type)).toEqual(['auth.succeeded', 'data.access']);
  });

  it('inherits required and authentication from audit:', () => {
    expect(auditPolicy.inheritConfig!({})).toEqual({ required: true, authentication: true });
    expect(auditPolicy.inheritConfig!({ audit: { required: false, authentication: false, dataAccess: true } })).toEqual({ required: false, authentication: false, dataAccess: true });
  });

  const hostile: Array<[string, unknown]> = [
    ['objectId from the query', { objectId: 'query.id' }],
    ['objectId with a dot path', { objectId: 'path.a.b' }],
    ['objectId __proto__ injection', { objectId: 'path.__proto__;x' }],
    ['objectId __proto__', { objectId: 'path.__proto__' }],
    ['objectId constructor', { objectId: 'path.constructor' }],
    ['unknown key', { dataAcces: true }],
    ['dataAccess as a string', { dataAccess: 'yes' }],
  ];
  it.each(hostile)('its schema refuses %s', (_what, config) => {
    const validate = new Ajv({ strict: false }).compile(auditPolicy.schema);
    expect(validate(config)).toBe(false);
  });
});
