/**
 * Audit chain format 2, erasure into tombstones and prune with an anchor (issue 7 point 5), on real SQLite files in
 * a temp directory and a real PostgreSQL server (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test, one
 * schema per test, dropped at the end). The attacks are plain SQL after dropping the guards, as someone with write
 * access to the database would do; what `verify` must say is asserted for each.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalJson } from '../src/audit/canonical-json.ts';
import { ChainHasher, ERASED_ACTOR, ERASURE_RECORD_TYPE, PRUNE_RECORD_TYPE, linkContent, linkText, parseTombstone, type AuditEntryInput } from '../src/audit/chain.ts';
import { PostgresAuditStore } from '../src/audit/postgres.ts';
import { pruneRecord } from '../src/audit/retention.ts';
import { SqliteAuditStore } from '../src/audit/sqlite.ts';
import { AuditStoreError, type AuditStore, type EraseOutcome } from '../src/audit/store.ts';

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const RUN = `rampart_privacy_t${process.pid}_${randomBytes(3).toString('hex')}`;
const dir = mkdtempSync(join(tmpdir(), 'rampart-privacy-chain-'));
let fileNo = 0;
const nextFile = () => join(dir, `audit-${++fileNo}.db`);
let schemaNo = 0;
const nextSchema = () => `${RUN}_${++schemaNo}`;
let admin: pg.Client;

beforeAll(async () => {
  admin = new pg.Client({ connectionString: DATABASE_URL });
  try {
    await admin.connect();
  } catch (error) {
    throw new Error(`PostgreSQL does not answer at ${DATABASE_URL.replace(/:[^:@/]*@/, ':…@')} (${(error as Error).message}); start it or set DATABASE_URL`);
  }
});

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  const { rows } = await admin.query<{ nspname: string }>('SELECT nspname FROM pg_namespace WHERE nspname LIKE $1', [`${RUN}%`]);
  for (const { nspname } of rows) await admin.query(`DROP SCHEMA ${nspname} CASCADE`);
  await admin.end();
});

const T0 = 1_767_225_600_000;
/** Entries about alice (odd i) and bob (even i), with the forms the sink stores. */
function entry(i: number, time = T0 + i * 1000): AuditEntryInput {
  const who = i % 2 === 1 ? 'usr_alice' : 'usr_bob';
  return {
    time,
    type: i % 3 === 0 ? 'auth.login-failed' : 'auth.succeeded',
    actor: who,
    client: 'h:0123456789abcdef0123456789abcdef',
    route: 'orders',
    requestId: `req-${i}`,
    outcome: i % 3 === 0 ? 'failure' : 'success',
    details: { userId: who, note: `secret-marker-${who}-${i}` },
  };
}

function recordOf(erasure: string) {
  return (outcome: EraseOutcome): AuditEntryInput => ({
    time: T0 + 999_000,
    type: ERASURE_RECORD_TYPE,
    actor: 'rampart',
    client: null,
    route: null,
    requestId: null,
    outcome: 'success',
    details: { erasure, subject: 'e:00112233445566778899aabbccddeeff', entries: outcome.erased.length, notErasable: outcome.notErasable.length },
  });
}

async function seqsOf(store: AuditStore, actor: string): Promise<number[]> {
  const seqs: number[] = [];
  for await (const e of store.read()) if (e.actor === actor) seqs.push(e.seq);
  return seqs;
}

describe('format 2 links', () => {
  it('commit to the personal fields with a fresh salt and hash a canonical text any verifier can rebuild', () => {
    const hasher = new ChainHasher(randomBytes(32), { format: 2 });
    const [a, b] = hasher.link({ seq: 0, hash: '0'.repeat(64) }, [entry(1), entry(1)]).map((l) => l.entry);
    expect(a!.v).toBe(2);
    expect(a!.salt).toMatch(/^[0-9a-f]{32}$/);
    // Equal content, different salt: equal commitments would let a guess of erased content be tested.
    expect(a!.commitment).not.toBe(b!.commitment);
    const { hash, ...rest } = a!;
    expect(linkText(rest, canonicalJson(rest.details))).toBe(canonicalJson(linkContent(rest)));
    expect(hasher.hash(rest)).toBe(hash);
    // The link text holds no personal field: only the commitment.
    expect(canonicalJson(linkContent(rest))).not.toContain('usr_alice');
  });
});

