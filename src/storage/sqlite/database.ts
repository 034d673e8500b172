/**
 * Opening the SQLite file: permissions, pragmas, migrations. better-sqlite3 is synchronous, so in
 * one process statements never interleave; across processes, write transactions take the lock up
 * front (`BEGIN IMMEDIATE`) and wait up to `busy_timeout` for it.
 */
import { closeSync, openSync } from 'node:fs';
import Database from 'better-sqlite3';
import { StoreConfigError, StoreError } from '../ports.ts';
import { migrate } from './migrations.ts';

export type SqliteSynchronous = 'normal' | 'full';

export interface SqliteOpenOptions {
  /** How long a write waits for another process's lock before failing (default 5 s). */
  readonly busyTimeoutMs?: number;
  /**
   * `normal` (default): in WAL mode a commit survives a process crash but the last commits may be
   * lost on power failure or an OS crash; no fsync per commit, which keeps per-request session touches
   * cheap. `full`: fsync at every commit, durable against power loss too.
   */
  readonly synchronous?: SqliteSynchronous;
}

const IN_MEMORY = ':memory:';

/** Creates the file owner-readable only (0600) before SQLite does; SQLite gives its -wal and -shm files the same mode. */
function createPrivateFile(path: string): void {
  try {
    closeSync(openSync(path, 'wx', 0o600));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return;
    throw new StoreConfigError(`cannot create SQLite store file "${path}": ${(error as Error).message}`, { cause: error });
  }
}

export function openSqliteDatabase(path: string, options: SqliteOpenOptions = {}): Database.Database {
  if (typeof path !== 'string' || path.length === 0) throw new StoreConfigError('SQLite store path is empty');
  if (path !== IN_MEMORY) createPrivateFile(path);
  let db: Database.Database;
  try {
    db = new Database(path, { timeout: options.busyTimeoutMs ?? 5000 });
  } catch (error) {
    throw new StoreConfigError(`cannot open SQLite store "${path}": ${(error as Error).message}`, { cause: error });
  }
  try {
    // WAL: readers never block the writer and a crash cannot corrupt committed data.
    db.pragma('journal_mode = WAL');
    db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`);
    db.pragma('foreign_keys = ON');
    db.pragma(`synchronous = ${options.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
    // Deleted rows (erased users, purged sessions) are overwritten, not left in free pages of the file.
    db.pragma('secure_delete = ON');
    // The schema is ours alone: SQL functions in it must not run with the application's privileges.
    db.pragma('trusted_schema = OFF');
    migrate(db);
    return db;
  } catch (error) {
    db.close();
    if (error instanceof StoreError) throw error;
    throw new StoreConfigError(`cannot use SQLite store "${path}": ${(error as Error).message}`, { cause: error });
  }
}

/** SQLite error codes (better-sqlite3's SqliteError.code) of constraint violations. */
export function sqliteErrorCode(error: unknown): string | undefined {
  return error instanceof Database.SqliteError ? error.code : undefined;
}
