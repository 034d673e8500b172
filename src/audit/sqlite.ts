/**
 * SQLite audit chain. better-sqlite3 is synchronous, so `appendSync` commits before it returns: an audit event
 * emitted while a request is handled is durable (per `durability`) before the response is written.
 *
 * Several processes may append to one file: each append is one `BEGIN IMMEDIATE` transaction that takes SQLite's
 * write lock first, then reads the head row, links the new entries after it, inserts them and moves the head.
 * Another process waiting for the lock (`busy_timeout`) then reads the new head, so no `seq` is lost or duplicated
 * and the chain stays linear. The head is never cached between appends for the same reason.
 *
 * Triggers refuse UPDATE and DELETE on the chain and the head can only move forward, with two exceptions that
 * `rampart privacy` needs: an UPDATE that turns a live v2 entry into a tombstone (and changes nothing else), and a
 * DELETE of entries at or below the prune anchor. They stop mistakes and careless tools, not an attacker with write
 * access to the file (who can drop them): that is what the hash chain and the optional chain key are for (chain.ts).
 *
 * Files written before format 2 are upgraded at open: three columns (`v`, `salt`, `commitment`; old rows keep v 1)
 * and the new triggers; old rows stay exactly as they were and verify as v1.
 */
import { existsSync } from 'node:fs';
import type Database from 'better-sqlite3';
import {
  ChainMismatchError,
  GENESIS_HASH,
  checkMeta,
  erasedFields,
  linkFault,
  metaOf,
  type AuditEntry,
  type AuditEntryInput,
  type ChainHasher,
  type ChainHead,
  type ChainMeta,
} from './chain.ts';
import { openSqliteFile } from './sqlite-file.ts';
import {
  AuditStoreError,
  DEFAULT_PRUNE_BATCH,
  readConditions,
  type AuditReadOptions,
  type AuditStore,
  type EraseOutcome,
  type EraseRequest,
  type EraseResult,
  type OpenAuditStoreOptions,
  type PruneInfo,
  type PruneOptions,
  type PruneResult,
} from './store.ts';
import { entryOf, verifyChain, type VerifyOptions, type VerifyReport } from './verify.ts';
import { CHAIN_COLUMNS, CHAIN_PAGE, linkOfRow, type ChainRow } from './stored-row.ts';

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
    details     TEXT NOT NULL,                -- canonical JSON (RFC 8785), redacted; a tombstone once erased
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL,
    v           INTEGER NOT NULL DEFAULT 1,   -- entry format (chain.ts)
    salt        TEXT,                         -- v2: opens the commitment; NULL once erased
    commitment  TEXT                          -- v2: what the link covers instead of the personal fields
  ) STRICT;
  CREATE INDEX IF NOT EXISTS audit_chain_time ON audit_chain (time);
  CREATE TABLE IF NOT EXISTS audit_head (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    seq   INTEGER NOT NULL,
    hash  TEXT NOT NULL
  ) STRICT;
  CREATE TRIGGER IF NOT EXISTS audit_head_forward BEFORE UPDATE ON audit_head
    WHEN NEW.seq <= OLD.seq BEGIN SELECT RAISE(ABORT, 'the audit head only moves forward'); END;
  CREATE TRIGGER IF NOT EXISTS audit_head_no_delete BEFORE DELETE ON audit_head
    BEGIN SELECT RAISE(ABORT, 'the audit head cannot be deleted'); END;
