/**
 * Opening the secret vault of the store a config names, synchronously (config loading is synchronous, and so is
 * better-sqlite3), with the master key and key ring exactly as the stores open them: storage/configured.ts
 * `resolveMasterKey` (a configured key, the development key file beside the database, or an error in production)
 * and storage/sqlite `openSqliteKeyRing` (a wrong master key is refused naming the store).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { SecretBox } from '../crypto/secret-box.ts';
import { keyRingSettingsOf, resolveMasterKey, sqliteFilePath, type WarningSink } from '../storage/configured.ts';
import { openSqliteDatabase, openSqliteKeyRing } from '../storage/sqlite/index.ts';
import { SecretVault } from './vault.ts';

/** What opening the vault needs from a config: the settings that open the store, after `${env:}`/`${file:}`. */
export interface VaultStoreSettings {
  readonly mode: 'production' | 'development';
  /** The store URL with a sqlite path resolved against the config file's directory (as GatewayConfig.storage). */
  readonly storage: string;
  readonly masterKey: string | undefined;
  /** The config's `keyring:` section (data-key rotation period), as keyRingSettingsOf reads it. */
  readonly keyring: unknown;
}

/** The store could not be opened (not SQLite, no usable master key, wrong master key, unreadable file). */
export class SecretStoreError extends Error {
  override readonly name = 'SecretStoreError';
}

export interface OpenedVault {
  readonly vault: SecretVault;
  close(): void;
}

/** `storage:` as the loader resolves it: a relative sqlite path is relative to the config file's directory. */
export function resolveStorageUrl(storage: string, baseDir: string): string {
  if (storage.startsWith('sqlite:') && storage !== 'sqlite::memory:') return `sqlite:${resolve(baseDir, storage.slice('sqlite:'.length))}`;
  return storage;
}

/**
 * Opens the vault of `settings.storage`. With `create: false` a store file that does not exist yet is not created
 * (resolves undefined: it holds no secret); `create: true` creates it as every store command does.
 */
export function openSecretVault(settings: VaultStoreSettings, options: { readonly create: boolean; readonly logger?: WarningSink }): OpenedVault | undefined {
  const file = sqliteFilePath(settings.storage);
  if (file === undefined) {
    throw new SecretStoreError(
      settings.storage.startsWith('sqlite:') || settings.storage === 'memory:'
        ? `storage is ${settings.storage}: secrets live in a SQLite file store; configure storage: sqlite:<path>`
        : 'storage: must be sqlite:<path> to hold secrets',
    );
  }
  const path = resolve(file);
  const where = `sqlite:${path}`;
  if (!options.create && !existsSync(path)) return undefined;
  let masterKey: Buffer;
  try {
    masterKey = resolveMasterKey({ mode: settings.mode, storage: where, masterKey: settings.masterKey }, options.logger).masterKey;
  } catch (error) {
    throw new SecretStoreError(`store ${where}: ${(error as Error).message}`);
  }
  if (options.create) mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  let db: ReturnType<typeof openSqliteDatabase>;
  try {
    db = openSqliteDatabase(path);
  } catch (error) {
    throw new SecretStoreError((error as Error).message);
  }
  try {
    const ring = openSqliteKeyRing(db, where, masterKey, {
      ...keyRingSettingsOf({ keyring: settings.keyring }),
      ...(options.logger ? { log: options.logger } : {}),
    });
    const vault = new SecretVault(db, new SecretBox(masterKey, { dataKeys: ring }), where);
    return { vault, close: () => db.close() };
  } catch (error) {
    db.close();
    // Key ring errors already name the store ("store sqlite:…: keyring.masterKey is not the key that wraps …").
    const message = (error as Error).message;
    throw new SecretStoreError(message.startsWith('store ') ? message : `store ${where}: ${message}`);
  }
}
