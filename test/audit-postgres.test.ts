/**
 * The PostgreSQL audit chain on a real server (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test): each
 * test works in its own schema, named after this run, dropped at the end. Never skipped: when nothing answers, the
 * run fails saying what to start.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChainHasher, type AuditEntryInput } from '../src/audit/chain.ts';
import { PostgresAuditStore } from '../src/audit/postgres.ts';
import { CHAIN_LENGTH, TAMPER_CASES, type TamperTarget } from './fixtures/audit/tamper.ts';

export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const RUN = `rampart_audit_t${process.pid}_${randomBytes(3).toString('hex')}`;
let schemaNo = 0;
const nextSchema = () => `${RUN}_${++schemaNo}`;
let admin: pg.Client;

beforeAll(async () => {
  admin = new pg.Client({ connectionString: DATABASE_URL });
  try {
    await admin.connect();
  } catch (error) {
    throw new Error(
      `PostgreSQL does not answer at ${DATABASE_URL.replace(/:[^:@/]*@/, ':…@')} (${(error as Error).message}); start it ` +
        "(pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start) or set DATABASE_URL",
    );
  }
});

afterAll(async () => {
  const { rows } = await admin.query<{ nspname: string }>('SELECT nspname FROM pg_namespace WHERE nspname LIKE $1', [`${RUN}%`]);
  for (const { nspname } of rows) await admin.query(`DROP SCHEMA ${nspname} CASCADE`);
  await admin.end();
});

function entry(i: number, label = 'x'): AuditEntryInput {
  return {
    time: 1_767_225_600_000 + i * 1000,
    type: i % 2 === 0 ? 'auth.login-failed' : 'authz.denied',
    actor: i % 2 === 0 ? 'anonymous' : `user-${i}`,
    client: null,
    route: 'orders',
    requestId: `${label}-${i}`,
    outcome: i % 2 === 0 ? 'failure' : 'denied',
    details: { i, label, nested: { list: [1, 'two', null, true] } },
  };
}

async function chainIn(schema: string, hasher: ChainHasher, n = CHAIN_LENGTH): Promise<void> {
  const store = await PostgresAuditStore.open(DATABASE_URL, { hasher, schema });
  for (let i = 1; i <= n; i++) await store.append([entry(i)]);
  await store.close();
}

describe('PostgreSQL audit chain', () => {
  it('appends, reads and verifies an intact chain', async () => {
    const schema = nextSchema();
    const store = await PostgresAuditStore.open(DATABASE_URL, { hasher: new ChainHasher(), schema });
    const batch = await store.append([entry(1), entry(2), entry(3)]);
    expect(batch.map((e) => e.seq)).toEqual([1, 2, 3]);
    await store.append([entry(4)]);
    const seqs: number[] = [];
    for await (const e of store.read({ sinceTime: entry(3).time })) {
      seqs.push(e.seq);
      expect(e.details).toEqual(entry(e.seq).details);
    }
    expect(seqs).toEqual([3, 4]);
    const report = await store.verify();
    expect(report.ok).toBe(true);
    expect(report.count).toBe(4);
    expect(report.head).toEqual(await store.head());
    await store.close();
  });

  for (const keyed of [false, true]) {
    describe(keyed ? 'keyed (HMAC) chain' : 'unkeyed (SHA-256) chain', () => {
      const key = randomBytes(32);
      const hasher = () => (keyed ? new ChainHasher(key) : new ChainHasher());
      it.each(TAMPER_CASES.map((c) => [c.name, c] as const))('catches %s', async (_name, tamper) => {
        const schema = nextSchema();
        await chainIn(schema, hasher());
        const client = new pg.Client({ connectionString: DATABASE_URL });
        await client.connect();
        // The append-only trigger stops mistakes, not someone with the rights to disable it.
        await client.query(`ALTER TABLE ${schema}.audit_chain DISABLE TRIGGER USER`);
        const target: TamperTarget = { chain: `${schema}.audit_chain`, head: `${schema}.audit_head`, exec: async (sql) => void (await client.query(sql)) };
        await tamper.apply(target);
        await client.end();
        const store = await PostgresAuditStore.open(DATABASE_URL, { hasher: hasher(), schema });
        const report = await store.verify();
        await store.close();
        expect(report.ok).toBe(false);
        expect(report.broken).toMatchObject({ seq: tamper.seq, kind: tamper.kind });
      });
    });
  }

  it('refuses UPDATE and DELETE while its trigger is in place', async () => {
    const schema = nextSchema();
    await chainIn(schema, new ChainHasher(), 2);
    await expect(admin.query(`UPDATE ${schema}.audit_chain SET actor = 'x'`)).rejects.toThrow(/append-only/);
    await expect(admin.query(`DELETE FROM ${schema}.audit_chain`)).rejects.toThrow(/append-only/);
  });

  it('runs with synchronous_commit=on even when the connection asks for off', async () => {
    const url = `${DATABASE_URL}${DATABASE_URL.includes('?') ? '&' : '?'}options=${encodeURIComponent('-c synchronous_commit=off')}`;
    // The URL option does take effect on a plain connection, so the store's "on" below is its own doing.
    const plain = new pg.Client({ connectionString: url });
    await plain.connect();
    expect((await plain.query('SHOW synchronous_commit')).rows[0].synchronous_commit).toBe('off');
    await plain.end();
    const store = await PostgresAuditStore.open(url, { hasher: new ChainHasher(), schema: nextSchema(), durability: 'process' });
    expect(await store.durabilityInForce()).toEqual({ synchronous_commit: 'on' });
    await store.close();
  });

  it('serialises concurrent appends from several connection pools: no seq lost or duplicated', async () => {
    const schema = nextSchema();
    const hasher = new ChainHasher(randomBytes(32));
    const a = await PostgresAuditStore.open(DATABASE_URL, { hasher, schema, poolSize: 4 });
    const b = await PostgresAuditStore.open(DATABASE_URL, { hasher, schema, poolSize: 4 });
    const PER_STORE = 120;
    const appended = await Promise.all([
      ...Array.from({ length: PER_STORE }, (_, i) => a.append([entry(i, 'a')])),
      ...Array.from({ length: PER_STORE / 2 }, (_, i) => b.append([entry(2 * i, 'b'), entry(2 * i + 1, 'b')])),
    ]);
    const seqs = appended.flat().map((e) => e.seq);
    expect(new Set(seqs).size).toBe(2 * PER_STORE);
    expect(Math.min(...seqs)).toBe(1);
    expect(Math.max(...seqs)).toBe(2 * PER_STORE);
    const report = await a.verify();
    expect(report).toMatchObject({ ok: true, count: 2 * PER_STORE });
    await a.close();
    await b.close();
  });

  it('refuses a chain opened with another key and a hostile schema name', async () => {
    const schema = nextSchema();
    await chainIn(schema, new ChainHasher(randomBytes(32)), 1);
    await expect(PostgresAuditStore.open(DATABASE_URL, { hasher: new ChainHasher(randomBytes(32)), schema })).rejects.toThrow(/not the key/);
    await expect(PostgresAuditStore.open(DATABASE_URL, { hasher: new ChainHasher(), schema })).rejects.toThrow(/keyed/);
    for (const bad of ['public; DROP TABLE x', 'Upper', '"quoted"', 'a'.repeat(64), '']) {
      await expect(PostgresAuditStore.open(DATABASE_URL, { hasher: new ChainHasher(), schema: bad })).rejects.toThrow(/schema name/);
    }
    await expect(PostgresAuditStore.open(DATABASE_URL, { hasher: new ChainHasher(), schema: nextSchema(), mustExist: true })).rejects.toThrow(/no audit chain/);
  });
});
