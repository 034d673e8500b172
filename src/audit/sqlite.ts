/**
 * SQLite audit chain. better-sqlite3 is synchronous, so `appendSync` commits before it returns: an audit event
 * emitted while a request is handled is durable (per `durability`) before the response is written.
 *
 * Several processes may append to one file: each append is one `BEGIN IMMEDIATE` transaction that takes SQLite's
 * write lock first, then reads the head row, links the new entries after it, inserts them and moves the head.
 * Another process waiting for the lock (`busy_timeout`) then reads the new head, so no `seq` is lost or duplicated
 * and the chain stays linear. The head is never cached between appends for the same reason.
 *
 * Triggers refuse UPDATE and DELETE on the chain and the head can only move forward. They stop mistakes and
 * careless tools, not an attacker with write access to the file (who can drop them): that is what the hash chain
 * and the optional chain key are for (chain.ts).
 */
import { existsSync } from 'node:fs';
import type Database from 'better-sqlite3';
import { ChainMismatchError, GENESIS_HASH, checkMeta, metaOf, type AuditEntry, type AuditEntryInput, type ChainHasher, type ChainHead, type ChainMeta } from './chain.ts';
import { openSqliteFile } from './sqlite-file.ts';
import { AuditStoreError, readConditions, type AuditReadOptions, type AuditStore, type OpenAuditStoreOptions } from './store.ts';
import { entryOf, verifyChain, type StoredLink, type VerifyOptions, type VerifyReport } from './verify.ts';

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS audit_meta (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
  ) STRICT;
  CREATE TABLE IF NOT EXISTS audit_chain (
    seq         INTEGER PRIMARY KEY,          -- assigned from the head, never by AUTOINCREMENT
    time        INTEGER NOT NULL,             -- ms since the epoch
    type        TEXT NOT NULL,
    actor       TEXT NOT NULL,
    client      TEXT,
    route       TEXT,
    request_id  TEXT,
    outcome     TEXT NOT NULL,
    details     TEXT NOT NULL,                -- canonical JSON (RFC 8785), redacted
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
  ) STRICT;
  CREATE INDEX IF NOT EXISTS audit_chain_time ON audit_chain (time);
  CREATE TABLE IF NOT EXISTS audit_head (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    seq   INTEGER NOT NULL,
    hash  TEXT NOT NULL
  ) STRICT;
  CREATE TRIGGER IF NOT EXISTS audit_chain_no_update BEFORE UPDATE ON audit_chain
    BEGIN SELECT RAISE(ABORT, 'the audit chain is append-only'); END;
  CREATE TRIGGER IF NOT EXISTS audit_chain_no_delete BEFORE DELETE ON audit_chain
    BEGIN SELECT RAISE(ABORT, 'the audit chain is append-only'); END;
  CREATE TRIGGER IF NOT EXISTS audit_head_forward BEFORE UPDATE ON audit_head
    WHEN NEW.seq <= OLD.seq BEGIN SELECT RAISE(ABORT, 'the audit head only moves forward'); END;
  CREATE TRIGGER IF NOT EXISTS audit_head_no_delete BEFORE DELETE ON audit_head
    BEGIN SELECT RAISE(ABORT, 'the audit head cannot be deleted'); END;
