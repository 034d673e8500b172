/**
 * The embedded SQLite adapter: identities and sessions in one file (WAL mode). Counters stay in
 * process memory (see memory/counters.ts): they are hot and need no durability, and the
 * rate-limiting issue moves them to Redis for several nodes.
 *
 * Secrets at rest: the file holds the key ring (crypto/keyring.ts, sqlite/keyring.ts), random data keys and the
 * stable secrets (pepper, audit chain key, privacy key) wrapped by the master key. At open the ring is opened (or
 * created), values sealed before it (SecretBox v1) are re-sealed under its data key, and every sealed value is
 * opened once: a wrong master key or a corrupted key ring entry stops the open with an error naming the store; a
 * sealed value that does not open is logged by table and record and fails the reads of that record only. While open,
 * the ring is checked daily (data-key rotation schedule).
 */
import { MAINTENANCE_INTERVAL_MS, type KeyRing, type KeyRingLog } from '../../crypto/keyring.ts';
import { SecretBox } from '../../crypto/secret-box.ts';
import type { Stores } from '../ports.ts';
import { MemoryCounterStore, type MemoryCounterOptions } from '../memory/counters.ts';
import { openSqliteDatabase, type SqliteOpenOptions as SqliteDatabaseOptions } from './database.ts';
import { SqliteIdentityStore } from './identities.ts';
import { countLegacySealedValues, openSqliteKeyRing, resealLegacyValues, verifySealedValues } from './keyring.ts';
import { SqliteSessionStore } from './sessions.ts';

export { SqliteIdentityStore, SqliteSessionStore, openSqliteDatabase };
export { LATEST_SCHEMA_VERSION, MIGRATIONS, migrate, schemaVersion, type Migration } from './migrations.ts';
export { SEALED_COLUMNS, SqliteKeyRingStorage, openSqliteKeyRing, resealLegacyValues } from './keyring.ts';
export type { SqliteSynchronous } from './database.ts';

/** The key ring settings of a SQLite store (config `keyring:`). */
export interface SqliteKeyRingSettings {
  /** Cryptoperiod of the sealing data key (default 90 days). */
  readonly rotateDataKeysEveryMs?: number;
  /** Where the ring reports creation, rotations and failed checks. */
  readonly log?: KeyRingLog;
  readonly now?: () => number;
}

export interface SqliteOpenOptions extends SqliteDatabaseOptions {
  readonly keyring?: SqliteKeyRingSettings;
}

export interface SqliteStoreOptions extends SqliteOpenOptions {
  readonly masterKey: Buffer;
  readonly counters?: MemoryCounterOptions;
}

/** The key ring of stores opened by `openSqliteStores`, by their identity store (which `openStores` hands on as is). */
const rings = new WeakMap<object, KeyRing>();

/** A sealed value that did not open when the store was opened: its table, record and reason (never the value). */
export interface DamagedSealedValue {
  readonly table: string;
  readonly recordId: string;
  readonly reason: string;
}

/** What `verifySealedValues` found damaged at open, by identity store (as `rings`). */
const damagedAtOpen = new WeakMap<object, readonly DamagedSealedValue[]>();

/** The sealed values found damaged when these stores were opened (empty for stores without sealed values). */
export function damagedSealedValuesOf(stores: Pick<Stores, 'identities'>): readonly DamagedSealedValue[] {
  return damagedAtOpen.get(stores.identities) ?? [];
}

/** The key ring of a SQLite store (undefined for stores without one, e.g. memory). */
export function keyRingOf(stores: Pick<Stores, 'identities'>): KeyRing | undefined {
  return rings.get(stores.identities);
}

/** Opens (creating and migrating as needed) the SQLite store at `path`; `:memory:` for a private in-memory database. */
export function openSqliteStores(path: string, options: SqliteStoreOptions): Stores {
  const db = openSqliteDatabase(path, options);
  const where = `sqlite:${path}`;
  let ring: KeyRing;
  let box: SecretBox;
  const damaged: DamagedSealedValue[] = [];
  try {
    ring = openSqliteKeyRing(db, where, options.masterKey, {
      ...(options.keyring?.rotateDataKeysEveryMs === undefined ? {} : { rotateDataKeysEveryMs: options.keyring.rotateDataKeysEveryMs }),
      ...(options.keyring?.log ? { log: options.keyring.log } : {}),
      ...(options.keyring?.now ? { now: options.keyring.now } : {}),
    });
    box = new SecretBox(options.masterKey, { dataKeys: ring });
    if (countLegacySealedValues(db) > 0) {
      // A damaged v1 value stays as it is and is reported with the others just below.
      const count = db.transaction(() => resealLegacyValues(db, box, where, { skipDamaged: true })).immediate();
      if (count > 0) options.keyring?.log?.info?.({ store: where, count }, 'key ring: secrets sealed before the key ring re-sealed under its data key');
    }
    // A damaged value is one record's problem: logged here by table and record (never the value), and every read
    // of that record fails closed (StoreCorruptError) until it is repaired or deleted. The rest of the store serves.
    const log = options.keyring?.log;
    verifySealedValues(db, box, where, (error) => {
      damaged.push({ table: error.table, recordId: error.recordId, reason: error.reason });
      log?.warn(
        { store: where, table: error.table, record: error.recordId, reason: error.reason },
        'damaged sealed value: reads of this record fail closed until it is repaired or deleted (docs/secrets.md)',
      );
    });
  } catch (error) {
    db.close();
    throw error;
  }
  const maintenance = setInterval(() => ring.maintain(), MAINTENANCE_INTERVAL_MS);
  maintenance.unref();
  const identities = new SqliteIdentityStore(db, box);
  rings.set(identities, ring);
  if (damaged.length > 0) damagedAtOpen.set(identities, damaged);
  return {
    identities,
    sessions: new SqliteSessionStore(db),
    counters: new MemoryCounterStore(options.counters),
    close: async () => {
      clearInterval(maintenance);
      if (db.open) db.close();
    },
  };
}
