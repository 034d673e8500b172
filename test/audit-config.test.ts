/**
 * `audit:` / `events:` / `privacy.addresses` settings and `openAuditFromConfig`, the function the gateway calls:
 * defaults, errors with exact paths for hostile settings, keys derived from the master key (so the CLI opening the
 * same config verifies what the gateway wrote), and the stores it opens on real files.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { afterAll, describe, expect, it } from 'vitest';
import { AuditConfigError, checkAuditSettings, openAuditFromConfig, openConfiguredAuditStore, openConfiguredEventsStore, resolveAuditSettings, type AuditConfigSource } from '../src/audit/configured.ts';
import { auditConfigSchema, auditRoutePolicySchema, eventsConfigSchema, privacyConfigSchema } from '../src/audit/schema.ts';
import { generateMasterKey } from '../src/crypto/master-key.ts';
import { RecordingSecurityEvents } from '../src/observe/events.ts';

const dir = mkdtempSync(join(tmpdir(), 'rampart-audit-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const masterKey = generateMasterKey();

function source(document: Record<string, unknown>, key: string | undefined = masterKey): AuditConfigSource {
  return { document, storage: `sqlite:${join(dir, 'rampart.db')}`, masterKey: key, mode: 'production' };
}

describe('audit settings', () => {
  it('fills in the documented defaults', () => {
    const settings = resolveAuditSettings({ audit: {}, events: {} });
    expect(settings.audit).toEqual({
      store: 'sqlite:./rampart-audit.db',
      schema: 'rampart_audit',
      durability: 'process',
      chainKey: undefined,
      required: true,
      authentication: true,
      authSuccess: { record: 'per-window', windowMs: 60_000, maxKeys: 10_000 },
      dataAccess: false,
      categories: undefined,
      maxQueue: 10_000,
    });
    expect(resolveAuditSettings({ audit: { authSuccess: { record: 'every-request', window: '5m', maxKeys: 500 } } }).audit?.authSuccess).toEqual({
      record: 'every-request',
      windowMs: 300_000,
      maxKeys: 500,
    });
    expect(settings.events).toEqual({ store: 'sqlite:./rampart-events.db', retentionMs: 90 * 86_400_000, maxRows: 10_000_000, sweepEveryMs: 600_000, maxQueue: 10_000 });
    expect(settings.addresses).toBe('hash');
    expect(resolveAuditSettings({})).toEqual({ audit: undefined, events: undefined, addresses: 'hash' });
  });

  const hostile: Array<[string, Record<string, unknown>, RegExp]> = [
    ['an unknown audit key', { audit: { stor: 'x' } }, /audit: must NOT have additional properties \(stor\)/],
    ['a bad durability', { audit: { durability: 'fsync' } }, /audit\.durability: must be equal to one of the allowed values/],
    ['a short chain key', { audit: { chainKey: 'abc' } }, /audit\.chainKey: key must be 32 bytes/],
    ['a placeholder chain key', { audit: { chainKey: 'a'.repeat(64) } }, /audit\.chainKey: key is a placeholder/],
    ['chainKey true', { audit: { chainKey: true } }, /audit\.chainKey/],
    ['a hostile schema name', { audit: { schema: 'x; DROP' } }, /audit\.schema: must match pattern/],
    ['an unknown category', { audit: { categories: ['everything'] } }, /audit\.categories\.0/],
    ['a tiny queue', { audit: { maxQueue: 1 } }, /audit\.maxQueue: must be >= 100/],
    ['a retention of seconds', { events: { retention: '5s' } }, /events\.retention: must be at least 1m/],
    ['a retention that is not a duration', { events: { retention: '90 days' } }, /events\.retention: must match/],
    ['an unknown address mode', { privacy: { addresses: 'plain' } }, /privacy\.addresses/],
    ['audit as a string', { audit: 'on' }, /audit: must be object/],
    ['an unknown auth-success mode', { audit: { authSuccess: { record: 'sometimes' } } }, /audit\.authSuccess\.record: must be equal to one of the allowed values/],
    ['an auth-success window under a second', { audit: { authSuccess: { window: '500ms' } } }, /audit\.authSuccess\.window: must be from 1s to 1h/],
    ['an auth-success window over an hour', { audit: { authSuccess: { window: '2h' } } }, /audit\.authSuccess\.window: must be from 1s to 1h/],
    ['an auth-success window that is not a duration', { audit: { authSuccess: { window: 'a minute' } } }, /audit\.authSuccess\.window: must match/],
    ['no room for a single key', { audit: { authSuccess: { maxKeys: 0 } } }, /audit\.authSuccess\.maxKeys: must be >= 1/],
    ['an unknown auth-success key', { audit: { authSuccess: { windows: '1m' } } }, /audit\.authSuccess: must NOT have additional properties \(windows\)/],
  ];
  it.each(hostile)('refuses %s with its path', (_what, document, message) => {
    expect(() => resolveAuditSettings(document)).toThrow(AuditConfigError);
    expect(() => resolveAuditSettings(document)).toThrow(message);
  });

  it('lists every error with its path for config check', () => {
    expect(checkAuditSettings({ audit: {}, events: {} })).toEqual([]);
    expect(checkAuditSettings({ audit: { durability: 'x', maxQueue: 1 }, events: { retention: '1s' } })).toEqual([
      'audit.durability: must be equal to one of the allowed values',
      'audit.maxQueue: must be >= 100',
      'events.retention: must be at least 1m',
    ]);
  });

  it('never echoes a refused chain key', () => {
    const secret = 'Zm9vYmFyYmF6cXV4cXV1eHNlY3JldHZhbHVlMTIzNDU2Nzg5MA';
    expect(() => resolveAuditSettings({ audit: { chainKey: secret } })).toThrow(AuditConfigError);
    try {
      resolveAuditSettings({ audit: { chainKey: secret } });
    } catch (error) {
      expect((error as Error).message).not.toContain(secret);
    }
  });

  it('publishes schema fragments that compile in strict mode', () => {
    const ajv = new Ajv({ strict: true, allowUnionTypes: true, useDefaults: true });
    for (const schema of [auditConfigSchema, eventsConfigSchema, privacyConfigSchema, auditRoutePolicySchema]) expect(() => ajv.compile(schema)).not.toThrow();
  });
});

describe('openAuditFromConfig', () => {
  it('returns undefined when neither audit nor events is configured', async () => {
    expect(await openAuditFromConfig(source({}))).toBeUndefined();
  });

  it('opens both stores; the CLI opening the same config verifies the chain with the derived key', async () => {
    const document = { audit: { store: 'sqlite:./gw-audit.db' }, events: { store: 'sqlite:./gw-events.db' }, privacy: { addresses: 'truncate' } };
    const next = new RecordingSecurityEvents();
    const opened = (await openAuditFromConfig(source(document), { baseDir: dir, next }))!;
    expect(opened.audit?.store.kind).toBe('sqlite');
    expect(opened.audit?.store.hasher.mode).toBe('hmac-sha256');
    opened.events.emit({ type: 'auth.login-failed', severity: 'low', clientAddress: '203.0.113.77', details: { reason: 'unknown-user', user: '0123456789abcdef' } });
    opened.events.emit({ type: 'csp.violation', severity: 'low', details: {} });
    await opened.events.flush();
    expect(next.events).toHaveLength(2);
    await opened.close();

    const store = await openConfiguredAuditStore(source(document), { baseDir: dir });
    const report = await store.verify();
    expect(report).toMatchObject({ ok: true, count: 1 });
    for await (const e of store.read()) expect(e.client).toBe('203.0.113.0/24');
    await store.close();
    const events = openConfiguredEventsStore(source(document), { baseDir: dir });
    expect(events.query({}).map((e) => e.type)).toEqual(['auth.login-failed', 'csp.violation']);
    events.close();

    // Another master key derives another chain key: the chain refuses it rather than report every entry edited.
    await expect(openConfiguredAuditStore(source(document, generateMasterKey()), { baseDir: dir })).rejects.toThrow(/not the key/);
  });

  it('uses an explicit chain key, or none with a warning', async () => {
    const warnings: string[] = [];
    const logger = { warn: (_d: unknown, m: string) => void warnings.push(m), error: () => undefined };
    const plain = (await openAuditFromConfig(source({ audit: { store: 'sqlite:./plain.db', chainKey: false } }), { baseDir: dir, logger }))!;
    expect(plain.audit?.store.hasher.mode).toBe('sha256');
    expect(warnings.join()).toMatch(/rewrite the chain undetected/);
    await plain.close();
    const explicit = (await openAuditFromConfig(source({ audit: { store: 'sqlite:./explicit.db', chainKey: generateMasterKey(), durability: 'power' } }), { baseDir: dir }))!;
    expect(explicit.audit?.store.hasher.mode).toBe('hmac-sha256');
    expect(await explicit.audit!.store.durabilityInForce()).toMatchObject({ synchronous: 'FULL' });
    await explicit.close();
  });

  it('needs a master key in production (its keyed hashes protect addresses and usernames)', async () => {
    const noKey: AuditConfigSource = { ...source({ audit: { store: 'sqlite:./nokey.db' } }), masterKey: undefined };
    await expect(openAuditFromConfig(noKey, { baseDir: dir })).rejects.toThrow(/needs a master key/);
  });
});
