/**
 * Opens the stores a gateway config names (`storage:`) with its master key (`keyring.masterKey`), for the gateway
 * and for the CLI commands that manage stored identities, so both open the same store with the same key.
 *
 * Master key rules:
 * - configured → parsed strictly (crypto/master-key.ts); a bad value is a clear error that never echoes it.
 * - missing in development → a development key file beside the database, `<db path>.master-key`, created once with
 *   mode 0600 and reused by the gateway and the CLI (for `memory:` and `sqlite::memory:`, an ephemeral key). A
 *   loud warning says this is for development only: a key stored beside the data protects nothing once the
 *   directory leaks.
 * - missing in production → an error (`rampart config check` already refuses this when a policy needs the stores).
 *
 * Key ring (issue 7): in a SQLite store the master key only wraps the store's key ring (crypto/keyring.ts): the
 * random data keys that seal TOTP seeds and signing keys, and the stable secrets: the pepper (keyed hashes of API
 * keys, session ids, refresh tokens), the audit chain key and the privacy key. They were seeded from the master
 * key's former derivations when the ring was created and survive `rampart keyring rotate`, which re-wraps them
 * under a new master key. Losing the master key still loses all of them; changing it without `rampart keyring
 * rotate` is refused at open ("not the key that wraps this store's key ring"). Stores without a ring (`memory:`,
 * `sqlite::memory:`, which live as long as the process) keep deriving the pepper, chain and privacy keys from the
 * master key, and say so at open. `keyring.rotateDataKeysEvery` (default 90d) is the data keys' period.
 *
 * Counters: `stores.counters` (the brute-force counters of api-key, login, MFA and client authentication) is the
 * store the top-level `counters:` setting names. With `counters.store: redis://...` it is the Redis adapter on the
 * process's shared connection (the same one the rate-limit policies use), so every gateway process sees the same
 * failure counts and locks.
 */
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { GatewayConfig } from '../config/load.ts';
import { parseDuration } from '../config/units.ts';
import {
  DEFAULT_ROTATE_DATA_KEYS_EVERY_MS,
  LEGACY_DERIVATIONS,
  MAX_ROTATE_DATA_KEYS_EVERY_MS,
  MIN_ROTATE_DATA_KEYS_EVERY_MS,
  type KeyRing,
  type StableSecretPurpose,
} from '../crypto/keyring.ts';
import { MasterKeyError, generateMasterKey, parseMasterKey } from '../crypto/master-key.ts';
import { openStores } from './index.ts';
import { damagedSealedValuesOf, keyRingOf, openSqliteDatabase, openSqliteKeyRing, type DamagedSealedValue } from './sqlite/index.ts';
import { openCounterStore } from './counter-store.ts';
import { StoreConfigError, type CounterStore, type Stores } from './ports.ts';
import { countersConfigOf } from './counters-config.ts';
import { RedisCounterStore } from './redis/counters.ts';

/** Where warnings go: a pino logger fits, and so does a small adapter printing to stderr. */
export interface WarningSink {
  warn(details: Record<string, unknown>, message: string): void;
  /** Optional: informational notes (Redis connected). */
  info?(details: Record<string, unknown>, message: string): void;
}

export interface OpenConfiguredStoresOptions {
  readonly logger?: WarningSink;
}

export interface ConfiguredStores {
  readonly stores: Stores;
  readonly masterKey: Buffer;
  /** The key of `hashSecret` for API keys, session ids, refresh tokens: from the key ring, else derived from the master key. */
  readonly pepper: Buffer;
  /** The store's key ring (SQLite file stores). */
  readonly keyring?: KeyRing;
  /** Set when a development key file was used or created. */
  readonly generatedKeyFile?: string;
  /** Sealed values that did not open at start (each also logged); every read of those records fails closed. */
  readonly damagedSealedValues: readonly DamagedSealedValue[];
}

export const DEVELOPMENT_KEY_WARNING =
  'DEVELOPMENT ONLY: no keyring.masterKey configured; using a master key stored beside the database. ' +
  'Anyone who can read that directory can forge and read stored secrets. Set keyring.masterKey ' +
  '(e.g. "${env:RAMPART_MASTER_KEY}", generate one with `openssl rand -base64 32`) before production.';

export const EPHEMERAL_KEY_WARNING =
  'DEVELOPMENT ONLY: no keyring.masterKey configured and the store is in memory; using a random master key that ' +
  'lives as long as this process.';

