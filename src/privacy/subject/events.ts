/**
 * The rows of the SQLite events store (src/events-store/sqlite.ts, table `security_events`) that concern a subject:
 * found by a scan in id order, a page at a time (a store holds up to `events.maxRows`, never all in memory at
 * once), and deleted by id for an erasure.
 *
 * Why not through the `EventsStore` port: it offers time and severity queries (bounded to 100,000 rows) and age
 * retention, not "every row whose details name X" nor deletion by row. Until the port grows those two methods
 * (asked for in the issue 7 report) this module reads and deletes with plain SQL on the same file, touching
 * nothing but `security_events` rows, with `secure_delete` so erased rows do not stay in free pages and a TRUNCATE
 * checkpoint so they do not stay in the write-ahead log. The file is never created here: a store that does not
 * exist holds nothing.
 */
import { existsSync } from 'node:fs';
import type Database from 'better-sqlite3';
import { openSqliteFile } from '../../audit/sqlite-file.ts';
import { storedEventOf, type SecurityEventRow } from '../../events-store/sqlite.ts';
import type { StoredEvent } from '../../events-store/types.ts';
import { concerns, type SubjectForms } from './subject.ts';

const PAGE = 1000;
const DELETE_CHUNK = 500;

export class EventsFile {
  readonly path: string;
  readonly #db: Database.Database;

  private constructor(path: string, db: Database.Database) {
    this.path = path;
    this.#db = db;
  }

  /** Opens an existing events store file, or undefined when there is none (or it has no events table yet). */
  static open(path: string): EventsFile | undefined {
    if (!existsSync(path)) return undefined;
    const db = openSqliteFile(path);
    const table = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'security_events'").get();
    if (table === undefined) {
      db.close();
      return undefined;
    }
    return new EventsFile(path, db);
  }

  /** Every row, in id order. */
  *rows(): Generator<StoredEvent> {
    const page = this.#db.prepare(`SELECT id, time, type, severity, route, request_id, client, details FROM security_events WHERE id > ? ORDER BY id LIMIT ${PAGE}`);
    let after = Number.MIN_SAFE_INTEGER;
    for (;;) {
      const rows = page.all(after) as SecurityEventRow[];
      for (const row of rows) yield storedEventOf(row);
      if (rows.length < PAGE) return;
      after = rows[rows.length - 1]!.id;
    }
  }

  /** The rows concerning the subject (their details name it; events have no actor column). */
  concerning(forms: SubjectForms): StoredEvent[] {
    const found: StoredEvent[] = [];
    for (const event of this.rows()) if (concerns(forms, { details: event.details })) found.push(event);
    return found;
  }

  /** Deletes rows by id; resolves how many went. */
  deleteIds(ids: readonly number[]): number {
    if (ids.length === 0) return 0;
    this.#db.pragma('secure_delete = ON');
    let deleted = 0;
    const run = this.#db.transaction((chunk: readonly number[]) => {
      const statement = this.#db.prepare(`DELETE FROM security_events WHERE id IN (${chunk.map(() => '?').join(', ')})`);
      deleted += statement.run(...chunk).changes;
    });
    for (let i = 0; i < ids.length; i += DELETE_CHUNK) run.immediate(ids.slice(i, i + DELETE_CHUNK));
    try {
      this.#db.pragma('wal_checkpoint(TRUNCATE)');
    } catch {
      // Another process reading: SQLite's automatic checkpoints move the frames later.
    }
    return deleted;
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}
