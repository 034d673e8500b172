/**
 * How a subject is recognised in stored audit entries and events (privacy/subject/subject.ts), with hostile ids and
 * hostile stored details, and erasure of a consumer and of an OAuth client through the library with an injected
 * clock, on real SQLite files (identity store, audit chain, events store) in a temp directory.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ChainHasher, ERASED_ACTOR, type AuditEntryInput } from '../src/audit/chain.ts';
import { createPrivacy } from '../src/audit/privacy.ts';
import { redactDetails } from '../src/audit/redact.ts';
import { SqliteAuditStore } from '../src/audit/sqlite.ts';
import { SqliteEventsStore } from '../src/events-store/sqlite.ts';
import type { PrivacyContext } from '../src/privacy/subject/context.ts';
import { eraseSubject, ErasureError } from '../src/privacy/subject/erase.ts';
import { EventsFile } from '../src/privacy/subject/events.ts';
import { exportSubject } from '../src/privacy/subject/export.ts';
import { checkSubjectId, concerns, erasureRef, resolveSubject, subjectForms, SubjectError } from '../src/privacy/subject/subject.ts';
import { openConfiguredStores } from '../src/storage/configured.ts';
import { loadTestConfig, tempDir } from './helpers.ts';

const NOW = Date.UTC(2027, 2, 1);
const privacyKey = randomBytes(32);
const privacy = createPrivacy({ key: privacyKey });

describe('subject ids', () => {
  it.each([
    ['', /empty/],
    ['x'.repeat(1025), /longer than 1024/],
    ['anonymous', /reserved/],
    ['rampart', /reserved/],
    ['[erased]', /reserved/],
    ['a\u0000b', /control/],
    ['a\nb', /control/],
    ['x\ud800y', /well-formed/],
    [42 as unknown as string, /empty/],
  ])('refuses %j', (id, message) => {
    expect(() => checkSubjectId(id)).toThrow(SubjectError);
    expect(() => checkSubjectId(id)).toThrow(message);
  });

  it('accepts ids with SQL and pattern metacharacters and unicode as themselves', () => {
    for (const id of ['%', '_', "' OR 1=1 --", 'ünïcødé', '😀', 'a'.repeat(1024)]) expect(checkSubjectId(id)).toBe(id);
  });
});

describe('recognising a subject in stored rows', () => {
  const forms = {
    actors: new Set(['usr_a', 'p:0123456789abcdef0123456789abcdef']),
    identifiers: new Set(['usr_a', 'alice', 'key_1', 'rk_abc']),
    tokens: ['p:0123456789abcdef0123456789abcdef', '0123abcd0123abcd'],
  };
  it.each([
    ['the actor', { actor: 'usr_a', details: {} }, true],
    ['the user id under userId', { actor: 'anonymous', details: { userId: 'usr_a' } }, true],
    ['a key prefix under prefix', { details: { prefix: 'rk_abc' } }, true],
    ['the brute-force reference under user', { details: { user: '0123abcd0123abcd' } }, true],
    ['a pseudonym inside text', { details: { message: 'mail from p:0123456789abcdef0123456789abcdef bounced' } }, true],
    ['an id nested in an array of objects', { details: { findings: [{ clientId: 'x' }, { consumerId: 'key_1' }] } }, true],
    ['the id as free text (not an identifier member)', { details: { note: 'usr_a' } }, false],
    ['a prefix of the id', { details: { userId: 'usr_ab' } }, false],
    ['another user', { actor: 'usr_b', details: { userId: 'usr_b' } }, false],
    ['a member named like the id', { details: { usr_a: 1 } }, false],
    ['details nested deeper than the bound', { details: { a: { b: { c: { d: { e: { f: { g: { h: { userId: 'usr_a' } } } } } } } } } }, false],
    ['null and odd values', { actor: null, details: { userId: null, list: [null, 1, true], n: Number.NaN } }, false],
  ])('%s: %s', (_name, row, expected) => {
    expect(concerns(forms, row)).toBe(expected);
  });

  it('finds what the audit sink actually stores for a user: pseudonymised username and e-mail, user id, brute-force reference', async () => {
    const dir = tempDir();
    const { stores, pepper } = await openConfiguredStores(loadTestConfig({ routes: [], storage: `sqlite:${join(dir, 'rampart.db')}`, keyring: { masterKey: randomBytes(32).toString('base64') } }));
    const user = await stores.identities.createUser({ username: 'Zoë.Q@Example.org', passwordHash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo', roles: [], createdAt: NOW });
    const subject = await resolveSubject(stores.identities, 'ZOË.Q@EXAMPLE.ORG');
    expect(subject.user?.id).toBe(user.id);
    const forms2 = await subjectForms(subject, { identities: stores.identities, sessions: stores.sessions, privacy, pepper });
    // As redact.ts would store them:
    expect(concerns(forms2, { details: redactDetails({ username: 'zoë.q@example.org', reason: 'wrong-password' }, privacy) })).toBe(true);
    expect(concerns(forms2, { details: redactDetails({ text: 'reset link sent to Zoë.Q@Example.org' }, privacy) })).toBe(true);
    expect(concerns(forms2, { details: redactDetails({ username: 'someone.else@example.org' }, privacy) })).toBe(false);
    await stores.close();
  });
});

function entry(actor: string, details: Record<string, unknown>, i: number): AuditEntryInput {
  return { time: NOW - 1000 + i, type: 'auth.succeeded', actor, client: 'h:00000000000000000000000000000000', route: 'orders', requestId: `r${i}`, outcome: 'success', details };
}

describe('erasing a consumer and an OAuth client through the library', () => {
  it('deletes the records and their keys, tombstones their entries, deletes their events, leaves the rest', async () => {
    const dir = tempDir();
    const { stores, pepper } = await openConfiguredStores(loadTestConfig({ routes: [], storage: `sqlite:${join(dir, 'rampart.db')}`, keyring: { masterKey: randomBytes(32).toString('base64') } }));
    const consumer = await stores.identities.createConsumer({ name: 'reporting', roles: ['r'], createdAt: NOW });
    const key = await stores.identities.createApiKey({ consumerId: consumer.id, prefix: 'rk_live_AbCd1234', hash: 'h'.repeat(64), scopes: ['orders:read'], expiresAt: null, createdAt: NOW });
    const other = await stores.identities.createConsumer({ name: 'billing', roles: ['r'], createdAt: NOW });
    await stores.identities.createOAuthClient({ clientId: 'batch-job', secretHash: 's'.repeat(64), name: 'batch', roles: [], scopes: [], createdAt: NOW });
    await stores.sessions.createRefreshFamily({ subject: 'batch-job', clientId: 'batch-job', scopes: [], amr: [], authTime: NOW, createdAt: NOW, expiresAt: NOW + 1000, tokenHash: 't1' });

    const audit = SqliteAuditStore.open(join(dir, 'audit.db'), { hasher: new ChainHasher(randomBytes(32), { format: 2 }) });
    audit.appendSync([
      entry('reporting', { subject: 'reporting' }, 1),
      entry('anonymous', { keyPrefix: key.prefix, reason: 'expired' }, 2),
      entry('billing', { subject: 'billing' }, 3),
      entry('batch-job', { clientId: 'batch-job' }, 4),
    ]);
    const eventsPath = join(dir, 'events.db');
    const eventsStore = new SqliteEventsStore(eventsPath);
    eventsStore.insert([
      { time: NOW, type: 'auth.api-key-failed', severity: 'low', route: 'orders', requestId: 'e1', client: null, details: { prefix: key.prefix } },
      { time: NOW, type: 'auth.succeeded', severity: 'info', route: 'orders', requestId: 'e2', client: null, details: { subject: 'billing' } },
    ]);
    eventsStore.close();
    const events = EventsFile.open(eventsPath)!;
    const context: PrivacyContext = { stores, pepper, privacy, privacyKey, audit, auditWhere: 'sqlite:audit.db', events, eventsWhere: 'sqlite:events.db', storageFile: join(dir, 'rampart.db'), now: () => NOW };

    const exported = await exportSubject(context, await resolveSubject(stores.identities, 'reporting'));
    expect(exported.audit.entries.map((e) => e['seq'])).toEqual([1, 2]);
    expect(exported.events.rows).toHaveLength(1);
    await expect(eraseSubject(context, await resolveSubject(stores.identities, 'reporting'), { apply: true, reference: 'bad\nref' })).rejects.toBeInstanceOf(ErasureError);

    const report = await eraseSubject(context, await resolveSubject(stores.identities, 'reporting'), { apply: true });
    expect(report).toMatchObject({ applied: true, identity: { consumer: true, apiKeys: 1 }, audit: { erased: 2, recordSeq: 5 }, events: { deleted: 1 } });
    expect(report.subject.ref).toBe(erasureRef(privacyKey, consumer.id));
    expect(await stores.identities.getConsumer(consumer.id)).toBeUndefined();
    expect(await stores.identities.findApiKeyByPrefix(key.prefix)).toBeUndefined();
    expect(await stores.identities.getConsumer(other.id)).toBeDefined();

    const client = await eraseSubject(context, await resolveSubject(stores.identities, 'batch-job', 'client'), { apply: true });
    expect(client).toMatchObject({ identity: { oauthClient: true, refreshTokenFamilies: 1 }, audit: { erased: 1 } });
    expect(await stores.identities.getOAuthClient('batch-job')).toBeUndefined();
    expect(await stores.sessions.findRefreshFamilyByToken('t1')).toBeUndefined();

    const actors: string[] = [];
    for await (const e of audit.read()) actors.push(e.actor);
    expect(actors).toEqual([ERASED_ACTOR, ERASED_ACTOR, 'billing', ERASED_ACTOR, 'rampart', 'rampart']);
    expect(await audit.verify()).toMatchObject({ ok: true, erased: 3 });
    expect([...events.rows()].map((r) => r.requestId)).toEqual(['e2']);
    events.close();
    await audit.close();
    await stores.close();
  });
});
