/**
 * The embedded SQLite adapter: identities and sessions in one file (WAL mode). Counters stay in
 * process memory (see memory/counters.ts): they are hot and need no durability, and the
 * rate-limiting issue moves them to Redis for several nodes.
 */
import { SecretBox } from '../../crypto/secret-box.ts';
import type { Stores } from '../ports.ts';
import { MemoryCounterStore, type MemoryCounterOptions } from '../memory/counters.ts';
import { openSqliteDatabase, type SqliteOpenOptions } from './database.ts';
import { SqliteIdentityStore } from './identities.ts';
import { SqliteSessionStore } from './sessions.ts';

export { SqliteIdentityStore, SqliteSessionStore, openSqliteDatabase };
export { LATEST_SCHEMA_VERSION, MIGRATIONS, migrate, schemaVersion, type Migration } from './migrations.ts';
export type { SqliteOpenOptions, SqliteSynchronous } from './database.ts';

export interface SqliteStoreOptions extends SqliteOpenOptions {
  readonly masterKey: Buffer;
  readonly counters?: MemoryCounterOptions;
}

/** Opens (creating and migrating as needed) the SQLite store at `path`; `:memory:` for a private in-memory database. */
export function openSqliteStores(path: string, options: SqliteStoreOptions): Stores {
  const box = new SecretBox(options.masterKey);
  const db = openSqliteDatabase(path, options);
  return {
    identities: new SqliteIdentityStore(db, box),
    sessions: new SqliteSessionStore(db),
    counters: new MemoryCounterStore(options.counters),
    close: async () => {
      if (db.open) db.close();
    },
  };
}