export const DERIVED_KEYS_NOTE =
  'storage is in memory: no key ring; the pepper, audit chain and privacy keys derive from keyring.masterKey and change with it';

/** The SQLite file path of a store URL, or undefined for in-memory stores. */
export function sqliteFilePath(storage: string): string | undefined {
  if (!storage.startsWith('sqlite:')) return undefined;
  const path = storage.slice('sqlite:'.length);
  return path === ':memory:' || path === '' ? undefined : path;
}

/**
 * Reads the development key file, or creates it (0600, exclusive create so two processes starting together
 * cannot each write a different key: the loser reads the winner's).
 */
function developmentKey(file: string, logger: WarningSink | undefined): Buffer {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  try {
    writeFileSync(file, generateMasterKey() + '\n', { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new StoreConfigError(`cannot create the development master key file ${file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
    }
  }
  let mode: number;
  let text: string;
  try {
    mode = statSync(file).mode & 0o777;
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new StoreConfigError(`cannot read the development master key file ${file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  if ((mode & 0o077) !== 0) {
    // Someone loosened it; put it back rather than keep serving a key others can read.
    try {
      chmodSync(file, 0o600);
      logger?.warn({ keyFile: file, mode: mode.toString(8) }, 'development master key file was readable by others; reset to 0600');
    } catch {
      logger?.warn({ keyFile: file, mode: mode.toString(8) }, 'development master key file is readable by others and cannot be reset to 0600');
    }
  }
  try {
    return parseMasterKey(text);
  } catch (error) {
    throw new StoreConfigError(`store sqlite:${file.slice(0, -'.master-key'.length)}: development master key file ${file}: ${(error as Error).message}`);
  }
}

/** The key ring settings of a config (`keyring.rotateDataKeysEvery`, default 90 days, from 1 hour to 730 days). */
export function keyRingSettingsOf(document: Readonly<Record<string, unknown>> | undefined): { rotateDataKeysEveryMs: number } {
  const keyring = document?.['keyring'];
  const value = typeof keyring === 'object' && keyring !== null ? (keyring as Record<string, unknown>)['rotateDataKeysEvery'] : undefined;
  if (value === undefined) return { rotateDataKeysEveryMs: DEFAULT_ROTATE_DATA_KEYS_EVERY_MS };
  let ms: number;
  try {
    ms = parseDuration(value as string | number);
  } catch {
    throw new StoreConfigError('keyring.rotateDataKeysEvery: must be a duration such as 90d');
  }
  if (ms < MIN_ROTATE_DATA_KEYS_EVERY_MS) throw new StoreConfigError('keyring.rotateDataKeysEvery: must be at least 1h');
  // NIST SP 800-57 Part 1 §5.3.6: up to 2 years of originator use for a symmetric data-encryption key.
  if (!Number.isSafeInteger(ms) || ms > MAX_ROTATE_DATA_KEYS_EVERY_MS) throw new StoreConfigError('keyring.rotateDataKeysEvery: must be at most 730d');
  return { rotateDataKeysEveryMs: ms };
}

export function resolveMasterKey(
  config: Pick<GatewayConfig, 'storage' | 'masterKey' | 'mode'>,
  logger?: WarningSink,
): { masterKey: Buffer; generatedKeyFile?: string } {
  if (config.masterKey !== undefined) {
    try {
      return { masterKey: parseMasterKey(config.masterKey) };
    } catch (error) {
      if (error instanceof MasterKeyError) throw new StoreConfigError(`keyring.masterKey: ${error.message}`);
      throw error;
    }
  }
  if (config.mode !== 'development') {
    throw new StoreConfigError(
      'keyring.masterKey: is required in production to open the stores (set it to "${env:RAMPART_MASTER_KEY}"; ' +
        'generate a key with `openssl rand -base64 32`)',
    );
  }
  const file = sqliteFilePath(config.storage);
  if (file === undefined) {
    logger?.warn({ storage: config.storage }, EPHEMERAL_KEY_WARNING);
    return { masterKey: parseMasterKey(generateMasterKey()) };
  }
  const keyFile = `${file}.master-key`;
  const masterKey = developmentKey(keyFile, logger);
  logger?.warn({ keyFile }, DEVELOPMENT_KEY_WARNING);
  return { masterKey, generatedKeyFile: keyFile };
}

/** The pepper, audit chain key and privacy key, and where they came from. */
export interface StableSecrets {
  readonly pepper: Buffer;
  readonly auditChain: Buffer;
  readonly privacy: Buffer;
  /** `keyring`: read from the SQLite store's key ring; `derived`: derived from the master key (in-memory stores). */
  readonly source: 'keyring' | 'derived';
}

function derivedSecrets(masterKey: Buffer): StableSecrets {
  return {
    pepper: LEGACY_DERIVATIONS.pepper(masterKey),
    auditChain: LEGACY_DERIVATIONS['audit-chain'](masterKey),
    privacy: LEGACY_DERIVATIONS.privacy(masterKey),
    source: 'derived',
  };
}

function ringSecrets(ring: KeyRing): StableSecrets {
  const get = (purpose: StableSecretPurpose) => ring.secret(purpose);
  return { pepper: get('pepper'), auditChain: get('audit-chain'), privacy: get('privacy'), source: 'keyring' };
}

/**
 * The stable secrets of a config without opening its stores (the audit log needs the chain and privacy keys before
 * the gateway opens the stores, and the CLI's `audit` commands never open them): from the key ring of the SQLite
 * file `storage:` names (creating the file and its ring on first use), else derived from the master key.
 */
export function resolveStableSecrets(
  config: Pick<GatewayConfig, 'storage' | 'masterKey' | 'mode'> & { readonly document?: Readonly<Record<string, unknown>> },
  logger?: WarningSink,
): StableSecrets {
  const { masterKey } = resolveMasterKey(config, logger);
  const file = sqliteFilePath(config.storage);
  if (file === undefined) {
    logger?.info?.({ storage: config.storage }, DERIVED_KEYS_NOTE);
    return derivedSecrets(masterKey);
  }
  const path = resolve(process.cwd(), file);
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const db = openSqliteDatabase(path);
  try {
    return ringSecrets(openSqliteKeyRing(db, `sqlite:${path}`, masterKey, { ...keyRingSettingsOf(config.document), ...(logger ? { log: logger } : {}) }));
  } finally {
    db.close();
  }
}

export async function openConfiguredStores(
  config: Pick<GatewayConfig, 'storage' | 'masterKey' | 'mode'> & { readonly document?: Readonly<Record<string, unknown>> },
  options: OpenConfiguredStoresOptions = {},
): Promise<ConfiguredStores> {
  const { masterKey, generatedKeyFile } = resolveMasterKey(config, options.logger);
  const keyring = { ...keyRingSettingsOf(config.document), ...(options.logger ? { log: options.logger } : {}) };
  const sqliteFile = sqliteFilePath(config.storage);
  if (sqliteFile !== undefined) mkdirSync(dirname(sqliteFile), { recursive: true, mode: 0o700 });
  const countersConfig = countersConfigOf(config.document);
  let counterStore: CounterStore | undefined;
  if (countersConfig.store !== 'memory') {
    const logger = options.logger;
    counterStore = openCounterStore(countersConfig, {
      ...(logger ? { log: { warn: (details, message) => logger.warn(details, message), info: (details, message) => logger.info?.(details, message) } } : {}),
    });
  }
  // Start with the connection up when Redis answers (brute-force checks would fail until then); a Redis that is
  // down does not stop the start: reconnection goes on and the callers fail as they do for any store error.
  if (counterStore instanceof RedisCounterStore && !(await counterStore.ready)) {
    options.logger?.warn({ redis: counterStore.where }, 'counter store: Redis does not answer yet; brute-force checks fail until it does');
  }
  let stores: Stores;
  try {
    stores = openStores(config.storage, { masterKey, sqlite: { keyring }, ...(counterStore ? { counterStore } : {}) });
  } catch (error) {
    await counterStore?.close?.();
    throw error;
  }
  const ring = keyRingOf(stores);
  if (ring === undefined) options.logger?.info?.({ storage: config.storage }, DERIVED_KEYS_NOTE);
  return {
    stores,
    masterKey,
    pepper: ring === undefined ? derivedSecrets(masterKey).pepper : ring.secret('pepper'),
    ...(ring === undefined ? {} : { keyring: ring }),
    ...(generatedKeyFile === undefined ? {} : { generatedKeyFile }),
    damagedSealedValues: damagedSealedValuesOf(stores),
  };
}
