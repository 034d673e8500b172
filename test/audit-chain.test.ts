/**
 * The SQLite audit chain on real files in a temp directory: appends, verify on an intact chain, and every tampering
 * case of test/fixtures/audit/tamper.ts done with plain SQL on the file (as an attacker with write access would),
 * keyed chains, the expected-head check, the append-only triggers, and the durability pragmas in force.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { canonicalJson } from '../src/audit/canonical-json.ts';
import { ChainHasher, ChainMismatchError, GENESIS_HASH, type AuditEntryInput } from '../src/audit/chain.ts';
import { SqliteAuditStore } from '../src/audit/sqlite.ts';
import { AuditStoreError, openAuditStore } from '../src/audit/store.ts';
import { CHAIN_LENGTH, TAMPER_CASES, type TamperTarget } from './fixtures/audit/tamper.ts';

const dir = mkdtempSync(join(tmpdir(), 'rampart-audit-chain-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let fileNo = 0;
const nextFile = () => join(dir, `audit-${++fileNo}.db`);

function entry(i: number): AuditEntryInput {
  return {
    time: 1_767_225_600_000 + i * 1000,
    type: i % 2 === 0 ? 'auth.login-failed' : 'authz.denied',
    actor: i % 2 === 0 ? 'anonymous' : `user-${i}`,
    client: 'h:0123456789abcdef0123456789abcdef',
    route: 'orders',
    requestId: `req-${i}`,
    outcome: i % 2 === 0 ? 'failure' : 'denied',
    details: { i, reason: 'wrong password', check: 'permissions' },
  };
}

async function chainOf(path: string, hasher = new ChainHasher(), n = CHAIN_LENGTH): Promise<void> {
  const store = SqliteAuditStore.open(path, { hasher });
  for (let i = 1; i <= n; i++) store.appendSync([entry(i)]);
  await store.close();
}

/** Plain SQL on the file, after dropping the append-only triggers (which only stop mistakes). */
function tamperTarget(path: string): TamperTarget & { close(): void } {
  const db = new Database(path);
  for (const trigger of ['audit_chain_no_update', 'audit_chain_no_delete', 'audit_head_forward', 'audit_head_no_delete']) db.exec(`DROP TRIGGER ${trigger}`);
  return {
    chain: 'audit_chain',
    head: 'audit_head',
    exec: async (sql) => void db.exec(sql),
    close: () => db.close(),
  };
}

