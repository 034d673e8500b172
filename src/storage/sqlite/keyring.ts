/**
 * The key ring in the SQLite store (tables `keyring` and `keyring_kek`, migration 2) and what the store does with
 * it at open and at master-key rotation:
 *
 * - `SqliteKeyRingStorage`: crypto/keyring.ts `KeyRingStorage` on a better-sqlite3 connection.
 * - `checkLegacySealedValues`: before a ring is created in a store that already holds v1 values (sealed under a
 *   key derived from the master key), every one of them must carry this master key's v1 key id, or the ring would
 *   be seeded from a wrong master key.
 * - `resealLegacyValues`: rewrites v1 values as v2 under the ring's active data key (at open, and inside the
 *   master-key rotation transaction: the new master key could not open them).
 * - `verifySealedValues`: opens every sealed value once at open, so a truncated, altered or misplaced ciphertext
 *   is reported at start, naming the store and the record (the store then serves; reads of that record fail closed),
 *   instead of being found by a login later.
 *
 * `SEALED_COLUMNS` lists every column that holds SecretBox envelopes; a migration adding one adds it here.
 */
import type Database from 'better-sqlite3';
import { KeyRing, type KekRecord, type KeyRecord, type KeyRingOptions, type KeyRingStorage } from '../../crypto/keyring.ts';
import { v1KeyId, type SecretBox } from '../../crypto/secret-box.ts';
import { StoreCorruptError, StoreError } from '../ports.ts';
import { openSealed, recordIdentity } from '../shared.ts';

/** Every column holding SecretBox envelopes, with its table and the id column that names the record (the AAD). */
export const SEALED_COLUMNS: ReadonlyArray<{ readonly table: string; readonly id: string; readonly column: string }> = Object.freeze([
  { table: 'totp_secrets', id: 'user_id', column: 'sealed_secret' },
  { table: 'signing_keys', id: 'kid', column: 'sealed_private_jwk' },
]);

interface KeyRow {
  id: unknown;
  purpose: unknown;
  wrapped: unknown;
  created_at: unknown;
  retired_at: unknown;
}

const fromRow = (row: KeyRow) => ({ id: row.id, purpose: row.purpose, wrapped: row.wrapped, createdAt: row.created_at, retiredAt: row.retired_at });

export class SqliteKeyRingStorage implements KeyRingStorage {
  readonly where: string;
  readonly #db: Database.Database;
  readonly #sql;

  constructor(db: Database.Database, where: string) {
    this.#db = db;
    this.where = where;
    this.#sql = {
      kek: db.prepare('SELECT fingerprint, created_at, rotated_at FROM keyring_kek WHERE id = 1'),
      putKek: db.prepare(
        `INSERT INTO keyring_kek (id, fingerprint, created_at, rotated_at) VALUES (1, @fingerprint, @createdAt, @rotatedAt)
         ON CONFLICT (id) DO UPDATE SET fingerprint = excluded.fingerprint, rotated_at = excluded.rotated_at`,
      ),
      keys: db.prepare('SELECT id, purpose, wrapped, created_at, retired_at FROM keyring ORDER BY created_at, id'),
      key: db.prepare('SELECT id, purpose, wrapped, created_at, retired_at FROM keyring WHERE id = ?'),
      insertKey: db.prepare(
        'INSERT INTO keyring (id, purpose, wrapped, created_at, retired_at) VALUES (@id, @purpose, @wrapped, @createdAt, @retiredAt)',
      ),
      retireKey: db.prepare('UPDATE keyring SET retired_at = @at WHERE id = @id AND retired_at IS NULL'),
      rewrapKey: db.prepare('UPDATE keyring SET wrapped = @wrapped WHERE id = @id'),
    };
  }

  write<T>(fn: () => T): T {
    // Nested in an outer transaction, better-sqlite3 makes this a savepoint of it.
    return this.#db.inTransaction ? this.#db.transaction(fn)() : this.#db.transaction(fn).immediate();
  }

  read<T>(fn: () => T): T {
    return this.#db.inTransaction ? fn() : this.#db.transaction(fn).deferred();
  }

  kek(): unknown {
    const row = this.#sql.kek.get() as { fingerprint: unknown; created_at: unknown; rotated_at: unknown } | undefined;
    return row === undefined ? undefined : { fingerprint: row.fingerprint, createdAt: row.created_at, rotatedAt: row.rotated_at };
  }

  putKek(record: KekRecord): void {
    this.#sql.putKek.run(record);
  }

  keys(): unknown[] {
    return (this.#sql.keys.all() as KeyRow[]).map(fromRow);
  }

  key(id: string): unknown {
    const row = this.#sql.key.get(id) as KeyRow | undefined;
    return row === undefined ? undefined : fromRow(row);
  }

  insertKey(record: KeyRecord): void {
    this.#sql.insertKey.run(record);
  }

  retireKey(id: string, at: number): void {
    this.#sql.retireKey.run({ id, at });
  }

  rewrapKey(id: string, wrapped: string): void {
    this.#sql.rewrapKey.run({ id, wrapped });
  }
}

interface SealedRow {
  id: string;
  sealed: string;
}