`;

/** Bumped when the chain triggers change: a file with an older version gets them recreated at open. */
const GUARDS_VERSION = '2';
const GUARDS = `
  DROP TRIGGER IF EXISTS audit_chain_no_update;
  DROP TRIGGER IF EXISTS audit_chain_no_delete;
  -- The one UPDATE allowed: a live v2 entry becomes a tombstone and nothing else changes.
  CREATE TRIGGER audit_chain_no_update BEFORE UPDATE ON audit_chain
    WHEN NOT (OLD.v = 2 AND OLD.salt IS NOT NULL AND NEW.salt IS NULL
              AND NEW.seq = OLD.seq AND NEW.time = OLD.time AND NEW.type = OLD.type AND NEW.route IS OLD.route
              AND NEW.outcome = OLD.outcome AND NEW.prev_hash = OLD.prev_hash AND NEW.hash = OLD.hash
              AND NEW.v = OLD.v AND NEW.commitment IS OLD.commitment
              AND NEW.actor = '[erased]' AND NEW.client IS NULL AND NEW.request_id IS NULL
              AND NEW.details LIKE '{"at":%,"erased":true,%')
    BEGIN SELECT RAISE(ABORT, 'the audit chain is append-only'); END;
  -- The one DELETE allowed: entries at or below the prune anchor (retention).
  CREATE TRIGGER audit_chain_no_delete BEFORE DELETE ON audit_chain
    WHEN OLD.seq > COALESCE((SELECT CAST(value AS INTEGER) FROM audit_meta WHERE name = 'anchor_seq'), 0)
    BEGIN SELECT RAISE(ABORT, 'the audit chain is append-only'); END;
