/**
 * Opens a SQLite file for the audit chain or the events store: created owner-only (0600) before SQLite touches it,
 * WAL journal (readers never block the appending writer; a crash cannot corrupt committed data), a busy timeout so
 * an append from one process waits for another's lock instead of failing, and the durability asked for.
 *
 * Not storage/sqlite/database.ts: that opener runs the identity store's migrations, and the audit and events files
 * have their own schema (a file holding only the chain is also easier to ship to write-once storage).
 */
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { AuditDurability } from './store.ts';

export class SqliteFileError extends Error {
  override readonly name = 'SqliteFileError';
}

export interface SqliteFileOptions {
  readonly durability?: AuditDurability;
  readonly busyTimeoutMs?: number;
}

/** `PRAGMA synchronous` for a durability: NORMAL survives a process kill in WAL mode, FULL survives power loss. */
export function synchronousFor(durability: AuditDurability | undefined): 'NORMAL' | 'FULL' {
  return durability === 'power' ? 'FULL' : 'NORMAL';
}

export function openSqliteFile(path: string, options: SqliteFileOptions = {}): Database.Database {
  if (path !== ':memory:') {
    try {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      closeSync(openSync(path, 'wx', 0o600));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new SqliteFileError(`cannot create SQLite file "${path}": ${(error as NodeJS.ErrnoException).code ?? 'error'}`, { cause: error });
      }
    }
  }
  const busy = Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000));
  let db: Database.Database;
  try {
    db = new Database(path, { timeout: busy });
  } catch (error) {
    throw new SqliteFileError(`cannot open SQLite file "${path}": ${(error as Error).message}`, { cause: error });
  }
  try {
    db.pragma('journal_mode = WAL');
    db.pragma(`busy_timeout = ${busy}`);
    db.pragma(`synchronous = ${synchronousFor(options.durability)}`);
    // The schema is ours alone: SQL functions in it must not run with the application's privileges.
    db.pragma('trusted_schema = OFF');
    return db;
  } catch (error) {
    db.close();
    throw new SqliteFileError(`cannot use SQLite file "${path}": ${(error as Error).message}`, { cause: error });
  }
}