function sealedRows(db: Database.Database, table: string, id: string, column: string, where = ''): SealedRow[] {
  // Table and column names come from SEALED_COLUMNS (constants), never from input.
  return db.prepare(`SELECT ${id} AS id, ${column} AS sealed FROM ${table} ${where} ORDER BY ${id}`).all() as SealedRow[];
}

/**
 * Before a ring is created: every v1 value must have been sealed under `masterKey` (its key id says so). A store
 * of values sealed under another master key is refused, naming the store, before anything is written.
 */
export function checkLegacySealedValues(db: Database.Database, masterKey: Buffer, where: string): void {
  const expected = v1KeyId(masterKey);
  for (const { table, id, column } of SEALED_COLUMNS) {
    for (const row of sealedRows(db, table, id, column, `WHERE ${column} LIKE 'v1.%'`)) {
      if (row.sealed.split('.', 3)[1] !== expected) {
        throw new StoreError(
          'CONFIG',
          `store ${where}: keyring.masterKey is not the key that sealed ${recordIdentity(table, row.id)} (the store's secrets were sealed under another master key); the key ring was not created`,
        );
      }
    }
  }
}

/**
 * Rewrites every v1 value as v2 under the box's active data key (the box must have the ring and the master key that
 * sealed them). Strict by default: the first value that does not open stops it (master-key rotation, where a value
 * left v1 could never be opened again). With `skipDamaged` (the store's open), a value that does not open is left as
 * it is, to be reported by `verifySealedValues` right after; the others are re-sealed.
 */
export function resealLegacyValues(db: Database.Database, box: SecretBox, where: string, options: { readonly skipDamaged?: boolean } = {}): number {
  let count = 0;
  for (const { table, id, column } of SEALED_COLUMNS) {
    const update = db.prepare(`UPDATE ${table} SET ${column} = @sealed WHERE ${id} = @id AND ${column} = @old`);
    for (const row of sealedRows(db, table, id, column, `WHERE ${column} LIKE 'v1.%'`)) {
      // Skipped values are left as they are; verifySealedValues reports them right after.
      const plaintext = openRow(box, table, row, where, options.skipDamaged === true ? () => undefined : undefined);
      if (plaintext === undefined) continue;
      count += update.run({ id: row.id, old: row.sealed, sealed: box.seal(plaintext, recordIdentity(table, row.id)) }).changes;
    }
  }
  return count;
}

/**
 * Opens one sealed value. A damaged one (StoreCorruptError) goes to `onDamaged`, and undefined is returned; without a
 * handler it stops the caller with an error naming the store and the record. Anything else always throws.
 */
function openRow(box: SecretBox, table: string, row: SealedRow, where: string, onDamaged?: (error: StoreCorruptError) => void): Buffer | undefined {
  try {
    return openSealed(box, table, row.id, row.sealed);
  } catch (error) {
    if (!(error instanceof StoreCorruptError)) throw error;
    if (onDamaged !== undefined) {
      onDamaged(error);
      return undefined;
    }
    throw new StoreError('CORRUPT', `store ${where}: ${error.message}; refusing to serve with secrets that cannot be read`, { cause: error });
  }
}

/** What `verifySealedValues` found: values that opened, and values that did not (each one reported). */
export interface SealedValuesCheck {
  readonly opened: number;
  readonly damaged: number;
}

/**
 * Opens every sealed value once, so damage is found at start rather than by the first login that needs it.
 *
 * Without `onDamaged` the first value that does not open is an error naming the store and the record (strict).
 * With it, each damaged value is reported (a StoreCorruptError: table, record, reason; never the value) and the
 * check goes on: the store then serves, and every read of that record fails closed on its own (docs/secrets.md).
 * A wrong master key never gets this far: the key ring recognises it by its fingerprint, and a key ring entry that
 * does not unwrap stops the open (crypto/keyring.ts). Anything other than a damaged value (a bug, an I/O error)
 * still throws.
 */
export function verifySealedValues(
  db: Database.Database,
  box: SecretBox,
  where: string,
  onDamaged?: (error: StoreCorruptError) => void,
): SealedValuesCheck {
  let opened = 0;
  let damaged = 0;
  for (const { table, id, column } of SEALED_COLUMNS) {
    for (const row of sealedRows(db, table, id, column)) {
      if (openRow(box, table, row, where, onDamaged) === undefined) damaged++;
      else opened++;
    }
  }
  return { opened, damaged };
}

/** Opens the key ring of a SQLite store (creating it on first use, after `checkLegacySealedValues`). */
export function openSqliteKeyRing(db: Database.Database, where: string, masterKey: Buffer, options: Omit<KeyRingOptions, 'beforeCreate'> = {}): KeyRing {
  return KeyRing.open(new SqliteKeyRingStorage(db, where), masterKey, {
    ...options,
    beforeCreate: () => checkLegacySealedValues(db, masterKey, where),
  });
}

/** How many v1 values the store still holds (re-sealed at open and on master-key rotation). */
export function countLegacySealedValues(db: Database.Database): number {
  let count = 0;
  for (const { table, column } of SEALED_COLUMNS) {
    count += (db.prepare(`SELECT count(*) AS n FROM ${table} WHERE ${column} LIKE 'v1.%'`).get() as { n: number }).n;
  }
  return count;
}