`;

interface Row {
  seq: number;
  time: number;
  type: string;
  actor: string;
  client: string | null;
  route: string | null;
  request_id: string | null;
  outcome: string;
  details: string;
  prev_hash: string;
  hash: string;
}

const PAGE = 1000;
const COLUMNS = 'seq, time, type, actor, client, route, request_id, outcome, details, prev_hash, hash';

function linkOf(row: Row): StoredLink {
  return {
    seq: row.seq,
    time: row.time,
    type: row.type,
    actor: row.actor,
    client: row.client,
    route: row.route,
    requestId: row.request_id,
    outcome: row.outcome,
    details: row.details,
    prev: row.prev_hash,
    hash: row.hash,
  };
}

function readMeta(db: Database.Database): ChainMeta {
  const rows = db.prepare('SELECT name, value FROM audit_meta').all() as Array<{ name: string; value: string }>;
  const map = new Map(rows.map((r) => [r.name, r.value]));
  const mode = map.get('hash');
  if (mode !== 'sha256' && mode !== 'hmac-sha256') throw new ChainMismatchError('audit chain metadata is missing or damaged (hash mode)');
  return { format: Number(map.get('format')), mode, keyId: map.get('key_id') || null };
}

export class SqliteAuditStore implements AuditStore {
  readonly kind = 'sqlite' as const;
  readonly hasher: ChainHasher;
  readonly #db: Database.Database;
  readonly #selectHead: Database.Statement;
  readonly #insert: Database.Statement;
  readonly #setHead: Database.Statement;
  readonly #appendTx: (inputs: readonly AuditEntryInput[]) => AuditEntry[];
  #closed = false;

  private constructor(db: Database.Database, hasher: ChainHasher) {
    this.#db = db;
    this.hasher = hasher;
    this.#selectHead = db.prepare('SELECT seq, hash FROM audit_head WHERE id = 1');
    this.#insert = db.prepare(`INSERT INTO audit_chain (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    this.#setHead = db.prepare('UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1');
    const tx = db.transaction((inputs: readonly AuditEntryInput[]) => {
      const head = this.#selectHead.get() as ChainHead | undefined;
      // Never restart a chain silently: a missing head means someone deleted it (verify reports it).
      if (head === undefined) throw new AuditStoreError('the audit head row is missing; run rampart audit verify');
      const linked = this.hasher.link(head, inputs);
      for (const { entry: e, detailsText } of linked) {
        this.#insert.run(e.seq, e.time, e.type, e.actor, e.client, e.route, e.requestId, e.outcome, detailsText, e.prev, e.hash);
      }
      const last = linked[linked.length - 1]?.entry;
      if (last !== undefined && this.#setHead.run(last.seq, last.hash).changes !== 1) throw new AuditStoreError('the audit head row is missing');
      return linked.map((l) => l.entry);
    });
    // BEGIN IMMEDIATE: take the write lock before reading the head, so two processes cannot link after the same head.
    this.#appendTx = (inputs) => tx.immediate(inputs);
  }

  static open(path: string, options: OpenAuditStoreOptions): SqliteAuditStore {
    if (options.mustExist && (path === ':memory:' || !existsSync(path))) throw new AuditStoreError(`no audit store at ${path}`);
    const db = openSqliteFile(path, options);
    try {
      db.transaction(() => {
        db.exec(SCHEMA);
        const meta = metaOf(options.hasher);
        const insert = db.prepare('INSERT OR IGNORE INTO audit_meta (name, value) VALUES (?, ?)');
        insert.run('format', String(meta.format));
        insert.run('hash', meta.mode);
        insert.run('key_id', meta.keyId ?? '');
        // The head row exists from the start, so an append is a plain UPDATE of it.
        db.prepare('INSERT OR IGNORE INTO audit_head (id, seq, hash) VALUES (1, 0, ?)').run(GENESIS_HASH);
      }).immediate();
      checkMeta(readMeta(db), options.hasher);
    } catch (error) {
      db.close();
      throw error;
    }
    return new SqliteAuditStore(db, options.hasher);
  }

  appendSync(inputs: readonly AuditEntryInput[]): AuditEntry[] {
    if (this.#closed) throw new AuditStoreError('the audit store is closed');
    if (inputs.length === 0) return [];
    return this.#appendTx(inputs);
  }

  async append(inputs: readonly AuditEntryInput[]): Promise<AuditEntry[]> {
    return this.appendSync(inputs);
  }

  async head(): Promise<ChainHead | null> {
    return (this.#selectHead.get() as ChainHead | undefined) ?? null;
  }

  /**
   * Rows in `seq` order, a page at a time: an open better-sqlite3 iterator would keep the connection busy, and
   * callers (verify's break lookup, an export writing while it reads) need it in between.
   */
  *#pages(where: string[], args: number[]): Generator<Row> {
    const sql = `SELECT ${COLUMNS} FROM audit_chain WHERE seq > ? ${where.map((w) => `AND ${w} `).join('')}ORDER BY seq LIMIT ${PAGE}`;
    const statement = this.#db.prepare(sql);
    // Not 0: a row an attacker inserted at seq 0 or below must be seen (and reported) too.
    let after = Number.MIN_SAFE_INTEGER;
    for (;;) {
      const rows = statement.all(after, ...args) as Row[];
      yield* rows;
      if (rows.length < PAGE) return;
      after = rows[rows.length - 1]!.seq;
    }
  }

  async *read(options: AuditReadOptions = {}): AsyncIterable<AuditEntry> {
    const { where, args } = readConditions(options);
    for (const row of this.#pages(where, args)) {
      const link = linkOf(row);
      yield { ...entryOf(link), hash: link.hash };
    }
  }

  async verify(options: VerifyOptions = {}): Promise<VerifyReport> {
    checkMeta(readMeta(this.#db), this.hasher);
    const db = this.#db;
    const pages = () => this.#pages([], []);
    // One read transaction: a consistent snapshot even while other processes append (WAL readers see a snapshot).
    // Every source call below is synchronous, so the awaits only queue microtasks: nothing else runs on this
    // connection before COMMIT.
    db.exec('BEGIN');
    try {
      return await verifyChain(
        {
          links: function* () {
            for (const row of pages()) yield linkOf(row);
          },
          successorsOf: async (hash) => (db.prepare('SELECT seq FROM audit_chain WHERE prev_hash = ? ORDER BY seq').all(hash) as Array<{ seq: number }>).map((r) => r.seq),
          head: async () => (this.#selectHead.get() as ChainHead | undefined) ?? null,
        },
        this.hasher,
        options,
      );
    } finally {
      db.exec('COMMIT');
    }
  }

  async durabilityInForce(): Promise<Record<string, string>> {
    const synchronous = this.#db.pragma('synchronous', { simple: true }) as number;
    const journal = this.#db.pragma('journal_mode', { simple: true }) as string;
    return { journal_mode: journal, synchronous: ['OFF', 'NORMAL', 'FULL', 'EXTRA'][synchronous] ?? String(synchronous) };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#db.close();
  }
}
