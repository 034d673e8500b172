/**
 * The secret vault (issue 7 point 3: "every secret in the store is encrypted", webhook secrets and upstream
 * credentials included): named secrets in the SQLite store's `secrets` table (migration 3), each sealed with the
 * key ring's active `secrets` data key (SecretBox v2, AES-256-GCM, crypto/secret-box.ts) and bound to its name by
 * the additional authenticated data `rampart/secret/<name>`: a sealed value copied onto another name, or moved to
 * another store, does not open (OWASP Cryptographic Storage Cheat Sheet; NIST SP 800-38D §5.2.1 on AAD).
 *
 * Config references them as `${secret:NAME}` (config/env.ts); `rampart secrets set|list|delete` manages them
 * (cli/secrets-commands.ts). Errors name the store and the secret, never the value.
 *
 * Master-key rotation (`rampart keyring rotate`) re-wraps the data keys and leaves every sealed value as it is;
 * data-key rotation seals values stored from then on under the new key and keeps the old one for reading.
 */
import type Database from 'better-sqlite3';
import { SecretBoxError, type SecretBox } from '../crypto/secret-box.ts';

/** Names as config references spell them: no `/`, `}` or spaces, so `${secret:NAME}` is unambiguous. */
export const SECRET_NAME = /^[A-Za-z0-9_.-]{1,128}$/;
/** The largest value, in UTF-8 bytes: a key, a token, a PEM bundle fit; a file does not belong here. */
export const MAX_SECRET_BYTES = 64 * 1024;

export type SecretVaultErrorCode = 'INVALID_NAME' | 'INVALID_VALUE' | 'CORRUPT';

export class SecretVaultError extends Error {
  override readonly name = 'SecretVaultError';
  readonly code: SecretVaultErrorCode;
  constructor(code: SecretVaultErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/** What `list` shows: never the value. */
export interface SecretInfo {
  readonly name: string;
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** The additional authenticated data binding a sealed value to its name. */
export function secretIdentity(name: string): string {
  return `rampart/secret/${name}`;
}

export function checkSecretName(name: unknown): string {
  if (typeof name !== 'string' || !SECRET_NAME.test(name)) {
    throw new SecretVaultError('INVALID_NAME', 'a secret name is 1 to 128 characters: letters, digits, ".", "_" or "-"');
  }
  return name;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** Checks a value given as text (the API): not empty, at most 64 KiB of UTF-8. */
function checkSecretValue(value: unknown): string {
  if (typeof value !== 'string') throw new SecretVaultError('INVALID_VALUE', 'the value must be text');
  if (value.length === 0) throw new SecretVaultError('INVALID_VALUE', 'the value is empty');
  if (Buffer.byteLength(value, 'utf8') > MAX_SECRET_BYTES) throw new SecretVaultError('INVALID_VALUE', `the value is larger than ${MAX_SECRET_BYTES / 1024} KiB`);
  return value;
}

/**
 * A value read from a file or standard input, as config will use it: at most 64 KiB, strict UTF-8 (config values are
 * text; a binary file is refused instead of turning into replacement characters), ONE trailing line break removed
 * (`echo value > file` and Kubernetes secret files end with one; any other whitespace is part of the value), not
 * empty (an empty mounted secret file is a deployment mistake, not a key).
 */
export function secretTextOf(bytes: Uint8Array): string {
  if (bytes.length > MAX_SECRET_BYTES) throw new SecretVaultError('INVALID_VALUE', `the value is larger than ${MAX_SECRET_BYTES / 1024} KiB`);
  let text: string;
  try {
    text = UTF8.decode(bytes);
  } catch {
    throw new SecretVaultError('INVALID_VALUE', 'the value is not UTF-8 text');
  }
  return checkSecretValue(text.replace(/\r?\n$/, ''));
}

interface SecretRow {
  name: unknown;
  sealed: unknown;
  created_at: unknown;
  updated_at: unknown;
}

export class SecretVault {
  /** The store, as errors name it (`sqlite:/path/to/rampart.db`). */
  readonly where: string;
  readonly #box: SecretBox;
  readonly #db: Database.Database;
  readonly #sql;

  constructor(db: Database.Database, box: SecretBox, where: string) {
    this.where = where;
    this.#box = box;
    this.#db = db;
    this.#sql = {
      get: db.prepare('SELECT name, sealed, created_at, updated_at FROM secrets WHERE name = ?'),
      list: db.prepare('SELECT name, created_at, updated_at FROM secrets ORDER BY name'),
      upsert: db.prepare(
        `INSERT INTO secrets (name, sealed, created_at, updated_at) VALUES (@name, @sealed, @now, @now)
         ON CONFLICT (name) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at`,
      ),
      delete: db.prepare('DELETE FROM secrets WHERE name = ?'),
    };
  }

  /** Seals and stores `value` under `name`, replacing any previous value. */
  set(name: string, value: string, now: number = Date.now()): 'created' | 'updated' {
    checkSecretName(name);
    checkSecretValue(value);
    const sealed = this.#box.seal(value, secretIdentity(name));
    return this.#db.transaction(() => {
      const existed = this.#sql.get.get(name) !== undefined;
      this.#sql.upsert.run({ name, sealed, now });
      return existed ? 'updated' : 'created';
    }).immediate();
  }

  /** The value of `name`, or undefined when there is none; a value that does not open is an error naming it. */
  get(name: string): string | undefined {
    checkSecretName(name);
    const row = this.#sql.get.get(name) as SecretRow | undefined;
    if (row === undefined) return undefined;
    const corrupt = (reason: string) => new SecretVaultError('CORRUPT', `store ${this.where}: secret "${name}" cannot be decrypted: ${reason}`);
    if (typeof row.sealed !== 'string') throw corrupt('the sealed value is not text');
    try {
      return UTF8.decode(this.#box.open(row.sealed, secretIdentity(name)));
    } catch (error) {
      if (error instanceof SecretBoxError) throw corrupt(error.message);
      if (error instanceof TypeError) throw corrupt('the value is not UTF-8 text');
      throw error;
    }
  }

  list(): SecretInfo[] {
    return (this.#sql.list.all() as SecretRow[]).map((row) => ({
      name: String(row.name),
      createdAt: Number(row.created_at),
      updatedAt: Number(row.updated_at),
    }));
  }

  /** Removes `name`; false when there was no such secret. */
  delete(name: string): boolean {
    checkSecretName(name);
    return this.#sql.delete.run(name).changes > 0;
  }
}
