/**
 * `rampart audit verify|export` and `rampart events` as an operator runs them: one real process of bin/rampart.js
 * per command against SQLite files in a temp directory and a PostgreSQL schema of this run. Exit codes: 0 ok,
 * 1 broken chain or failure, 2 usage error; never a stack trace.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ChainHasher, type AuditEntryInput } from '../src/audit/chain.ts';
import { openAuditStore } from '../src/audit/store.ts';
import { SqliteEventsStore } from '../src/events-store/sqlite.ts';
import { CHAIN_LENGTH, TAMPER_CASES, type TamperTarget } from './fixtures/audit/tamper.ts';

vi.setConfig({ testTimeout: 120_000, hookTimeout: 60_000 });

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PROGRAM = join(ROOT, 'bin', 'rampart.js');
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const STACK_FRAME = /^\s+at /m;
const dir = mkdtempSync(join(tmpdir(), 'rampart-audit-cli-'));
const key = randomBytes(32);
const ENV = { AUDIT_KEY: key.toString('base64url') };
const schema = `rampart_audit_cli_${process.pid}_${randomBytes(3).toString('hex')}`;
const auditDb = join(dir, 'audit.db');
const eventsDb = join(dir, 'events.db');
const NOW = Date.now();

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function rampart(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [PROGRAM, ...args], { cwd: ROOT, timeout: 60_000, env: { ...process.env, NO_COLOR: '1', ...env } }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') return reject(new Error(`rampart ${args.join(' ')} did not exit normally: ${stderr}`));
      if (STACK_FRAME.test(stderr)) return reject(new Error(`rampart ${args.join(' ')} printed a stack trace: ${stderr}`));
      resolve({ code: error ? (error.code as number) : 0, stdout, stderr });
    });
  });
}

function entry(i: number, time: number): AuditEntryInput {
  return { time, type: 'auth.login-failed', actor: 'anonymous', client: null, route: 'auth', requestId: `r${i}`, outcome: 'failure', details: { i } };
}

let head = '';

beforeAll(async () => {
  const store = await openAuditStore(`sqlite:${auditDb}`, { hasher: new ChainHasher(key) });
  // Entries 1..5 two days ago, 6..10 in the last minutes.
  for (let i = 1; i <= 10; i++) await store.append([entry(i, i <= 5 ? NOW - 2 * 86_400_000 + i : NOW - 60_000 + i)]);
  const report = await store.verify();
  head = `${report.head.seq}:${report.head.hash}`;
  await store.close();
  const events = new SqliteEventsStore(eventsDb);
  events.insert([
    { time: NOW - 3 * 3_600_000, type: 'auth.login-failed', severity: 'low', route: 'auth', requestId: 'old', client: 'h:aa', details: {} },
    { time: NOW - 60_000, type: 'auth.brute-force-lockout', severity: 'high', route: 'auth', requestId: 'lock', client: 'h:bb', details: { scope: 'account' } },
    { time: NOW - 50_000, type: 'csp.violation', severity: 'low', route: null, requestId: '\u001b[31mred', client: null, details: { uri: 'x\u001b[2J' } },
    { time: NOW - 40_000, type: 'authz.denied', severity: 'medium', route: 'orders', requestId: 'deny', client: 'h:cc', details: { check: 'object' } },
  ]);
  events.close();
});

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await client.end();
});

describe('rampart audit verify', () => {
  it('exits 0 with the count and head of an intact chain', async () => {
    const run = await rampart(['audit', 'verify', '--store', `sqlite:${auditDb}`, '--chain-key-env', 'AUDIT_KEY'], ENV);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(`audit chain intact: 10 entries; head seq 10 hash ${head.split(':')[1]}\n`);
    const json = await rampart(['audit', 'verify', '--store', `sqlite:${auditDb}`, '--chain-key-env', 'AUDIT_KEY', '--json', '--expect-head', head], ENV);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: true, count: 10 });
  });

  it('exits 1 when the key is missing or wrong, saying how to give it', async () => {
    const none = await rampart(['audit', 'verify', '--store', `sqlite:${auditDb}`]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/keyed.*--chain-key-env/);
    const wrong = await rampart(['audit', 'verify', '--store', `sqlite:${auditDb}`, '--chain-key-env', 'OTHER'], { OTHER: randomBytes(32).toString('hex') });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/not the key/);
    expect(wrong.stderr).not.toContain(key.toString('base64url'));
  });

  it('exits 1 naming the first broken link after a row is deleted, and --expect-head catches a cut tail', async () => {
    const copy = join(dir, 'tampered.db');
    const db = new Database(auditDb);
    await db.backup(copy);
    db.close();
    const t = new Database(copy);
    t.exec('DROP TRIGGER audit_chain_no_delete; DROP TRIGGER audit_head_forward');
    t.exec('DELETE FROM audit_chain WHERE seq = 5');
    t.close();
    const run = await rampart(['audit', 'verify', '--store', `sqlite:${copy}`, '--chain-key-env', 'AUDIT_KEY'], ENV);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^audit chain BROKEN at seq 5 \(missing\): seq 5 is missing/);
    expect(run.stdout).toContain('4 entries verified before the break');

    const cut = join(dir, 'cut.db');
    const db2 = new Database(auditDb);
    await db2.backup(cut);
    db2.close();
    const c = new Database(cut);
    c.exec('DROP TRIGGER audit_chain_no_delete; DROP TRIGGER audit_head_forward');
    c.exec('DELETE FROM audit_chain WHERE seq > 8');
    c.exec('UPDATE audit_head SET seq = 8, hash = (SELECT hash FROM audit_chain WHERE seq = 8)');
    c.close();
    expect((await rampart(['audit', 'verify', '--store', `sqlite:${cut}`, '--chain-key-env', 'AUDIT_KEY'], ENV)).code).toBe(0);
    const anchored = await rampart(['audit', 'verify', '--store', `sqlite:${cut}`, '--chain-key-env', 'AUDIT_KEY', '--expect-head', head], ENV);
    expect(anchored.code).toBe(1);
    expect(anchored.stdout).toMatch(/BROKEN at seq 10 \(missing\)/);
  });

  // Every tampering case of test/fixtures/audit/tamper.ts (edited rows, deleted rows, swapped pairs, an inserted row;
  // test/audit-chain.test.ts runs them through store.verify()) through the command an operator runs: a real
  // process on a copy of the 10-entry keyed chain changed with plain SQL, exit 1 and the first broken link named.
  it.each(TAMPER_CASES.map((c) => [c.name, c] as const))('exits 1 naming the first broken link for %s', async (_name, tamper) => {
    const copy = join(dir, `tamper-${TAMPER_CASES.indexOf(tamper)}.db`);
    const source = new Database(auditDb);
    expect((source.prepare('SELECT count(*) AS n FROM audit_chain').get() as { n: number }).n).toBe(CHAIN_LENGTH);
    await source.backup(copy);
    source.close();
    const db = new Database(copy);
    for (const trigger of ['audit_chain_no_update', 'audit_chain_no_delete', 'audit_head_forward', 'audit_head_no_delete']) db.exec(`DROP TRIGGER ${trigger}`);
    const target: TamperTarget = { chain: 'audit_chain', head: 'audit_head', exec: async (sql) => void db.exec(sql) };
    await tamper.apply(target);
    db.close();
    const run = await rampart(['audit', 'verify', '--store', `sqlite:${copy}`, '--chain-key-env', 'AUDIT_KEY'], ENV);
    expect(run.code).toBe(1);
    const lines = run.stdout.split('\n');
    expect(lines[0]).toMatch(new RegExp(`^audit chain BROKEN at seq ${tamper.seq} \\(${tamper.kind}\\): \\S`));
    const before = Math.max(0, tamper.seq - 1);
    expect(lines[1]).toMatch(new RegExp(`^${before} entr${before === 1 ? 'y' : 'ies'} verified before the break; last intact: seq ${before} hash [0-9a-f]{64}$`));
    const json = await rampart(['audit', 'verify', '--store', `sqlite:${copy}`, '--chain-key-env', 'AUDIT_KEY', '--json'], ENV);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, count: before, broken: { seq: tamper.seq, kind: tamper.kind } });
  });

  it('verifies a PostgreSQL chain by URL and schema', async () => {
    const store = await openAuditStore(DATABASE_URL, { hasher: new ChainHasher(), schema });
    await store.append([entry(1, NOW), entry(2, NOW)]);
    await store.close();
    const run = await rampart(['audit', 'verify', '--store', DATABASE_URL, '--schema', schema]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^audit chain intact: 2 entries; head seq 2 hash [0-9a-f]{64}\n$/);
  });

  const usage: Array<[string, string[]]> = [
    ['neither config nor store', ['audit', 'verify']],
    ['both config and store', ['audit', 'verify', '-c', 'x.yaml', '--store', 'sqlite:x.db']],
    ['a bad expected head', ['audit', 'verify', '--store', `sqlite:${auditDb}`, '--expect-head', '10:xyz']],
    ['a hostile env name', ['audit', 'verify', '--store', `sqlite:${auditDb}`, '--chain-key-env', 'A;rm -rf']],
    ['an unset env name', ['audit', 'verify', '--store', `sqlite:${auditDb}`, '--chain-key-env', 'RAMPART_TEST_UNSET_VAR']],
    ['a hostile schema', ['audit', 'verify', '--store', DATABASE_URL, '--schema', 'x; drop table y']],
    ['an export format', ['audit', 'export', '--store', `sqlite:${auditDb}`, '--format', 'csv']],
    ['an export time', ['audit', 'export', '--store', `sqlite:${auditDb}`, '--since', 'yesterday']],
  ];
  it.each(usage)('exits 2 on %s', async (_what, args) => {
    const run = await rampart(args, ENV);
    expect(run.code).toBe(2);
  });

  it('exits 1 for a store that does not exist, or an unknown scheme, without echoing credentials', async () => {
    const missing = await rampart(['audit', 'verify', '--store', `sqlite:${join(dir, 'nope.db')}`]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no audit store/);
    const scheme = await rampart(['audit', 'verify', '--store', 'mysql://root:hunter2@db/x']);
    expect(scheme.code).toBe(1);
    expect(scheme.stderr).not.toContain('hunter2');
  });

  it('with a config that has no audit: section, says so (exit 1)', async () => {
    const config = join(dir, 'rampart.yaml');
    writeFileSync(config, 'mode: development\nlisten: { host: 127.0.0.1, port: 0 }\nroutes:\n  - { id: s, match: { path: /s }, upstream: "http://127.0.0.1:9", public: true }\n');
    const run = await rampart(['audit', 'verify', '-c', config]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/no audit: section/);
  });
});

describe('rampart audit export', () => {
  it('prints the entries since a time as JSON lines with seq, prev and hash', async () => {
    const recent = await rampart(['audit', 'export', '--store', `sqlite:${auditDb}`, '--chain-key-env', 'AUDIT_KEY', '--since', '1h'], ENV);
    expect(recent.code).toBe(0);
    const lines = recent.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => l.seq)).toEqual([6, 7, 8, 9, 10]);
    expect(lines[0]).toMatchObject({ type: 'auth.login-failed', requestId: 'r6', details: { i: 6 } });
    expect(lines[1]!.prev).toBe(lines[0]!.hash);
    expect(new Date(lines[0]!.at as string).getTime()).toBe(lines[0]!.time);
    const since = new Date(NOW - 3 * 86_400_000).toISOString();
    const all = await rampart(['audit', 'export', '--store', `sqlite:${auditDb}`, '--chain-key-env', 'AUDIT_KEY', '--since', since, '--format', 'jsonl'], ENV);
    expect(all.stdout.trim().split('\n')).toHaveLength(10);
  });

  it('marks a stored time Date cannot represent (a row changed outside Rampart) and still exports every entry', async () => {
    const file = join(dir, 'audit-damaged-time.db');
    const store = await openAuditStore(`sqlite:${file}`, { hasher: new ChainHasher(key) });
    for (let i = 1; i <= 3; i++) await store.append([entry(i, NOW - 60_000 + i)]);
    await store.close();
    const raw = new Database(file);
    raw.exec('DROP TRIGGER audit_chain_no_update');
    raw.prepare('UPDATE audit_chain SET time = 9000000000000000 WHERE seq = 2').run();
    raw.close();
    const run = await rampart(['audit', 'export', '--store', `sqlite:${file}`, '--chain-key-env', 'AUDIT_KEY'], ENV);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    const lines = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as { seq: number; time: number; at: string });
    expect(lines.map((l) => [l.seq, l.at])).toEqual([
      [1, new Date(NOW - 60_000 + 1).toISOString()],
      [2, 'invalid time (9000000000000000)'],
      [3, new Date(NOW - 60_000 + 3).toISOString()],
    ]);
    expect(lines[1]!.time).toBe(9_000_000_000_000_000);
  });
});

describe('rampart events', () => {
  it('prints a table of recent events at a minimum severity', async () => {
    const run = await rampart(['events', '--store', `sqlite:${eventsDb}`, '--since', '1h', '--severity', 'medium']);
    expect(run.code).toBe(0);
    const lines = run.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^TIME\s+SEVERITY\s+TYPE\s+ROUTE\s+CLIENT\s+REQUEST\s+DETAILS$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/)[2])).toEqual(['auth.brute-force-lockout', 'authz.denied']);
  });

  it('filters by type prefix and prints JSON lines; escapes control characters in the table', async () => {
    const json = await rampart(['events', '--store', `sqlite:${eventsDb}`, '--since', '1d', '--type', 'auth.*', '--json']);
    expect(json.code).toBe(0);
    expect(json.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { requestId: string }).requestId)).toEqual(['old', 'lock']);
    const table = await rampart(['events', '--store', `sqlite:${eventsDb}`, '--type', 'csp.violation']);
    expect(table.code).toBe(0);
    expect(table.stdout).not.toContain('\u001b');
    expect(table.stdout).toContain('\\u001b[31mred');
  });

  it('marks a stored time Date cannot represent (a row changed outside Rampart) and still lists the other rows', async () => {
    const file = join(dir, 'events-damaged-time.db');
    const events = new SqliteEventsStore(file);
    events.insert([
      { time: NOW - 60_000, type: 'auth.login-failed', severity: 'low', route: 'auth', requestId: 'healthy', client: 'h:aa', details: {} },
      { time: NOW - 50_000, type: 'auth.login-failed', severity: 'low', route: 'auth', requestId: 'damaged', client: 'h:bb', details: {} },
    ]);
    events.close();
    const raw = new Database(file);
    raw.prepare("UPDATE security_events SET time = 9000000000000000 WHERE request_id = 'damaged'").run();
    raw.close();
    const table = await rampart(['events', '--store', `sqlite:${file}`, '--since', '1h']);
    expect(table).toMatchObject({ code: 0, stderr: '' });
    const rows = table.stdout.trim().split('\n').slice(1);
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z\s.*\shealthy\s/);
    expect(rows[1]).toMatch(/^invalid time \(9000000000000000\)\s.*\sdamaged\s/);
    const json = await rampart(['events', '--store', `sqlite:${file}`, '--since', '1h', '--json']);
    expect(json).toMatchObject({ code: 0, stderr: '' });
    expect(json.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { requestId: string; at: string }).at)).toEqual([
      new Date(NOW - 60_000).toISOString(),
      'invalid time (9000000000000000)',
    ]);
  });

  it('says when nothing matches', async () => {
    const run = await rampart(['events', '--store', `sqlite:${eventsDb}`, '--type', 'nothing.here']);
    expect(run).toMatchObject({ code: 0, stdout: 'no matching events\n' });
  });

  const usage: Array<[string, string[]]> = [
    ['an unknown severity', ['--severity', 'urgent']],
    ['a bad time', ['--since', '1 week']],
    ['a date that does not exist', ['--since', '2026-02-31']],
    ['a bad limit', ['--limit', '0']],
    ['a huge limit', ['--limit', '99999999']],
    ['a wildcard in the middle', ['--type', 'auth.*.x']],
  ];
  it.each(usage)('exits 2 on %s', async (_what, args) => {
    const run = await rampart(['events', '--store', `sqlite:${eventsDb}`, ...args]);
    expect(run.code).toBe(2);
  });

  it('exits 1 for a store that does not exist', async () => {
    const run = await rampart(['events', '--store', `sqlite:${join(dir, 'none.db')}`]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/no events store/);
  });
});