describe('SQLite audit chain', () => {
  it('links each entry to the one before and verifies an intact chain', async () => {
    const path = nextFile();
    const store = SqliteAuditStore.open(path, { hasher: new ChainHasher() });
    const first = store.appendSync([entry(1), entry(2)]);
    expect(first.map((e) => e.seq)).toEqual([1, 2]);
    expect(first[0]!.prev).toBe(GENESIS_HASH);
    expect(first[1]!.prev).toBe(first[0]!.hash);
    const [third] = await store.append([entry(3)]);
    expect(third!.prev).toBe(first[1]!.hash);
    expect(await store.head()).toEqual({ seq: 3, hash: third!.hash });
    const report = await store.verify();
    expect(report).toEqual({ ok: true, count: 3, head: { seq: 3, hash: third!.hash } });
    const read = [];
    for await (const e of store.read({ sinceTime: entry(2).time })) read.push(e.seq);
    expect(read).toEqual([2, 3]);
    await store.close();
  });

  it('verifies an empty chain', async () => {
    const store = SqliteAuditStore.open(nextFile(), { hasher: new ChainHasher() });
    expect(await store.verify()).toEqual({ ok: true, count: 0, head: { seq: 0, hash: GENESIS_HASH } });
    await store.close();
  });

  for (const keyed of [false, true]) {
    describe(keyed ? 'keyed (HMAC) chain' : 'unkeyed (SHA-256) chain', () => {
      const key = randomBytes(32);
      const hasher = () => (keyed ? new ChainHasher(key) : new ChainHasher());
      it.each(TAMPER_CASES.map((c) => [c.name, c] as const))('catches %s', async (_name, tamper) => {
        const path = nextFile();
        await chainOf(path, hasher());
        const target = tamperTarget(path);
        await tamper.apply(target);
        target.close();
        const store = SqliteAuditStore.open(path, { hasher: hasher() });
        const report = await store.verify();
        await store.close();
        expect(report.ok).toBe(false);
        expect(report.broken).toMatchObject({ seq: tamper.seq, kind: tamper.kind });
        expect(report.count).toBe(Math.max(0, tamper.seq - 1));
      });
    });
  }

  it('without a key, a row rewritten with a recomputed hash is still caught at the next link', async () => {
    const path = nextFile();
    await chainOf(path);
    const target = tamperTarget(path);
    const db = new Database(path);
    const row = db.prepare('SELECT * FROM audit_chain WHERE seq = 4').get() as Record<string, unknown>;
    const forged = { seq: 4, time: row.time as number, type: row.type as string, actor: 'mallory', client: null, route: 'orders', requestId: 'req-4', outcome: 'failure' as const, details: {}, prev: row.prev_hash as string };
    const hash = new ChainHasher().hash(forged);
    db.prepare("UPDATE audit_chain SET actor = 'mallory', client = NULL, details = ?, hash = ? WHERE seq = 4").run(canonicalJson({}), hash);
    db.close();
    target.close();
    const store = SqliteAuditStore.open(path, { hasher: new ChainHasher() });
    const report = await store.verify();
    await store.close();
    expect(report.broken).toMatchObject({ seq: 5, kind: 'edited' });
    expect(report.broken!.message).toContain('link to seq 4');
  });

  it.each([
    ['cut short, no longer JSON', '{"i": 6, '],
    ['JSON null, not an object', 'null'],
    ['a JSON array, not an object', '[]'],
  ])('details damaged outside Rampart (%s): verify reports the row as edited, export stops there with an error naming it', async (_what, damaged) => {
    const path = nextFile();
    await chainOf(path);
    const target = tamperTarget(path);
    // The table's damaged values hold no quote, so they can sit in the SQL text as literals.
    await target.exec(`UPDATE audit_chain SET details = '${damaged}' WHERE seq = 6`);
    target.close();
    const store = SqliteAuditStore.open(path, { hasher: new ChainHasher() });
    const report = await store.verify();
    expect(report.broken).toMatchObject({ seq: 6, kind: 'edited' });
    const read: number[] = [];
    let failure: unknown;
    try {
      for await (const e of store.read()) read.push(e.seq);
    } catch (error) {
      failure = error;
    }
    await store.close();
    expect(read).toEqual([1, 2, 3, 4, 5]);
    expect(failure).toBeInstanceOf(AuditStoreError);
    expect((failure as Error).message).toBe('audit entry seq 6: its details are not a JSON object (the log was changed outside Rampart; run rampart audit verify)');
  });

  it('with a key, a row re-hashed without the key is caught at that row', async () => {
    const key = randomBytes(32);
    const path = nextFile();
    await chainOf(path, new ChainHasher(key));
    const target = tamperTarget(path);
    const db = new Database(path);
    const row = db.prepare('SELECT * FROM audit_chain WHERE seq = 10').get() as Record<string, unknown>;
    const forged = { seq: 10, time: row.time as number, type: 'authz.denied', actor: 'mallory', client: null, route: null, requestId: null, outcome: 'denied' as const, details: {}, prev: row.prev_hash as string };
    db.prepare("UPDATE audit_chain SET actor = 'mallory', client = NULL, route = NULL, request_id = NULL, details = '{}', hash = ? WHERE seq = 10").run(new ChainHasher().hash(forged));
    db.close();
    target.close();
    const store = SqliteAuditStore.open(path, { hasher: new ChainHasher(key) });
    const report = await store.verify();
    await store.close();
    expect(report.broken).toMatchObject({ seq: 10, kind: 'edited' });
  });

  it('an expected head catches a chain cut back together with its head row', async () => {
    const path = nextFile();
    await chainOf(path);
    let store = SqliteAuditStore.open(path, { hasher: new ChainHasher() });
    const head = (await store.verify()).head;
    await store.close();
    const target = tamperTarget(path);
    await target.exec('DELETE FROM audit_chain WHERE seq > 7');
    await target.exec("UPDATE audit_head SET seq = 7, hash = (SELECT hash FROM audit_chain WHERE seq = 7)");
    target.close();
    store = SqliteAuditStore.open(path, { hasher: new ChainHasher() });
    // The chain alone cannot see this (documented): only a head recorded elsewhere can.
    expect((await store.verify()).ok).toBe(true);
    const report = await store.verify({ expectHead: head });
    expect(report.broken).toMatchObject({ seq: 10, kind: 'missing' });
    const wrong = await store.verify({ expectHead: { seq: 3, hash: 'f'.repeat(64) } });
    expect(wrong.broken).toMatchObject({ seq: 3, kind: 'head' });
    await store.close();
  });

  it('refuses a chain opened with another key, or without its key, or with a key it never had', async () => {
    const key = randomBytes(32);
    const keyed = nextFile();
    await chainOf(keyed, new ChainHasher(key), 2);
    expect(() => SqliteAuditStore.open(keyed, { hasher: new ChainHasher(randomBytes(32)) })).toThrow(/not the key this chain was created with/);
    expect(() => SqliteAuditStore.open(keyed, { hasher: new ChainHasher() })).toThrow(ChainMismatchError);
    const plain = nextFile();
    await chainOf(plain, new ChainHasher(), 2);
    expect(() => SqliteAuditStore.open(plain, { hasher: new ChainHasher(key) })).toThrow(/created without a chain key/);
  });

  it('refuses UPDATE and DELETE through SQL while its triggers are in place', async () => {
    const path = nextFile();
    await chainOf(path, new ChainHasher(), 3);
    const db = new Database(path);
    expect(() => db.exec("UPDATE audit_chain SET actor = 'x' WHERE seq = 1")).toThrow(/append-only/);
    expect(() => db.exec('DELETE FROM audit_chain WHERE seq = 1')).toThrow(/append-only/);
    expect(() => db.exec('UPDATE audit_head SET seq = 1')).toThrow(/only moves forward/);
    expect(() => db.exec('DELETE FROM audit_head')).toThrow(/cannot be deleted/);
    db.close();
  });

  it.each([
    ['process', 'NORMAL'],
    ['power', 'FULL'],
  ] as const)('durability %s runs with synchronous=%s in WAL mode', async (durability, synchronous) => {
    const store = await openAuditStore(`sqlite:${nextFile()}`, { hasher: new ChainHasher(), durability });
    expect(await store.durabilityInForce()).toEqual({ journal_mode: 'wal', synchronous });
    await store.close();
  });

  it('opens store URLs strictly', async () => {
    await expect(openAuditStore('sqlite:', { hasher: new ChainHasher() })).rejects.toThrow(AuditStoreError);
    await expect(openAuditStore('mysql://root:hunter2@db/audit', { hasher: new ChainHasher() })).rejects.toThrow(/unsupported store URL scheme "mysql:"/);
    await expect(openAuditStore('mysql://root:hunter2@db/audit', { hasher: new ChainHasher() })).rejects.not.toThrow(/hunter2/);
    await expect(openAuditStore(`sqlite:${join(dir, 'absent.db')}`, { hasher: new ChainHasher(), mustExist: true })).rejects.toThrow(/no audit store/);
  });
});
