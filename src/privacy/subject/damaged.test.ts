/**
 * Data-subject export and erasure when some of the subject's rows are damaged (stored data is input too), through
 * the library with an injected clock, on real SQLite files (identity store, audit chain) in a temp directory: the
 * export holds every readable record and lists the damaged ones (table, id, reason) instead of failing or leaving
 * them out in silence; their ids are still searched for in the audit chain; the erasure counts them (dry run too),
 * revokes a damaged API key by its id and deletes every damaged row with the rest; other subjects are untouched.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ChainHasher, type AuditEntryInput } from '../../audit/chain.ts';
import { createPrivacy } from '../../audit/privacy.ts';
import { SqliteAuditStore } from '../../audit/sqlite.ts';
import { deriveSecretPepper } from '../../crypto/hashing.ts';
import { generateMasterKey, parseMasterKey } from '../../crypto/master-key.ts';
import { openSqliteStores } from '../../storage/sqlite/index.ts';
import type { PrivacyContext } from './context.ts';
import { eraseSubject } from './erase.ts';
import { exportSubject } from './export.ts';
import { resolveSubject } from './subject.ts';

const NOW = Date.UTC(2027, 2, 1);
const MARKER = 'MARKER-e91b';
const SESSION_A = 'aaaaaaaa0000000000000000000000000000000000000000';
const SESSION_B = 'bbbbbbbb0000000000000000000000000000000000000000';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Fixture {
  readonly context: PrivacyContext;
  readonly raw: Database.Database;
  readonly count: (sql: string, ...params: string[]) => number;
}

/**
 * alice (user): passkeys w1, w2; sessions A, B; refresh families f1, f2. reporting (consumer): API keys k1, k2.
 * bob (user) with a passkey, a session and a family of his own. Then w2, session B, f2 and k2 are damaged, and the
 * audit chain holds an entry naming only the damaged passkey's id and one naming only bob.
 */