function sqliteTarget(path: string) {
  const db = new Database(path);
  return {
    db,
    dropGuards: () => {
      for (const t of ['audit_chain_no_update', 'audit_chain_no_delete']) db.exec(`DROP TRIGGER IF EXISTS ${t}`);
    },
    close: () => db.close(),
  };
}

describe('SQLite: erasure into tombstones', () => {
  it('erases the subject\'s entries, keeps everyone else\'s, records the erasure, and verifies', async () => {
    const path = nextFile();
    const key = randomBytes(32);
    const store = SqliteAuditStore.open(path, { hasher: new ChainHasher(key, { format: 2 }) });
    for (let i = 1; i <= 12; i++) store.appendSync([entry(i)]);
    const alice = await seqsOf(store, 'usr_alice');
    const bobBefore: unknown[] = [];
    for await (const e of store.read()) if (e.actor === 'usr_bob') bobBefore.push(e);

    const result = await store.erase({ seqs: [...alice, 999], by: 'e:00112233445566778899aabbccddeeff', at: T0 + 999_000, erasure: 'era_test1', record: recordOf('era_test1') });
    expect(result.erased).toEqual(alice);
    expect(result.missing).toEqual([999]);
    expect(result.record).toMatchObject({ seq: 13, type: ERASURE_RECORD_TYPE, details: { entries: alice.length } });

    const report = await store.verify();
    expect(report).toMatchObject({ ok: true, count: 13, erased: alice.length });
    const bobAfter: unknown[] = [];
    for await (const e of store.read()) {
      if (alice.includes(e.seq)) {
        expect(e).toMatchObject({ actor: ERASED_ACTOR, client: null, requestId: null, salt: null, type: expect.any(String), route: 'orders' });
        expect(parseTombstone(canonicalJson(e.details))).toMatchObject({ erased: true, erasure: 'era_test1' });
      }
      if (e.actor === 'usr_bob') bobAfter.push(e);
    }
    expect(bobAfter).toEqual(bobBefore);
    // Erasing again is a no-op for the same entries.
    const again = await store.erase({ seqs: alice, by: 'e:00112233445566778899aabbccddeeff', at: T0, erasure: 'era_test2', record: recordOf('era_test2') });
    expect(again).toMatchObject({ erased: [], alreadyErased: alice });
    expect((await store.verify()).ok).toBe(true);
    await store.close();
    // The erased markers are gone from the file's bytes (secure_delete and a truncated WAL), bob's remain.
    const bytes = readFileSync(path).toString('latin1');
    expect(bytes).not.toContain('secret-marker-usr_alice');
    expect(bytes).toContain('secret-marker-usr_bob');
  });

  it('reports format 1 entries as not erasable, upgrades the chain, and erases the format 2 ones after them', async () => {
    const path = nextFile();
    const key = randomBytes(32);
    const v1 = SqliteAuditStore.open(path, { hasher: new ChainHasher(key) });
    for (let i = 1; i <= 4; i++) v1.appendSync([entry(i)]);
    await v1.close();
    const store = SqliteAuditStore.open(path, { hasher: new ChainHasher(key, { format: 2 }) });
    for (let i = 5; i <= 8; i++) store.appendSync([entry(i)]);
    const meta = new Database(path);
    expect(meta.prepare("SELECT value FROM audit_meta WHERE name = 'format'").get()).toEqual({ value: '2' });
    meta.close();
    const alice = await seqsOf(store, 'usr_alice');
    expect(alice).toEqual([1, 3, 5, 7]);
    const result = await store.erase({ seqs: alice, by: 'e:00112233445566778899aabbccddeeff', at: T0, erasure: 'era_mixed', record: recordOf('era_mixed') });
    expect(result).toMatchObject({ erased: [5, 7], notErasable: [1, 3] });
    expect(await store.verify()).toMatchObject({ ok: true, count: 9, erased: 2 });
    await store.close();
  });

  it('upgrades a file written before format 2 (old columns and guards) and keeps verifying it', async () => {
    const path = nextFile();
    const db = new Database(path);
    db.exec(`
      CREATE TABLE audit_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
      CREATE TABLE audit_chain (seq INTEGER PRIMARY KEY, time INTEGER NOT NULL, type TEXT NOT NULL, actor TEXT NOT NULL, client TEXT,
        route TEXT, request_id TEXT, outcome TEXT NOT NULL, details TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL) STRICT;
      CREATE TABLE audit_head (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, hash TEXT NOT NULL) STRICT;
      CREATE TRIGGER audit_chain_no_update BEFORE UPDATE ON audit_chain BEGIN SELECT RAISE(ABORT, 'the audit chain is append-only'); END;
      CREATE TRIGGER audit_chain_no_delete BEFORE DELETE ON audit_chain BEGIN SELECT RAISE(ABORT, 'the audit chain is append-only'); END;
    `);
    const hasher = new ChainHasher();
    const linked = hasher.link({ seq: 0, hash: '0'.repeat(64) }, [entry(1), entry(2), entry(3)]);
    const insert = db.prepare('INSERT INTO audit_chain VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
    for (const { entry: e, detailsText } of linked) insert.run(e.seq, e.time, e.type, e.actor, e.client, e.route, e.requestId, e.outcome, detailsText, e.prev, e.hash);
    db.prepare("INSERT INTO audit_meta VALUES ('format', '1'), ('hash', 'sha256'), ('key_id', '')").run();
    db.prepare('INSERT INTO audit_head VALUES (1, 3, ?)').run(linked[2]!.entry.hash);
    db.close();

    const store = SqliteAuditStore.open(path, { hasher: new ChainHasher(undefined, { format: 2 }) });
    expect(await store.verify()).toMatchObject({ ok: true, count: 3 });
    store.appendSync([entry(4), entry(5)]);
    const result = await store.erase({ seqs: [1, 3, 5], by: 'e:00112233445566778899aabbccddeeff', at: T0, erasure: 'era_upgrade', record: recordOf('era_upgrade') });
    expect(result).toMatchObject({ erased: [5], notErasable: [1, 3] });
    expect(await store.verify()).toMatchObject({ ok: true, count: 6, erased: 1 });
    await store.close();
    // The new guards replaced the old ones: only a tombstone update of a v2 row passes.
    const raw = new Database(path);
    expect(() => raw.exec("UPDATE audit_chain SET actor = 'x' WHERE seq = 4")).toThrow(/append-only/);
    expect(() => raw.exec("UPDATE audit_chain SET details = '{}' WHERE seq = 5")).toThrow(/append-only/);
    expect(() => raw.exec('DELETE FROM audit_chain WHERE seq = 1')).toThrow(/append-only/);
    raw.close();
  });

  it('refuses to erase an entry that was tampered with, and changes nothing', async () => {
    const path = nextFile();
    const key = randomBytes(32);
    const store = SqliteAuditStore.open(path, { hasher: new ChainHasher(key, { format: 2 }) });
    for (let i = 1; i <= 5; i++) store.appendSync([entry(i)]);
    await store.close();
    const target = sqliteTarget(path);
    target.dropGuards();
    target.db.exec(`UPDATE audit_chain SET details = '{"note":"rewritten","userId":"usr_alice"}' WHERE seq = 3`);
    target.close();
    const reopened = SqliteAuditStore.open(path, { hasher: new ChainHasher(key, { format: 2 }) });
    await expect(reopened.erase({ seqs: [1, 3, 5], by: 'e:00112233445566778899aabbccddeeff', at: T0, erasure: 'era_t', record: recordOf('era_t') })).rejects.toThrow(
      /seq 3 does not match its hash/,
    );
    // One transaction: seq 1 was not erased either, and no record was appended.
    expect(await reopened.head()).toMatchObject({ seq: 5 });
    expect(await seqsOf(reopened, 'usr_alice')).toEqual([1, 3, 5]);
    expect((await reopened.verify()).broken).toMatchObject({ seq: 3, kind: 'edited' });
    await reopened.close();
  });
});

describe('SQLite: what verify catches around tombstones', () => {
  const key = randomBytes(32);
  async function erasedChain(): Promise<string> {
    const path = nextFile();
    const store = SqliteAuditStore.open(path, { hasher: new ChainHasher(key, { format: 2 }) });
    for (let i = 1; i <= 8; i++) store.appendSync([entry(i)]);
    await store.erase({ seqs: [3], by: 'e:00112233445566778899aabbccddeeff', at: T0, erasure: 'era_x', record: recordOf('era_x') });
    await store.close();
    return path;
  }
  async function verify(path: string) {
    const store = SqliteAuditStore.open(path, { hasher: new ChainHasher(key, { format: 2 }) });
    const report = await store.verify();
    await store.close();
    return report;
  }

  it('a live entry turned into a tombstone without the chain key (evidence hidden)', async () => {
    const path = await erasedChain();
    const t = sqliteTarget(path);
    t.dropGuards();
    const row = t.db.prepare('SELECT seq, commitment FROM audit_chain WHERE seq = 5').get() as { seq: number; commitment: string };
    const forger = new ChainHasher(randomBytes(32), { format: 2 });
    const tombstone = { at: T0, by: 'e:00112233445566778899aabbccddeeff', erased: true, erasure: 'era_forged', seal: forger.seal(row.seq, row.commitment, { at: T0, by: 'e:00112233445566778899aabbccddeeff', erasure: 'era_forged' }) };
    t.db.prepare('UPDATE audit_chain SET actor = ?, client = NULL, request_id = NULL, details = ?, salt = NULL WHERE seq = 5').run(ERASED_ACTOR, canonicalJson(tombstone));
    t.close();
    expect((await verify(path)).broken).toMatchObject({ seq: 5, kind: 'erased' });
  });

  it('a valid tombstone copied onto another entry', async () => {
    const path = await erasedChain();
    const t = sqliteTarget(path);
    t.dropGuards();
    const tomb = t.db.prepare('SELECT details FROM audit_chain WHERE seq = 3').get() as { details: string };
    t.db.prepare('UPDATE audit_chain SET actor = ?, client = NULL, request_id = NULL, details = ?, salt = NULL WHERE seq = 6').run(ERASED_ACTOR, tomb.details);
    t.close();
    expect((await verify(path)).broken).toMatchObject({ seq: 6, kind: 'erased' });
  });

  it('a tombstone edited afterwards, or its commitment changed', async () => {
    const path = await erasedChain();
    const t = sqliteTarget(path);
    t.dropGuards();
    t.db.exec(`UPDATE audit_chain SET details = replace(details, 'era_x', 'era_y') WHERE seq = 3`);
    t.close();
    expect((await verify(path)).broken).toMatchObject({ seq: 3, kind: 'erased' });
    const path2 = await erasedChain();
    const t2 = sqliteTarget(path2);
    t2.dropGuards();
    t2.db.exec(`UPDATE audit_chain SET commitment = '${'a'.repeat(64)}' WHERE seq = 3`);
    t2.close();
    expect((await verify(path2)).broken).toMatchObject({ seq: 3 });
  });

  it('a live entry whose salt or content was changed', async () => {
    const path = await erasedChain();
    const t = sqliteTarget(path);
    t.dropGuards();
    t.db.exec(`UPDATE audit_chain SET salt = '${'0'.repeat(32)}' WHERE seq = 4`);
    t.close();
    expect((await verify(path)).broken).toMatchObject({ seq: 4, kind: 'edited' });
  });
});

describe('SQLite: prune with an anchor', () => {
  it('prunes a verified prefix, keeps the anchor, records it, and verify starts there', async () => {
    const path = nextFile();
    const key = randomBytes(32);
    const store = SqliteAuditStore.open(path, { hasher: new ChainHasher(key, { format: 2 }) });
    for (let i = 1; i <= 10; i++) store.appendSync([entry(i, T0 + i * 60_000)]);
    const head5 = (await store.verify({})).head;
    expect(await store.anchor()).toBeNull();
    // Entries 1..5 are older than the cutoff; 6 is the first newer one.
    const cutoff = T0 + 5 * 60_000 + 1;
    const result = await store.prune(cutoff, (info) => pruneRecord(info, T0 + 20 * 60_000), { maxEntries: 3 });
    expect(result).toMatchObject({ pruned: 3, anchor: { seq: 3 } });
    const second = await store.prune(cutoff, (info) => pruneRecord(info, T0 + 20 * 60_000));
    expect(second).toMatchObject({ pruned: 2, anchor: { seq: 5 } });
    expect(second.record).toMatchObject({ type: PRUNE_RECORD_TYPE, details: { anchorSeq: 5, entries: 2 } });
    expect(await store.prune(cutoff, (info) => pruneRecord(info, T0))).toMatchObject({ pruned: 0, anchor: { seq: 5 } });
    const report = await store.verify();
    expect(report).toMatchObject({ ok: true, count: 7, anchor: { seq: 5 } });
    // A head recorded before the prune: still checkable at the anchor, not before it.
    expect((await store.verify({ expectHead: { seq: 10, hash: head5.hash } })).ok).toBe(true);
    expect((await store.verify({ expectHead: { seq: 2, hash: 'f'.repeat(64) } })).broken).toMatchObject({ seq: 2, kind: 'head' });
    const seqs: number[] = [];
    for await (const e of store.read()) seqs.push(e.seq);
    expect(seqs).toEqual([6, 7, 8, 9, 10, 11, 12]);
    await store.close();
  });

  it('catches old entries deleted with a made-up anchor and no prune record', async () => {
    const path = nextFile();
    const key = randomBytes(32);
    const store = SqliteAuditStore.open(path, { hasher: new ChainHasher(key, { format: 2 }) });
    for (let i = 1; i <= 6; i++) store.appendSync([entry(i)]);
    await store.close();
    const t = sqliteTarget(path);
    t.dropGuards();
    const row = t.db.prepare('SELECT hash FROM audit_chain WHERE seq = 2').get() as { hash: string };
    t.db.exec('DELETE FROM audit_chain WHERE seq <= 2');
    t.db.prepare("INSERT INTO audit_meta (name, value) VALUES ('anchor_seq', '2'), ('anchor_hash', ?)").run(row.hash);
    t.close();
    const reopened = SqliteAuditStore.open(path, { hasher: new ChainHasher(key, { format: 2 }) });
    expect((await reopened.verify()).broken).toMatchObject({ seq: 2, kind: 'pruned' });
    await reopened.close();
  });

  it('refuses to prune a prefix that does not verify (the evidence stays)', async () => {
    const path = nextFile();
    const key = randomBytes(32);
    const store = SqliteAuditStore.open(path, { hasher: new ChainHasher(key, { format: 2 }) });
    for (let i = 1; i <= 6; i++) store.appendSync([entry(i)]);
    await store.close();
    const t = sqliteTarget(path);
    t.dropGuards();
    t.db.exec("UPDATE audit_chain SET time = time + 1 WHERE seq = 2");
    t.close();
    const reopened = SqliteAuditStore.open(path, { hasher: new ChainHasher(key, { format: 2 }) });
    await expect(reopened.prune(T0 + 10_000_000, (info) => pruneRecord(info, T0))).rejects.toThrow(AuditStoreError);
    expect(await reopened.anchor()).toBeNull();
    await reopened.close();
  });
});

describe('PostgreSQL: erasure and prune', () => {
  it('erases into tombstones and prunes with an anchor; verify passes after each', async () => {
    const schema = nextSchema();
    const key = randomBytes(32);
    const store = await PostgresAuditStore.open(DATABASE_URL, { hasher: new ChainHasher(key, { format: 2 }), schema });
    for (let i = 1; i <= 10; i++) await store.append([entry(i, T0 + i * 60_000)]);
    const alice = await seqsOf(store, 'usr_alice');
    const result = await store.erase({ seqs: alice, by: 'e:00112233445566778899aabbccddeeff', at: T0, erasure: 'era_pg', record: recordOf('era_pg') });
    expect(result.erased).toEqual(alice);
    expect(await store.verify()).toMatchObject({ ok: true, count: 11, erased: alice.length });
    const { rows } = await admin.query(`SELECT count(*)::int AS n FROM ${schema}.audit_chain WHERE details LIKE '%secret-marker-usr_alice%' OR actor = 'usr_alice'`);
    expect(rows[0].n).toBe(0);
    const { rows: bob } = await admin.query(`SELECT count(*)::int AS n FROM ${schema}.audit_chain WHERE actor = 'usr_bob'`);
    expect(bob[0].n).toBe(5);

    const pruned = await store.prune(T0 + 4 * 60_000 + 1, (info) => pruneRecord(info, T0 + 30 * 60_000));
    expect(pruned).toMatchObject({ pruned: 4, anchor: { seq: 4 } });
    expect(await store.verify()).toMatchObject({ ok: true, count: 8, anchor: { seq: 4 } });
    await store.close();
  });

  it('lets only the tombstone update and the anchored delete through its trigger', async () => {
    const schema = nextSchema();
    const store = await PostgresAuditStore.open(DATABASE_URL, { hasher: new ChainHasher(undefined, { format: 2 }), schema });
    for (let i = 1; i <= 3; i++) await store.append([entry(i)]);
    await store.close();
    await expect(admin.query(`UPDATE ${schema}.audit_chain SET actor = 'x' WHERE seq = 1`)).rejects.toThrow(/append-only/);
    await expect(admin.query(`UPDATE ${schema}.audit_chain SET actor = '[erased]', client = NULL, request_id = NULL, salt = NULL, details = '{}' WHERE seq = 1`)).rejects.toThrow(/append-only/);
    await expect(admin.query(`DELETE FROM ${schema}.audit_chain WHERE seq = 1`)).rejects.toThrow(/append-only/);
  });

  it('catches a tombstone forged without the chain key', async () => {
    const schema = nextSchema();
    const key = randomBytes(32);
    const store = await PostgresAuditStore.open(DATABASE_URL, { hasher: new ChainHasher(key, { format: 2 }), schema });
    for (let i = 1; i <= 4; i++) await store.append([entry(i)]);
    await store.close();
    const { rows } = await admin.query<{ commitment: string }>(`SELECT commitment FROM ${schema}.audit_chain WHERE seq = 2`);
    const forger = new ChainHasher(randomBytes(32), { format: 2 });
    const t = { at: T0, by: 'e:00112233445566778899aabbccddeeff', erasure: 'era_f' };
    const details = canonicalJson({ ...t, erased: true, seal: forger.seal(2, rows[0]!.commitment, t) });
    await admin.query(`ALTER TABLE ${schema}.audit_chain DISABLE TRIGGER USER`);
    await admin.query(`UPDATE ${schema}.audit_chain SET actor = $1, client = NULL, request_id = NULL, salt = NULL, details = $2 WHERE seq = 2`, [ERASED_ACTOR, details]);
    const reopened = await PostgresAuditStore.open(DATABASE_URL, { hasher: new ChainHasher(key, { format: 2 }), schema });
    expect((await reopened.verify()).broken).toMatchObject({ seq: 2, kind: 'erased' });
    await reopened.close();
  });
});
