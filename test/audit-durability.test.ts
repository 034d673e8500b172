/**
 * Durability and concurrency of the audit chain with real processes (test/fixtures/audit/append-loop.ts run with
 * `process.execPath --import tsx`):
 * - kill -9 during load: every entry the child acknowledged (printed after its append returned) is present after
 *   reopening, and the chain verifies; SQLite with durability process and power, and PostgreSQL;
 * - two processes appending to one SQLite file at the same moment: the chain verifies, no seq lost or duplicated.
 * Counts only, no timing assertions.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { ChainHasher } from '../src/audit/chain.ts';
import { openAuditStore } from '../src/audit/store.ts';

vi.setConfig({ testTimeout: 120_000, hookTimeout: 60_000 });

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const FIXTURE = join(ROOT, 'test', 'fixtures', 'audit', 'append-loop.ts');
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const dir = mkdtempSync(join(tmpdir(), 'rampart-audit-durable-'));
const schemas: string[] = [];

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  if (schemas.length === 0) return;
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  for (const schema of schemas) await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await client.end();
});

interface Child {
  readonly process: ChildProcess;
  readonly acks: number[];
  readonly ready: Promise<void>;
  /** After 'close': the child exited and its stdout was read to the end, so `acks` is complete. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves once `n` acks were printed (or rejects when the child exits first). */
  acked(n: number): Promise<void>;
  stderr(): string;
}

function startChild(args: string[], env: Record<string, string> = {}): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  const acks: number[] = [];
  let err = '';
  child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  let readyResolve!: () => void;
  const ready = new Promise<void>((resolve) => (readyResolve = resolve));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (line === 'ready') readyResolve();
    const match = /^ack (\d+) /.exec(line);
    if (!match) return;
    acks.push(Number(match[1]));
    for (const w of waiters.filter((w) => acks.length >= w.n)) w.resolve();
  });
  return {
    process: child,
    acks,
    ready: Promise.race([ready, exited.then(() => Promise.reject(new Error(`child exited before ready: ${err}`)))]),
    acked: (n) =>
      Promise.race([
        new Promise<void>((resolve) => (acks.length >= n ? resolve() : waiters.push({ n, resolve }))),
        exited.then(() => (acks.length >= n ? undefined : Promise.reject(new Error(`child exited after ${acks.length} acks: ${err}`)))),
      ]),
    exited,
    stderr: () => err,
  };
}

async function presentSeqs(url: string, hasher: ChainHasher, schema?: string): Promise<{ seqs: Set<number>; labels: Map<number, string>; verified: Awaited<ReturnType<Awaited<ReturnType<typeof openAuditStore>>['verify']>> }> {
  const store = await openAuditStore(url, { hasher, ...(schema ? { schema } : {}) });
  const seqs = new Set<number>();
  const labels = new Map<number, string>();
  for await (const e of store.read()) {
    seqs.add(e.seq);
    labels.set(e.seq, String(e.details.label));
  }
  const verified = await store.verify();
  await store.close();
  return { seqs, labels, verified };
}

describe('kill -9 during load', () => {
  const cases = [
    { name: 'SQLite, durability process', url: () => `sqlite:${join(dir, `kill-process-${randomBytes(3).toString('hex')}.db`)}`, durability: 'process', schema: undefined },
    { name: 'SQLite, durability power', url: () => `sqlite:${join(dir, `kill-power-${randomBytes(3).toString('hex')}.db`)}`, durability: 'power', schema: undefined },
    { name: 'PostgreSQL', url: () => DATABASE_URL, durability: 'process', schema: `rampart_audit_kill_${process.pid}_${randomBytes(3).toString('hex')}` },
  ];
  it.each(cases.map((c) => [c.name, c] as const))('%s: every acknowledged entry survives and the chain verifies', async (_name, c) => {
    const url = c.url();
    if (c.schema) schemas.push(c.schema);
    const key = randomBytes(32);
    const child = startChild([url, 'forever', 'K', c.durability, ...(c.schema ? [c.schema] : [])], { AUDIT_CHAIN_KEY: key.toString('hex') });
    await child.ready;
    child.process.stdin!.write('go\n');
    await child.acked(300);
    child.process.kill('SIGKILL');
    const exit = await child.exited;
    expect(exit.signal).toBe('SIGKILL');
    const acked = [...child.acks];
    expect(acked.length).toBeGreaterThanOrEqual(300);
    const { seqs, verified } = await presentSeqs(url, new ChainHasher(key), c.schema);
    const lost = acked.filter((seq) => !seqs.has(seq));
    expect(lost).toEqual([]);
    expect(verified.ok).toBe(true);
    // At most the one append in flight at the kill can be present without its ack.
    expect(verified.count - acked.length).toBeGreaterThanOrEqual(0);
    expect(verified.count - acked.length).toBeLessThanOrEqual(1);
  });
});

describe('two processes appending to one SQLite file', () => {
  it('keeps one linear chain: no seq lost or duplicated', async () => {
    const url = `sqlite:${join(dir, 'concurrent.db')}`;
    const PER_CHILD = 250;
    const BATCH = 25;
    const a = startChild([url, String(PER_CHILD), 'A'], { AUDIT_BATCH: String(BATCH) });
    const b = startChild([url, String(PER_CHILD), 'B'], { AUDIT_BATCH: String(BATCH) });
    await Promise.all([a.ready, b.ready]);
    // Both are released together for every batch, so the appends race inside each batch and the two chains of
    // seqs cannot come out as one block each, however slowly one process is scheduled.
    for (let done = BATCH; done <= PER_CHILD; done += BATCH) {
      a.process.stdin!.write('go\n');
      b.process.stdin!.write('go\n');
      await Promise.all([a.acked(done), b.acked(done)]);
    }
    a.process.stdin!.end();
    b.process.stdin!.end();
    const [ea, eb] = await Promise.all([a.exited, b.exited]);
    expect(ea.code, a.stderr()).toBe(0);
    expect(eb.code, b.stderr()).toBe(0);
    expect(a.acks).toHaveLength(PER_CHILD);
    expect(b.acks).toHaveLength(PER_CHILD);
    const all = [...a.acks, ...b.acks];
    expect(new Set(all).size).toBe(2 * PER_CHILD);
    expect(Math.max(...all)).toBe(2 * PER_CHILD);
    const { seqs, labels, verified } = await presentSeqs(url, new ChainHasher());
    expect(verified).toMatchObject({ ok: true, count: 2 * PER_CHILD });
    expect(seqs.size).toBe(2 * PER_CHILD);
    for (const seq of a.acks) expect(labels.get(seq)).toBe('A');
    for (const seq of b.acks) expect(labels.get(seq)).toBe('B');
    // The appends really interleaved (otherwise this proves nothing about the lock): each child's seqs are not one block.
    const runs = [...seqs].sort((x, y) => x - y).filter((seq, i, sorted) => i > 0 && labels.get(seq) !== labels.get(sorted[i - 1]!)).length;
    expect(runs).toBeGreaterThan(1);
  });
});
