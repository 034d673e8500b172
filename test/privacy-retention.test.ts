/**
 * Retention per store with automatic purge (issue 7 point 5), with an injected clock, on real SQLite files in a temp
 * directory and the memory adapters: `privacy.retention` validation (bad values refused with their config path),
 * sessions and refresh families, the events store, the audit chain pruned with an anchor (verify still passes),
 * the gateway path (openAuditFromConfig prunes at start), and the store methods export and erasure use.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { ChainHasher, PRUNE_RECORD_TYPE, type AuditEntryInput } from '../src/audit/chain.ts';
import { checkAuditSettings, openAuditFromConfig, resolveAuditSettings } from '../src/audit/configured.ts';
import { retentionOf } from '../src/audit/retention.ts';
import { SqliteAuditStore } from '../src/audit/sqlite.ts';
import { SqliteEventsStore } from '../src/events-store/sqlite.ts';
import { RetentionSweeper, runRetention } from '../src/privacy/subject/retention.ts';
import { openConfiguredStores } from '../src/storage/configured.ts';
import { StoreCorruptError, type Stores } from '../src/storage/ports.ts';
import { loadTestConfig, tempDir } from './helpers.ts';

const testConfig = (document: Record<string, unknown>) => loadTestConfig({ routes: [], ...document });

const DAY = 86_400_000;
const NOW = Date.UTC(2027, 0, 15, 12, 0, 0);
const MASTER_KEY = randomBytes(32).toString('base64');

async function storesOf(kind: 'memory' | 'sqlite'): Promise<Stores> {
  const storage = kind === 'memory' ? 'memory:' : `sqlite:${join(tempDir(), 'rampart.db')}`;
  return (await openConfiguredStores(testConfig({ storage, keyring: { masterKey: MASTER_KEY } }))).stores;
}

describe('privacy.retention settings', () => {
  it.each([
    ['audit shorter than a day', { privacy: { retention: { audit: '12h' } } }, /privacy\.retention\.audit: must be at least 1d/],
    ['events shorter than a minute', { privacy: { retention: { events: '30s' } } }, /privacy\.retention\.events: must be at least 1m/],
    ['sessions shorter than the refresh tokens live', { identity: { issuer: 'https://i.test', refreshTokenTtl: '14d' }, privacy: { retention: { sessions: '7d' } } }, /privacy\.retention\.sessions: must be at least identity\.refreshTokenTtl/],
    ['an unknown store', { privacy: { retention: { backups: '30d' } } }, /privacy\.retention: must NOT have additional properties \(backups\)/],
    ['a duration that is not one', { privacy: { retention: { audit: 'forever' } } }, /privacy\.retention\.audit/],
    ['a negative number', { privacy: { retention: { events: -5 } } }, /privacy\.retention\.events/],
    ['an unknown privacy key', { privacy: { retain: {} } }, /privacy: must NOT have additional properties \(retain\)/],
    ['a prototype key', JSON.parse('{"privacy":{"retention":{"__proto__":{"audit":"1s"}}}}') as Record<string, unknown>, /privacy\.retention/],
  ])('refuses %s, naming the path', (_name, document, message) => {
    expect(checkAuditSettings(document).join('\n')).toMatch(message);
  });

  it('accepts the sketch, and privacy.retention.events only shortens events.retention', () => {
    const document = { events: { store: 'memory:', retention: '90d' }, privacy: { addresses: 'hash', retention: { accessLogs: '30d', audit: '400d', events: '7d', sessions: '30d', deprecationUsage: '90d' } } };
    expect(checkAuditSettings(document)).toEqual([]);
    expect(resolveAuditSettings(document).events!.retentionMs).toBe(7 * DAY);
    expect(resolveAuditSettings({ events: { retention: '3d' }, privacy: { retention: { events: '7d' } } }).events!.retentionMs).toBe(3 * DAY);
    expect(retentionOf(document.privacy, document, [])).toEqual({
      accessLogsMs: 30 * DAY,
      auditMs: 400 * DAY,
      eventsMs: 7 * DAY,
      sessionsMs: 30 * DAY,
      deprecationUsageMs: 90 * DAY,
      sweepEveryMs: 3_600_000,
    });
    // The gateway config loader applies the same checks (rampart config check).
    expect(() => testConfig({ privacy: { retention: { audit: '1h' } } })).toThrow(/privacy\.retention\.audit: must be at least 1d/);
    expect(testConfig({ privacy: { retention: { audit: '400d' } } }).document['privacy']).toMatchObject({ retention: { audit: '400d' } });
  });
});

describe.each(['memory', 'sqlite'] as const)('sessions retention (%s store)', (kind) => {
  it('purges ended sessions and expired families, and anything older than the retention', async () => {
    const stores = await storesOf(kind);
    const { sessions } = stores;
    const session = (idHash: string, userId: string, createdAt: number, lifetime: number) =>
      sessions.createSession({ idHash, userId, createdAt, absoluteExpiresAt: createdAt + lifetime, idleTimeoutMs: lifetime, amr: ['pwd'] });
    await session('s-live', 'usr_a', NOW - 60_000, DAY);
    await session('s-ended', 'usr_a', NOW - 2 * DAY, DAY);
    await session('s-revoked', 'usr_b', NOW - 60_000, DAY);
    await sessions.revokeSession('s-revoked', NOW - 1000);
    const family = (id: string, createdAt: number, expiresAt: number) =>
      sessions.createRefreshFamily({ id, subject: 'usr_a', scopes: [], amr: ['pwd'], authTime: createdAt, createdAt, expiresAt, tokenHash: `t-${id}` });
    await family('f-live', NOW - DAY, NOW + 13 * DAY);
    await family('f-expired', NOW - 20 * DAY, NOW - 6 * DAY);
    // Created 40 days ago and still valid (a refresh lifetime longer than the retention): retention wins.
    await family('f-old', NOW - 40 * DAY, NOW + 60 * DAY);

    const first = await runRetention({ sessions }, { ...retentionOf({}, {}, []), sessionsMs: 30 * DAY }, NOW);
    expect(first.sessions).toEqual({
      expired: { sessions: 2, refreshFamilies: 1, revokedAccessTokens: 0 },
      olderThanRetention: { sessions: 0, refreshFamilies: 1, revokedAccessTokens: 0 },
    });
    expect((await sessions.listAllUserSessions('usr_a')).map((s) => s.idHash)).toEqual(['s-live']);
    expect((await sessions.listSubjectRefreshFamilies('usr_a')).map((f) => f.id)).toEqual(['f-live']);
    expect(await sessions.findRefreshFamilyByToken('t-f-old')).toBeUndefined();
    // Nothing left to purge: a second pass counts zero.
    const second = await runRetention({ sessions }, { ...retentionOf({}, {}, []), sessionsMs: 30 * DAY }, NOW);
    expect(second.sessions!.olderThanRetention).toEqual({ sessions: 0, refreshFamilies: 0, revokedAccessTokens: 0 });
    await expect(runRetention({ sessions }, retentionOf({}, {}, []), Number.NaN)).rejects.toThrow(/integer/);
    await expect(sessions.purgeCreatedBefore(Number.POSITIVE_INFINITY)).rejects.toThrow();
    await stores.close();
  });

  it('lists and deletes one subject\'s sessions and families, tokens included, and nobody else\'s', async () => {
    const stores = await storesOf(kind);
    const { sessions, identities } = stores;
    for (const [id, user] of [['a1', 'usr_a'], ['a2', 'usr_a'], ['b1', 'usr_b']] as const) {
      await sessions.createSession({ idHash: id, userId: user, createdAt: NOW, absoluteExpiresAt: NOW + DAY, idleTimeoutMs: DAY, amr: ['pwd'] });
    }
    await sessions.revokeSession('a2', NOW);
    for (const [id, subject] of [['fa', 'usr_a'], ['fb', 'usr_b'], ['fpct', '%']] as const) {
      await sessions.createRefreshFamily({ id, subject, scopes: [], amr: [], authTime: NOW, createdAt: NOW, expiresAt: NOW + DAY, tokenHash: `t-${id}` });
    }
    expect((await sessions.listAllUserSessions('usr_a')).map((s) => [s.idHash, s.revokedAt])).toEqual([
      ['a1', null],
      ['a2', NOW],
    ]);
    // Ids are compared whole: '%' and '_' are not patterns.
    expect(await sessions.listAllUserSessions('%')).toEqual([]);
    expect(await sessions.deleteUserSessions('usr_%')).toBe(0);
    expect(await sessions.deleteSubjectRefreshFamilies('_')).toBe(0);
    expect(await sessions.deleteUserSessions('usr_a')).toBe(2);
    expect(await sessions.deleteSubjectRefreshFamilies('usr_a')).toBe(1);
    expect(await sessions.findRefreshFamilyByToken('t-fa')).toBeUndefined();
    expect(await sessions.rotateRefreshToken('t-fa', 't-new', NOW)).toEqual({ status: 'unknown' });
    expect((await sessions.listAllUserSessions('usr_b')).length).toBe(1);
    expect((await sessions.listSubjectRefreshFamilies('usr_b')).length).toBe(1);
    expect((await sessions.listSubjectRefreshFamilies('%')).length).toBe(1);

    // TOTP and recovery codes as metadata.
    const user = await identities.createUser({ username: 'carol', passwordHash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo', roles: [], createdAt: NOW });
    expect(await identities.getTotpEnrolment(user.id)).toBeUndefined();
    await identities.setTotpSecret(user.id, randomBytes(20), NOW);
    await identities.confirmTotp(user.id, NOW + 5);
    expect(await identities.getTotpEnrolment(user.id)).toEqual({ userId: user.id, createdAt: NOW, confirmedAt: NOW + 5 });
    await identities.replaceRecoveryCodes(user.id, ['h1', 'h2', 'h3'], NOW);
    await identities.useRecoveryCode(user.id, 'h2', NOW + 9);
    expect(await identities.listRecoveryCodeUses(user.id)).toEqual([
      { createdAt: NOW, usedAt: NOW + 9 },
      { createdAt: NOW, usedAt: null },
      { createdAt: NOW, usedAt: null },
    ]);
    expect(await identities.listRecoveryCodeUses('nobody')).toEqual([]);
    await stores.close();
  });
});

describe('TOTP metadata without decrypting', () => {
  it('reads the enrolment of a seed that no longer opens (export does not depend on, or expose, the secret)', async () => {
    const path = join(tempDir(), 'rampart.db');
    const { stores } = await openConfiguredStores(testConfig({ storage: `sqlite:${path}`, keyring: { masterKey: MASTER_KEY } }));
    const user = await stores.identities.createUser({ username: 'dave', passwordHash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo', roles: [], createdAt: NOW });
    await stores.identities.setTotpSecret(user.id, randomBytes(20), NOW);
    const raw = new Database(path);
    raw.prepare("UPDATE totp_secrets SET sealed_secret = 'not a sealed value' WHERE user_id = ?").run(user.id);
    raw.close();
    await expect(stores.identities.getTotp(user.id)).rejects.toBeInstanceOf(StoreCorruptError);
    expect(await stores.identities.getTotpEnrolment(user.id)).toEqual({ userId: user.id, createdAt: NOW, confirmedAt: null });
    await stores.close();
  });
});

function auditEntry(i: number, time: number): AuditEntryInput {
  return { time, type: 'auth.succeeded', actor: `usr_${i}`, client: null, route: 'orders', requestId: `r${i}`, outcome: 'success', details: { i } };
}

describe('events and audit retention', () => {
  it('deletes events past the shorter retention and prunes the audit chain with an anchor; verify passes', async () => {
    const dir = tempDir();
    const events = new SqliteEventsStore(join(dir, 'events.db'));
    events.insert([40, 10, 6, 1, 0].map((days, i) => ({ time: NOW - days * DAY - 1000, type: 'auth.login-failed', severity: 'low' as const, route: 'auth', requestId: `e${i}`, client: null, details: { i } })));
    const audit = SqliteAuditStore.open(join(dir, 'audit.db'), { hasher: new ChainHasher(randomBytes(32), { format: 2 }) });
    [500, 450, 401, 399, 10, 1].forEach((days, i) => audit.appendSync([auditEntry(i, NOW - days * DAY)]));
    const settings = retentionOf({ retention: { audit: '400d', events: '7d' } }, {}, []);

    const result = await runRetention({ audit, events, eventsRetentionMs: 90 * DAY }, settings, NOW);
    expect(result).toEqual({ audit: { pruned: 3, anchorSeq: 3 }, events: { deleted: 2 } });
    expect(events.count()).toBe(3);
    const report = await audit.verify();
    expect(report).toMatchObject({ ok: true, count: 4, anchor: { seq: 3 } });
    const kept: string[] = [];
    for await (const e of audit.read()) kept.push(e.type === PRUNE_RECORD_TYPE ? 'pruned' : String(e.details['i']));
    expect(kept).toEqual(['3', '4', '5', 'pruned']);
    // A later clock prunes further; the newer prune record names the new anchor.
    const later = await runRetention({ audit }, settings, NOW + 395 * DAY);
    expect(later.audit).toEqual({ pruned: 2, anchorSeq: 5 });
    expect(await audit.verify()).toMatchObject({ ok: true, anchor: { seq: 5 } });
    await audit.close();
    events.close();
  });

  it('RetentionSweeper runs one pass at a time with the injected clock', async () => {
    const stores = await storesOf('memory');
    await stores.sessions.createSession({ idHash: 'old', userId: 'u', createdAt: NOW - 3 * DAY, absoluteExpiresAt: NOW - 2 * DAY, idleTimeoutMs: DAY, amr: [] });
    const errors: unknown[] = [];
    const sweeper = new RetentionSweeper({ sessions: stores.sessions }, retentionOf({}, {}, []), { now: () => NOW, onError: (e) => errors.push(e) });
    const [a, b] = await Promise.all([sweeper.run(), sweeper.run()]);
    expect(a).toBe(b);
    expect(a.sessions!.expired.sessions).toBe(1);
    sweeper.start();
    await sweeper.stop();
    expect(errors).toEqual([]);
    await stores.close();
  });

  it('the gateway prunes its audit chain at start when privacy.retention.audit is set', async () => {
    const dir = tempDir();
    const path = join(dir, 'audit.db');
    const seed = SqliteAuditStore.open(path, { hasher: new ChainHasher(undefined, { format: 2 }) });
    [900, 800, 5].forEach((days, i) => seed.appendSync([auditEntry(i, NOW - days * DAY)]));
    await seed.close();
    const config = testConfig({
      storage: `sqlite:${join(dir, 'rampart.db')}`,
      keyring: { masterKey: MASTER_KEY },
      audit: { store: `sqlite:${path}`, chainKey: false },
      privacy: { retention: { audit: '400d' } },
    });
    const opened = await openAuditFromConfig(config, { now: () => NOW, baseDir: dir });
    // start() began a pass; run() shares it (or runs a new one that finds nothing left).
    await opened!.audit!.retention!.run();
    expect(await opened!.audit!.store.anchor()).toMatchObject({ seq: 2 });
    expect(await opened!.audit!.store.verify()).toMatchObject({ ok: true, anchor: { seq: 2 } });
    await opened!.close();
  });
});