`;




function readAnchor(db: Database.Database): ChainHead | null {
  const rows = db.prepare("SELECT name, value FROM audit_meta WHERE name IN ('anchor_seq', 'anchor_hash')").all() as Array<{ name: string; value: string }>;
  const map = new Map(rows.map((r) => [r.name, r.value]));
  const seq = Number(map.get('anchor_seq'));
  const hash = map.get('anchor_hash');
  return Number.isSafeInteger(seq) && seq > 0 && hash !== undefined ? { seq, hash } : null;
}

/** Adds the format 2 columns to a chain table created before them (old rows keep v = 1). */
function upgradeColumns(db: Database.Database): void {
  const have = new Set((db.prepare('PRAGMA table_info(audit_chain)').all() as Array<{ name: string }>).map((c) => c.name));
  if (!have.has('v')) db.exec('ALTER TABLE audit_chain ADD COLUMN v INTEGER NOT NULL DEFAULT 1');
  if (!have.has('salt')) db.exec('ALTER TABLE audit_chain ADD COLUMN salt TEXT');
  if (!have.has('commitment')) db.exec('ALTER TABLE audit_chain ADD COLUMN commitment TEXT');
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
  readonly #eraseTx: (request: EraseRequest) => EraseResult;
  readonly #pruneTx: (beforeTime: number, record: (info: PruneInfo) => AuditEntryInput, maxEntries: number) => PruneResult;
  #closed = false;

  private constructor(db: Database.Database, hasher: ChainHasher) {
    this.#db = db;
    this.hasher = hasher;
    this.#selectHead = db.prepare('SELECT seq, hash FROM audit_head WHERE id = 1');
    this.#insert = db.prepare(`INSERT INTO audit_chain (${CHAIN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    this.#setHead = db.prepare('UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1');
    // Inside a write transaction only.
    const appendLocked = (inputs: readonly AuditEntryInput[]): AuditEntry[] => {
      const head = this.#selectHead.get() as ChainHead | undefined;
      // Never restart a chain silently: a missing head means someone deleted it (verify reports it).
      if (head === undefined) throw new AuditStoreError('the audit head row is missing; run rampart audit verify');
      const linked = this.hasher.link(head, inputs);
      for (const { entry: e, detailsText } of linked) {
        this.#insert.run(e.seq, e.time, e.type, e.actor, e.client, e.route, e.requestId, e.outcome, detailsText, e.prev, e.hash, e.v ?? 1, e.salt ?? null, e.commitment ?? null);
      }
      const last = linked[linked.length - 1]?.entry;
      if (last !== undefined && this.#setHead.run(last.seq, last.hash).changes !== 1) throw new AuditStoreError('the audit head row is missing');
      return linked.map((l) => l.entry);
    };
    const tx = db.transaction(appendLocked);
    // BEGIN IMMEDIATE: take the write lock before reading the head, so two processes cannot link after the same head.
    this.#appendTx = (inputs) => tx.immediate(inputs);

    const selectRow = db.prepare(`SELECT ${CHAIN_COLUMNS} FROM audit_chain WHERE seq = ?`);
    const tombstone = db.prepare('UPDATE audit_chain SET actor = ?, client = NULL, request_id = NULL, details = ?, salt = NULL WHERE seq = ? AND salt IS NOT NULL');
    const erase = db.transaction((request: EraseRequest): EraseResult => {
      const outcome = { erased: [] as number[], notErasable: [] as number[], alreadyErased: [] as number[], missing: [] as number[] };
      for (const seq of [...new Set(request.seqs)].sort((a, b) => a - b)) {
        const row = selectRow.get(seq) as ChainRow | undefined;
        if (row === undefined) outcome.missing.push(seq);
        else if (row.v !== 2) outcome.notErasable.push(seq);
        else if (row.salt === null) outcome.alreadyErased.push(seq);
        else {
          const link = linkOfRow(row);
          if (linkFault(link, this.hasher) !== undefined) throw new AuditStoreError(`audit entry seq ${seq} does not match its hash; run rampart audit verify before erasing`);
          const fields = erasedFields(this.hasher, link, { by: request.by, at: request.at, erasure: request.erasure });
          if (tombstone.run(fields.actor, fields.details, seq).changes !== 1) throw new AuditStoreError(`audit entry seq ${seq} could not be erased`);
          outcome.erased.push(seq);
        }
      }
      const [record] = appendLocked([request.record(outcome as EraseOutcome)]);
      return { ...outcome, record: record! };
    });
    this.#eraseTx = (request) => erase.immediate(request);

    const firstNewer = db.prepare('SELECT min(seq) AS seq FROM audit_chain WHERE seq > ? AND time >= ?');
    const range = db.prepare(`SELECT ${CHAIN_COLUMNS} FROM audit_chain WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ${CHAIN_PAGE}`);
    const setMeta = db.prepare('INSERT INTO audit_meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value');
    const deleteThrough = db.prepare('DELETE FROM audit_chain WHERE seq > ? AND seq <= ?');
    const prune = db.transaction((beforeTime: number, record: (info: PruneInfo) => AuditEntryInput, maxEntries: number): PruneResult => {
      const head = this.#selectHead.get() as ChainHead | undefined;
      if (head === undefined) throw new AuditStoreError('the audit head row is missing; run rampart audit verify');
      const anchor = readAnchor(db);
      const start = anchor?.seq ?? 0;
      const newer = (firstNewer.get(start, beforeTime) as { seq: number | null }).seq;
      const through = Math.min(newer === null ? head.seq : newer - 1, start + maxEntries);
      if (through <= start) return { pruned: 0, anchor };
      // Only a prefix that verifies is pruned: deleting entries that were tampered with would destroy the evidence.
      let last: ChainHead = anchor ?? { seq: 0, hash: GENESIS_HASH };
      for (let after = start; after < through; ) {
        const rows = range.all(after, through) as ChainRow[];
        if (rows.length === 0) break;
        for (const row of rows) {
          const link = linkOfRow(row);
          if (link.seq !== last.seq + 1 || link.prev !== last.hash || linkFault(link, this.hasher) !== undefined) {
            throw new AuditStoreError(`audit entry seq ${last.seq + 1} does not verify; run rampart audit verify before pruning`);
          }
          last = { seq: link.seq, hash: link.hash };
        }
        after = last.seq;
      }
      if (last.seq !== through) throw new AuditStoreError(`audit entry seq ${last.seq + 1} is missing; run rampart audit verify before pruning`);
      setMeta.run('anchor_seq', String(last.seq));
      setMeta.run('anchor_hash', last.hash);
      const pruned = deleteThrough.run(start, through).changes;
      const [entry] = appendLocked([record({ anchor: last, pruned, beforeTime })]);
      return { pruned, anchor: last, record: entry! };
    });
    this.#pruneTx = (beforeTime, record, maxEntries) => prune.immediate(beforeTime, record, maxEntries);
  }

  static open(path: string, options: OpenAuditStoreOptions): SqliteAuditStore {
    if (options.mustExist && (path === ':memory:' || !existsSync(path))) throw new AuditStoreError(`no audit store at ${path}`);
    const db = openSqliteFile(path, options);
    try {
      // Erasure (privacy/subject) must be able to make content unrecoverable from the file: with secure_delete, SQLite
      // zeroes every byte it frees, including the stale copies a page split leaves behind while entries are
      // appended. Files written before this was set may hold such copies from then: docs/privacy.md says to VACUUM
      // them once.
      db.pragma('secure_delete = ON');
      db.transaction(() => {
        db.exec(SCHEMA);
        upgradeColumns(db);
        const meta = metaOf(options.hasher);
        const insert = db.prepare('INSERT OR IGNORE INTO audit_meta (name, value) VALUES (?, ?)');
        insert.run('format', String(meta.format));
        insert.run('hash', meta.mode);
        insert.run('key_id', meta.keyId ?? '');
        // `format` is the newest entry format in the chain: raised (never lowered) when this hasher writes a newer one.
        db.prepare("UPDATE audit_meta SET value = ? WHERE name = 'format' AND CAST(value AS INTEGER) < ?").run(String(meta.format), meta.format);
        const guards = db.prepare("SELECT value FROM audit_meta WHERE name = 'guards'").get() as { value: string } | undefined;
        if (guards?.value !== GUARDS_VERSION) {
          db.exec(GUARDS);
          db.prepare("INSERT INTO audit_meta (name, value) VALUES ('guards', ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value").run(GUARDS_VERSION);
        }
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
  *#pages(where: string[], args: number[]): Generator<ChainRow> {
    const sql = `SELECT ${CHAIN_COLUMNS} FROM audit_chain WHERE seq > ? ${where.map((w) => `AND ${w} `).join('')}ORDER BY seq LIMIT ${CHAIN_PAGE}`;
    const statement = this.#db.prepare(sql);
    // Not 0: a row an attacker inserted at seq 0 or below must be seen (and reported) too.
    let after = Number.MIN_SAFE_INTEGER;
    for (;;) {
      const rows = statement.all(after, ...args) as ChainRow[];
      yield* rows;
      if (rows.length < CHAIN_PAGE) return;
      after = Number(rows[rows.length - 1]!.seq);
    }
  }

  async *read(options: AuditReadOptions = {}): AsyncIterable<AuditEntry> {
    const { where, args } = readConditions(options);
    for (const row of this.#pages(where, args)) {
      const link = linkOfRow(row);
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
            for (const row of pages()) yield linkOfRow(row);
          },
          successorsOf: async (hash) => (db.prepare('SELECT seq FROM audit_chain WHERE prev_hash = ? ORDER BY seq').all(hash) as Array<{ seq: number }>).map((r) => r.seq),
          head: async () => (this.#selectHead.get() as ChainHead | undefined) ?? null,
          anchor: async () => readAnchor(db),
        },
        this.hasher,
        options,
      );
    } finally {
      db.exec('COMMIT');
    }
  }

  async erase(request: EraseRequest): Promise<EraseResult> {
    if (this.#closed) throw new AuditStoreError('the audit store is closed');
    // Erased bytes must not linger in the file (secure_delete, set at open, zeroes what is freed) nor in old frames
    // of the write-ahead log (a TRUNCATE checkpoint empties it when no other connection still reads an old snapshot).
    const result = this.#eraseTx(request);
    this.#checkpoint();
    return result;
  }

  async prune(beforeTime: number, record: (info: PruneInfo) => AuditEntryInput, options: PruneOptions = {}): Promise<PruneResult> {
    if (this.#closed) throw new AuditStoreError('the audit store is closed');
    if (!Number.isSafeInteger(beforeTime)) throw new AuditStoreError('prune time must be an integer');
    const maxEntries = options.maxEntries ?? DEFAULT_PRUNE_BATCH;
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) throw new AuditStoreError('maxEntries must be a positive integer');
    const result = this.#pruneTx(beforeTime, record, maxEntries);
    if (result.pruned > 0) this.#checkpoint();
    return result;
  }

  async anchor(): Promise<ChainHead | null> {
    return readAnchor(this.#db);
  }

  /** Best effort: another process reading the file keeps old frames until it moves on (documented). */
  #checkpoint(): void {
    try {
      this.#db.pragma('wal_checkpoint(TRUNCATE)');
    } catch {
      // A busy checkpoint is retried by SQLite's automatic checkpoints; the erasure itself is committed.
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
