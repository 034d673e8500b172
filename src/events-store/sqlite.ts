/**
 * SQLite events store: one table, indexed by time, severity and type. Inserts come in batches (recorder.ts) in one
 * transaction; retention deletes in chunks so a large sweep never holds the write lock for long, with
 * `secure_delete` so expired rows do not linger in free pages (retention is a privacy promise, not only a size one).
 */
import type Database from 'better-sqlite3';
import { canonicalJson } from '../audit/canonical-json.ts';
import { parseJsonObject } from '../audit/json-object.ts';
import { openSqliteFile } from '../audit/sqlite-file.ts';
import type { AuditDurability } from '../audit/store.ts';
import { clampLimit, compileTypeFilter, severityRank, SEVERITIES, type EventQuery, type EventRow, type EventsStore, type RetentionPolicy, type StoredEvent } from './types.ts';

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS security_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,   -- never reused, so "keep the newest N" is a cut by id
    time        INTEGER NOT NULL,
    type        TEXT NOT NULL,
    severity    INTEGER NOT NULL CHECK (severity BETWEEN 0 AND 4),
    route       TEXT,
    request_id  TEXT,
    client      TEXT,
    details     TEXT NOT NULL
  ) STRICT;
  CREATE INDEX IF NOT EXISTS security_events_time ON security_events (time);
  CREATE INDEX IF NOT EXISTS security_events_severity ON security_events (severity, time);
  CREATE INDEX IF NOT EXISTS security_events_type ON security_events (type, time);
`;

/** Rows deleted per statement during a sweep. */
const SWEEP_CHUNK = 5000;

/** A row of `security_events` as SQLite returns it (also read by src/privacy/subject/events.ts). */
export interface SecurityEventRow {
  id: number;
  time: number;
  type: string;
  severity: number;
  route: string | null;
  request_id: string | null;
  client: string | null;
  details: string;
}

/**
 * A stored row as the port's StoredEvent. Details that are not a JSON object (a file edited or damaged outside
 * Rampart: text that no longer parses, or `null`, an array, a number…) read as `{ unreadable: true }`: one bad row must
 * not make every query that reaches it fail, nor hand consumers (privacy report, alerts) details they cannot index.
 */
export function storedEventOf(row: SecurityEventRow): StoredEvent {
  const details = parseJsonObject(row.details) ?? { unreadable: true };
  return {
    id: row.id,
    time: row.time,
    type: row.type,
    severity: SEVERITIES[row.severity] ?? 'info',
    route: row.route,
    requestId: row.request_id,
    client: row.client,
    details,
  };
}

export class SqliteEventsStore implements EventsStore {
  readonly kind = 'sqlite' as const;
  readonly #db: Database.Database;
  readonly #insert: Database.Statement;
  readonly #insertMany: (rows: readonly EventRow[]) => void;

  constructor(path: string, options: { durability?: AuditDurability; busyTimeoutMs?: number } = {}) {
    this.#db = openSqliteFile(path, options);
    try {
      this.#db.pragma('secure_delete = ON');
      this.#db.transaction(() => this.#db.exec(SCHEMA)).immediate();
    } catch (error) {
      this.#db.close();
      throw error;
    }
    this.#insert = this.#db.prepare('INSERT INTO security_events (time, type, severity, route, request_id, client, details) VALUES (?, ?, ?, ?, ?, ?, ?)');
    const tx = this.#db.transaction((rows: readonly EventRow[]) => {
      for (const r of rows) this.#insert.run(r.time, r.type, severityRank(r.severity), r.route, r.requestId, r.client, canonicalJson(r.details));
    });
    this.#insertMany = (rows) => tx.immediate(rows);
  }

  insert(rows: readonly EventRow[]): void {
    if (rows.length > 0) this.#insertMany(rows);
  }

  query(query: EventQuery): StoredEvent[] {
    const where: string[] = [];
    const args: Array<number | string> = [];
    const add = (condition: string, ...values: Array<number | string>) => {
      where.push(condition);
      args.push(...values);
    };
    if (query.since !== undefined) add('time >= ?', query.since);
    if (query.until !== undefined) add('time < ?', query.until);
    if (query.minSeverity !== undefined) add('severity >= ?', severityRank(query.minSeverity));
    const types = compileTypeFilter(query.types);
    if (types !== undefined) {
      // substr, not LIKE: a type containing `_` or `%` must not act as a wildcard.
      const ors = [...types.exact.map(() => 'type = ?'), ...types.prefixes.map(() => 'substr(type, 1, ?) = ?')];
      add(`(${ors.join(' OR ')})`, ...types.exact, ...types.prefixes.flatMap((p) => [p.length, p]));
    }
    const sql = `SELECT id, time, type, severity, route, request_id, client, details FROM security_events
      ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY time DESC, id DESC LIMIT ${clampLimit(query.limit)}`;
    const rows = this.#db.prepare(sql).all(...args) as SecurityEventRow[];
    return rows.reverse().map(storedEventOf);
  }

  sweep(now: number, retention: RetentionPolicy): number {
    let deleted = 0;
    const chunked = (sql: string, ...args: number[]) => {
      const statement = this.#db.prepare(sql);
      for (;;) {
        const { changes } = statement.run(...args);
        deleted += changes;
        if (changes < SWEEP_CHUNK) return;
      }
    };
    if (retention.maxAgeMs !== undefined && retention.maxAgeMs > 0) {
      chunked(`DELETE FROM security_events WHERE id IN (SELECT id FROM security_events WHERE time < ? LIMIT ${SWEEP_CHUNK})`, now - retention.maxAgeMs);
    }
    if (retention.maxRows !== undefined && retention.maxRows > 0) {
      const cut = this.#db.prepare('SELECT id FROM security_events ORDER BY id DESC LIMIT 1 OFFSET ?').get(retention.maxRows) as { id: number } | undefined;
      if (cut !== undefined) chunked(`DELETE FROM security_events WHERE id IN (SELECT id FROM security_events WHERE id <= ? LIMIT ${SWEEP_CHUNK})`, cut.id);
    }
    return deleted;
  }

  count(): number {
    return (this.#db.prepare('SELECT count(*) AS n FROM security_events').get() as { n: number }).n;
  }

  /** The durability settings in force (tests and `rampart events --verbose`). */
  pragmas(): Record<string, unknown> {
    return { journal_mode: this.#db.pragma('journal_mode', { simple: true }), synchronous: this.#db.pragma('synchronous', { simple: true }) };
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}