async function fixture(): Promise<Fixture> {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-privacy-damaged-'));
  const masterKey = parseMasterKey(generateMasterKey());
  const storageFile = join(dir, 'rampart.db');
  const stores = openSqliteStores(storageFile, { masterKey });
  const audit = SqliteAuditStore.open(join(dir, 'audit.db'), { hasher: new ChainHasher(randomBytes(32), { format: 2 }) });
  const raw = new Database(storageFile);
  cleanups.push(async () => {
    raw.close();
    await audit.close();
    await stores.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const { identities, sessions } = stores;
  await identities.createUser({ id: 'usr_alice', username: 'alice', passwordHash: 'h', roles: ['customer'], createdAt: NOW - 10 });
  await identities.createUser({ id: 'usr_bob', username: 'bob', passwordHash: 'h', roles: ['customer'], createdAt: NOW - 10 });
  for (const [n, id] of ['w1', 'w2'].entries()) {
    await identities.addWebAuthnCredential({ id, userId: 'usr_alice', publicKey: new Uint8Array([n + 1]), counter: 0, transports: ['usb'], createdAt: NOW - 9 + n });
  }
  await identities.addWebAuthnCredential({ id: 'w-bob', userId: 'usr_bob', publicKey: new Uint8Array([9]), counter: 0, transports: ['usb'], createdAt: NOW - 9 });
  for (const [n, idHash] of [SESSION_A, SESSION_B].entries()) {
    await sessions.createSession({ idHash, userId: 'usr_alice', createdAt: NOW - 8 + n, absoluteExpiresAt: NOW + 3_600_000, idleTimeoutMs: 600_000, amr: ['pwd'] });
  }
  await sessions.createSession({ idHash: 'c'.repeat(48), userId: 'usr_bob', createdAt: NOW - 8, absoluteExpiresAt: NOW + 3_600_000, idleTimeoutMs: 600_000, amr: ['pwd'] });
  for (const [n, id] of ['f1', 'f2'].entries()) {
    await sessions.createRefreshFamily({ id, subject: 'usr_alice', scopes: ['openid'], amr: ['pwd'], authTime: NOW - 7, createdAt: NOW - 7 + n, expiresAt: NOW + 86_400_000, tokenHash: `t-${id}` });
  }
  await sessions.createRefreshFamily({ id: 'f-bob', subject: 'usr_bob', scopes: [], amr: ['pwd'], authTime: NOW - 7, createdAt: NOW - 7, expiresAt: NOW + 86_400_000, tokenHash: 't-bob' });
  await identities.createConsumer({ id: 'con_reporting', name: 'reporting', roles: ['r'], createdAt: NOW - 6 });
  for (const [n, id] of ['k1', 'k2'].entries()) {
    await identities.createApiKey({ id, consumerId: 'con_reporting', prefix: `rk_live_000${n}`, hash: 'h'.repeat(64), scopes: ['orders:read'], expiresAt: null, createdAt: NOW - 5 + n });
  }

  raw.prepare('UPDATE webauthn_credentials SET transports = ? WHERE id = ?').run(`{${MARKER}`, 'w2');
  raw.prepare('UPDATE sessions SET amr = ? WHERE id_hash = ?').run(`{"${MARKER}":1}`, SESSION_B);
  raw.prepare('UPDATE refresh_families SET scopes = ? WHERE id = ?').run(`[1,"${MARKER}"]`, 'f2');
  raw.prepare('UPDATE api_keys SET scopes = ? WHERE id = ?').run(MARKER, 'k2');

  const entry = (i: number, actor: string, details: Record<string, unknown>): AuditEntryInput => ({
    time: NOW - 100 + i,
    type: 'auth.succeeded',
    actor,
    client: null,
    route: 'orders',
    requestId: `r${i}`,
    outcome: 'success',
    details,
  });
  audit.appendSync([entry(1, 'anonymous', { credentialId: 'w2', reason: 'counter' }), entry(2, 'usr_bob', { userId: 'usr_bob' })]);

  const privacyKey = randomBytes(32);
  const context: PrivacyContext = {
    stores,
    pepper: deriveSecretPepper(masterKey),
    privacy: createPrivacy({ key: privacyKey }),
    privacyKey,
    audit,
    auditWhere: 'sqlite:audit.db',
    events: undefined,
    eventsWhere: undefined,
    storageFile,
    now: () => NOW,
  };
  const count = (sql: string, ...params: string[]): number => (raw.prepare(sql).get(...params) as { n: number }).n;
  return { context, raw, count };
}

const ALICE_DAMAGED = [
  { table: 'webauthn_credentials', id: 'w2', reason: 'column transports is not valid JSON' },
  { table: 'sessions', id: 'bbbbbbbb', reason: 'column amr is not a list of strings' },
  { table: 'refresh_families', id: 'f2', reason: 'column scopes is not a list of strings' },
];

describe('privacy export with damaged rows of the subject', () => {
  it('exports every readable record, lists the damaged ones, and still searches the audit chain for their ids', async () => {
    const { context } = await fixture();
    const exported = await exportSubject(context, await resolveSubject(context.stores.identities, 'alice'));
    expect(exported.damaged).toEqual(ALICE_DAMAGED);
    const user = exported.identity.user!;
    expect((user['webauthnCredentials'] as Array<{ id: string }>).map((p) => p.id)).toEqual(['w1']);
    expect(exported.sessions).toHaveLength(1);
    expect(exported.refreshTokenFamilies.map((f) => f['id'])).toEqual(['f1']);
    // The entry naming only the damaged passkey is found; bob's is not.
    expect(exported.audit.entries.map((e) => e['requestId'])).toEqual(['r1']);
    expect(JSON.stringify(exported)).not.toContain(MARKER);
  });

  it('lists a damaged API key of a consumer, with what its unreadable prefix means for the search', async () => {
    const { context } = await fixture();
    const exported = await exportSubject(context, await resolveSubject(context.stores.identities, 'reporting'));
    expect((exported.identity.consumer!['apiKeys'] as Array<{ id: string }>).map((k) => k.id)).toEqual(['k1']);
    expect(exported.damaged).toEqual([{ table: 'api_keys', id: 'k2', reason: 'column scopes is not valid JSON', note: expect.stringContaining('prefix') }]);
  });

  it('has an empty damaged section when every row is readable', async () => {
    const { context } = await fixture();
    const exported = await exportSubject(context, await resolveSubject(context.stores.identities, 'bob'));
    expect(exported.damaged).toEqual([]);
    expect(exported.audit.entries.map((e) => e['requestId'])).toEqual(['r2']);
  });
});

describe('privacy erase with damaged rows of the subject', () => {
  it('a dry run counts and names the damaged rows and changes nothing', async () => {
    const { context, count } = await fixture();
    const report = await eraseSubject(context, await resolveSubject(context.stores.identities, 'alice'), { apply: false });
    expect(report).toMatchObject({ applied: false, identity: { user: true, webauthnCredentials: 2, sessions: 2, refreshTokenFamilies: 2 }, audit: { erased: 1 } });
    // The same records, in the order erase reads them (sessions and families first).
    expect(report.damaged).toHaveLength(3);
    expect(report.damaged).toEqual(expect.arrayContaining(ALICE_DAMAGED));
    expect(count("SELECT count(*) AS n FROM webauthn_credentials WHERE user_id = 'usr_alice'")).toBe(2);
    expect(count("SELECT count(*) AS n FROM sessions WHERE user_id = 'usr_alice'")).toBe(2);
  });

  it('--apply erases the damaged rows with the rest (by owner) and leaves other subjects alone', async () => {
    const { context, count } = await fixture();
    const report = await eraseSubject(context, await resolveSubject(context.stores.identities, 'alice'), { apply: true });
    expect(report).toMatchObject({ applied: true, identity: { webauthnCredentials: 2, sessions: 2, refreshTokenFamilies: 2 }, audit: { erased: 1 } });
    // The same records, in the order erase reads them (sessions and families first).
    expect(report.damaged).toHaveLength(3);
    expect(report.damaged).toEqual(expect.arrayContaining(ALICE_DAMAGED));
    for (const [table, owner] of [
      ['users', 'id'],
      ['webauthn_credentials', 'user_id'],
      ['sessions', 'user_id'],
      ['refresh_families', 'subject'],
    ] as const) {
      expect(count(`SELECT count(*) AS n FROM ${table} WHERE ${owner} = 'usr_alice'`)).toBe(0);
      expect(count(`SELECT count(*) AS n FROM ${table} WHERE ${owner} = 'usr_bob'`)).toBe(1);
    }
    // The erasure record counts the damaged rows among the records erased.
    const records: unknown[] = [];
    for await (const e of context.audit!.read()) if (e.type === 'privacy.erased') records.push(e.details['records']);
    expect(records).toEqual([expect.objectContaining({ users: 1, sessions: 2, refreshTokenFamilies: 2 })]);
  });

  it('--apply revokes a damaged API key by its id before the consumer and its keys are deleted', async () => {
    const { context, count } = await fixture();
    const revoke = vi.spyOn(context.stores.identities, 'revokeApiKey');
    const dryRun = await eraseSubject(context, await resolveSubject(context.stores.identities, 'reporting'), { apply: false });
    expect(dryRun.identity.apiKeys).toBe(2);
    expect(revoke).not.toHaveBeenCalled();
    const report = await eraseSubject(context, await resolveSubject(context.stores.identities, 'reporting'), { apply: true });
    expect(report.identity.apiKeys).toBe(2);
    expect(report.damaged.map((d) => [d.table, d.id])).toEqual([['api_keys', 'k2']]);
    expect(revoke.mock.calls).toEqual([
      ['k1', NOW],
      ['k2', NOW],
    ]);
    expect(await revoke.mock.results[1]!.value).toBe(true);
    expect(count("SELECT count(*) AS n FROM api_keys WHERE consumer_id = 'con_reporting'")).toBe(0);
    expect(count("SELECT count(*) AS n FROM consumers WHERE id = 'con_reporting'")).toBe(0);
  });
});
