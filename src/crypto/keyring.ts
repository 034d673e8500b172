/**
 * The key ring (issue 7 point 3, checklist item 3 "encryption at rest"): envelope encryption with the master
 * key as key-encryption key (KEK) and random data keys, after NIST SP 800-57 Part 1 §5.3 (key hierarchy,
 * cryptoperiods) and the OWASP Cryptographic Storage Cheat Sheet ("Key Management": separate data and key
 * encryption keys, rotate keys, re-wrap without re-encrypting the data).
 *
 * The ring holds 256-bit keys, each with a purpose:
 *
 * - `secrets`: SecretBox data keys (secret-box.ts v2 envelopes: TOTP seeds, private signing keys). One is
 *   active (new values are sealed under it); older ones are retired, kept for reading. A new one becomes active
 *   on a schedule (`keyring.rotateDataKeysEvery`, default 90 days; checked at open and by `maintain()`, which
 *   the SQLite store runs daily) or on demand (`rampart keyring rotate-data-key`).
 * - `pepper`, `audit-chain`, `privacy`: stable named secrets (the key of the keyed hashes of API keys, session
 *   ids and refresh tokens; the audit chain key; the key of address and username pseudonyms). Each is created
 *   ONCE, when the ring is created, from the derivation Rampart used before the ring (`LEGACY_DERIVATIONS`), so
 *   hashes, chains and pseudonyms written before keep matching; from then on they are read from the ring and
 *   survive master-key rotation unchanged. They never rotate: rotating one would orphan every stored hash.
 *
 * Every key is stored wrapped by the master key: AES-256-GCM under a wrapping key derived from the master key
 * with HKDF (RFC 5869, info `rampart/v2/keyring-wrapping-key`), in the format
 *
 *     w1.<iv>.<ciphertext>.<tag>         (base64url without padding; ciphertext = the 32-byte key)
 *
 * with the additional authenticated data `rampart-keyring:w1:<key id>:<purpose>`, so a wrapped key copied onto
 * another entry, or relabelled with another purpose, fails to unwrap. Beside the entries the store keeps the
 * KEK fingerprint (HKDF info `rampart/v2/keyring-kek-fingerprint`, 128 bits as hex): a wrong master key is
 * recognised before any unwrapping and reported as such, naming the store, instead of as tampering; an entry
 * that fails to unwrap under the right master key is then corruption, and reported as that.
 *
 * `rotateMasterKey` re-wraps every entry under a new master key in one write transaction: data keys and stable
 * secrets keep their bytes, so nothing sealed or hashed changes, processes already running keep their
 * unwrapped keys in memory and keep serving, and from the commit on only the new master key opens the ring.
 *
 * The ring is storage-neutral: `KeyRingStorage` is the few transactional operations it needs (the SQLite store
 * implements it in storage/sqlite/keyring.ts). Errors name the store and the entry, never key material.
 */
import { randomBytes } from 'node:crypto';
import { constantTimeEqual } from './constant-time.ts';
import { deriveSecretPepper } from './hashing.ts';
import { assertMasterKey, deriveSubkey } from './master-key.ts';
import { SecretBoxError, gcmDecrypt, gcmEncrypt, parseGcmFields, type DataKey, type DataKeyProvider } from './secret-box.ts';

export const KEY_PURPOSES = ['secrets', 'pepper', 'audit-chain', 'privacy'] as const;
export type KeyPurpose = (typeof KEY_PURPOSES)[number];
export type StableSecretPurpose = Exclude<KeyPurpose, 'secrets'>;
export const STABLE_SECRET_PURPOSES: readonly StableSecretPurpose[] = Object.freeze(['pepper', 'audit-chain', 'privacy']);

/**
 * How each stable secret was derived from the master key before the key ring existed. Never change these: the
 * ring is seeded with exactly these values so hashes (crypto/hashing.ts), audit chains (audit/configured.ts
 * `CHAIN_KEY_PURPOSE`) and pseudonyms (audit/privacy.ts `PRIVACY_KEY_PURPOSE`) made before keep matching; the
 * key ring tests check them against those modules. Stores without a ring (memory) keep using them directly.
 */
export const LEGACY_DERIVATIONS: Readonly<Record<StableSecretPurpose, (masterKey: Buffer) => Buffer>> = Object.freeze({
  pepper: (masterKey: Buffer) => deriveSecretPepper(masterKey),
  'audit-chain': (masterKey: Buffer) => deriveSubkey(masterKey, 'rampart/v1/audit-chain-key'),
  privacy: (masterKey: Buffer) => deriveSubkey(masterKey, 'rampart/v1/audit-privacy-key'),
});

const DAY_MS = 86_400_000;
/** Default cryptoperiod of a `secrets` data key (SP 800-57 Part 1 §5.3.6: originator-usage period up to 2 years; we rotate well inside it). */
export const DEFAULT_ROTATE_DATA_KEYS_EVERY_MS = 90 * DAY_MS;
/** Below an hour, a schedule only fills the ring with keys. */
export const MIN_ROTATE_DATA_KEYS_EVERY_MS = 3_600_000;
/** SP 800-57 Part 1 §5.3.6: at most 2 years of originator use. */
export const MAX_ROTATE_DATA_KEYS_EVERY_MS = 730 * DAY_MS;
/** How often a running store checks the schedule (`maintain`). */
export const MAINTENANCE_INTERVAL_MS = DAY_MS;

const KEY_BYTES = 32;
const WRAP_VERSION = 'w1';
/** `d` (data key) or `s` (stable secret), then 128 random bits as base64url. */
const KEY_ID = /^[ds][A-Za-z0-9_-]{22}$/;
const FINGERPRINT = /^[0-9a-f]{32}$/;
const MAX_WRAPPED_LENGTH = 256;

/** One entry of the ring as the store keeps it. */
export interface KeyRecord {
  readonly id: string;
  readonly purpose: KeyPurpose;
  /** `w1.<iv>.<ciphertext>.<tag>`: the key under the master key. */
  readonly wrapped: string;
  readonly createdAt: number;
  /** `secrets` keys only: when a newer key took over sealing (kept for reading). */
  readonly retiredAt: number | null;
}

/** The fingerprint of the master key that wraps the ring. */
export interface KekRecord {
  readonly fingerprint: string;
  readonly createdAt: number;
  /** When the ring was last re-wrapped under a new master key, or null. */
  readonly rotatedAt: number | null;
}

/**
 * What the ring needs from a store. Reads and writes are synchronous (the SQLite store is); `write` runs its
 * function in one transaction that excludes other writers (SQLite `BEGIN IMMEDIATE`) and rolls back on throw;
 * `read` runs its function on one consistent snapshot. Records come back as the store holds them and are checked
 * here (a hostile or damaged table is refused with a clear error).
 */
export interface KeyRingStorage {
  /** The store, as errors name it (e.g. `sqlite:/var/lib/rampart/rampart.db`); never holds credentials. */
  readonly where: string;
  write<T>(fn: () => T): T;
  read<T>(fn: () => T): T;
  kek(): unknown;
  putKek(record: KekRecord): void;
  keys(): unknown[];
  key(id: string): unknown;
  insertKey(record: KeyRecord): void;
  retireKey(id: string, at: number): void;
  rewrapKey(id: string, wrapped: string): void;
}

export interface KeyRingLog {
  warn(details: Record<string, unknown>, message: string): void;
  info?(details: Record<string, unknown>, message: string): void;
}

export interface KeyRingOptions {
  readonly now?: () => number;
  /** Cryptoperiod of `secrets` data keys (default 90 days, from 1 hour to 730 days). */
  readonly rotateDataKeysEveryMs?: number;
  readonly log?: KeyRingLog;
  /**
   * Runs inside the write transaction that creates a new ring, before anything is written: the SQLite store checks
   * there that values sealed before the ring (v1) belong to this master key, so a wrong key does not seed a ring.
   */
  readonly beforeCreate?: () => void;
}

/** One entry as `status` shows it: never key material. */
export interface KeyInfo {
  readonly id: string;
  readonly purpose: KeyPurpose;
  readonly createdAt: number;
  readonly retiredAt: number | null;
  /** The `secrets` key new values are sealed under; stable secrets are always in use. */
  readonly active: boolean;
}

export type KeyRingErrorCode = 'WRONG_MASTER_KEY' | 'CORRUPT' | 'STALE_MASTER_KEY' | 'ALREADY_ROTATED' | 'INVALID_ARGUMENT';

export class KeyRingError extends Error {
  override readonly name = 'KeyRingError';
  readonly code: KeyRingErrorCode;
  readonly where: string;
  constructor(code: KeyRingErrorCode, where: string, message: string, options?: ErrorOptions) {
    super(`store ${where}: ${message}`, options);
    this.code = code;
    this.where = where;
  }
}

/** The KEK fingerprint stored beside the ring (128 bits of HKDF output: identifies the master key, reveals nothing of it). */
export function kekFingerprint(masterKey: Buffer): string {
  return deriveSubkey(masterKey, 'rampart/v2/keyring-kek-fingerprint').subarray(0, 16).toString('hex');
}

function wrappingKey(masterKey: Buffer): Buffer {
  return deriveSubkey(masterKey, 'rampart/v2/keyring-wrapping-key');
}

function wrapAad(id: string, purpose: KeyPurpose): Buffer {
  return Buffer.from(`rampart-keyring:${WRAP_VERSION}:${id}:${purpose}`, 'utf8');
}

export function newKeyId(purpose: KeyPurpose): string {
  return (purpose === 'secrets' ? 'd' : 's') + randomBytes(16).toString('base64url');
}

function wrapKey(wrapping: Buffer, id: string, purpose: KeyPurpose, key: Buffer): string {
  return [WRAP_VERSION, ...gcmEncrypt(wrapping, key, wrapAad(id, purpose))].join('.');
}

function unwrapKey(wrapping: Buffer, record: KeyRecord, where: string): Buffer {
  const fields = record.wrapped.split('.');
  const entry = `key ring entry ${record.id} (${record.purpose})`;
  if (fields.length !== 4 || fields[0] !== WRAP_VERSION) {
    throw new KeyRingError('CORRUPT', where, `${entry} is corrupted: not a ${WRAP_VERSION} wrapped key`);
  }
  let key: Buffer;
  try {
    const parts = parseGcmFields([fields[1]!, fields[2]!, fields[3]!], 'wrapped key');
    key = gcmDecrypt(wrapping, parts, wrapAad(record.id, record.purpose), 'wrapped key failed authentication');
  } catch (error) {
    if (!(error instanceof SecretBoxError)) throw error;
    // The fingerprint matched, so the master key is the right one: the entry itself was altered or moved.
    throw new KeyRingError('CORRUPT', where, `${entry} is corrupted: ${error.message} (altered, truncated or copied from another entry)`);
  }
  if (key.length !== KEY_BYTES) throw new KeyRingError('CORRUPT', where, `${entry} is corrupted: not a ${KEY_BYTES}-byte key`);
  return key;
}

const isTime = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;

/** Checks a stored entry field by field: a hostile or damaged table is a clear error, never a crash or a silent skip. */
function checkRecord(raw: unknown, where: string): KeyRecord {
  const row = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
  const id = typeof row['id'] === 'string' && KEY_ID.test(row['id']) ? row['id'] : undefined;
  const entry = id === undefined ? 'a key ring entry' : `key ring entry ${id}`;
  const fail = (what: string): never => {
    throw new KeyRingError('CORRUPT', where, `${entry} is corrupted: ${what}`);
  };
  if (id === undefined) fail('malformed id');
  const purpose = row['purpose'];
  if (typeof purpose !== 'string' || !(KEY_PURPOSES as readonly string[]).includes(purpose)) fail('unknown purpose');
  const wrapped = row['wrapped'];
  if (typeof wrapped !== 'string' || wrapped.length === 0 || wrapped.length > MAX_WRAPPED_LENGTH) fail('malformed wrapped key');
  if (!isTime(row['createdAt'])) fail('malformed creation time');
  const retiredAt = row['retiredAt'];
  if (retiredAt !== null && !isTime(retiredAt)) fail('malformed retirement time');
  if (purpose !== 'secrets' && retiredAt !== null) fail('a stable secret cannot be retired');
  return { id: id!, purpose: purpose as KeyPurpose, wrapped: wrapped as string, createdAt: row['createdAt'] as number, retiredAt: retiredAt as number | null };
}

function checkKek(raw: unknown, where: string): KekRecord | undefined {
  if (raw === undefined || raw === null) return undefined;
  const row = (typeof raw === 'object' ? raw : {}) as Record<string, unknown>;
  const fingerprint = row['fingerprint'];
  const rotatedAt = row['rotatedAt'];
  if (typeof fingerprint !== 'string' || !FINGERPRINT.test(fingerprint) || !isTime(row['createdAt']) || (rotatedAt !== null && !isTime(rotatedAt))) {
    throw new KeyRingError('CORRUPT', where, 'the key ring master-key fingerprint is corrupted');
  }
  return { fingerprint, createdAt: row['createdAt'] as number, rotatedAt: rotatedAt as number | null };
}

function wrongMasterKey(where: string): KeyRingError {
  return new KeyRingError(
    'WRONG_MASTER_KEY',
    where,
    'keyring.masterKey is not the key that wraps this store\'s key ring (a wrong master key, or the ring was re-wrapped ' +
      'with `rampart keyring rotate` and this configuration still names the old one); nothing was read or changed',
  );
}

function activeSecretsKey(records: readonly KeyRecord[]): KeyRecord | undefined {
  return records.find((record) => record.purpose === 'secrets' && record.retiredAt === null);
}

/** What `rampart keyring status` shows: the entries and the KEK state, read without the master key. */
export interface KeyRingStatus {
  readonly created: boolean;
  readonly createdAt: number | null;
  readonly masterKeyRotatedAt: number | null;
  /** Whether the given master key is the one that wraps the ring (undefined when none was given). */
  readonly opensWithMasterKey: boolean | undefined;
  readonly keys: readonly KeyInfo[];
}

export function inspectKeyRing(storage: KeyRingStorage, masterKey?: Buffer): KeyRingStatus {
  return storage.read(() => {
    const kek = checkKek(storage.kek(), storage.where);
    const records = storage.keys().map((raw) => checkRecord(raw, storage.where));
    return {
      created: kek !== undefined,
      createdAt: kek?.createdAt ?? null,
      masterKeyRotatedAt: kek?.rotatedAt ?? null,
      opensWithMasterKey: masterKey === undefined || kek === undefined ? undefined : constantTimeEqual(kek.fingerprint, kekFingerprint(masterKey)),
      keys: records
        .map((record) => ({
          id: record.id,
          purpose: record.purpose,
          createdAt: record.createdAt,
          retiredAt: record.retiredAt,
          active: record.retiredAt === null,
        }))
        .sort((a, b) => KEY_PURPOSES.indexOf(a.purpose) - KEY_PURPOSES.indexOf(b.purpose) || a.createdAt - b.createdAt || a.id.localeCompare(b.id)),
    };
  });
}

export class KeyRing implements DataKeyProvider {
  readonly where: string;
  readonly #storage: KeyRingStorage;
  readonly #now: () => number;
  readonly #every: number;
  readonly #log: KeyRingLog | undefined;
  #wrapping: Buffer;
  #fingerprint: string;
  /** Every `secrets` key this process has unwrapped, by id. */
  readonly #dataKeys = new Map<string, Buffer>();
  readonly #stable = new Map<StableSecretPurpose, Buffer>();
  #active: DataKey & { readonly createdAt: number };
  #staleReported = false;

  private constructor(storage: KeyRingStorage, masterKey: Buffer, options: KeyRingOptions) {
    assertMasterKey(masterKey);
    const every = options.rotateDataKeysEveryMs ?? DEFAULT_ROTATE_DATA_KEYS_EVERY_MS;
    if (!Number.isSafeInteger(every) || every < MIN_ROTATE_DATA_KEYS_EVERY_MS || every > MAX_ROTATE_DATA_KEYS_EVERY_MS) {
      throw new KeyRingError('INVALID_ARGUMENT', storage.where, 'keyring.rotateDataKeysEvery must be from 1h to 730d');
    }
    this.where = storage.where;
    this.#storage = storage;
    this.#now = options.now ?? Date.now;
    this.#every = every;
    this.#log = options.log;
    this.#wrapping = wrappingKey(masterKey);
    this.#fingerprint = kekFingerprint(masterKey);
    this.#active = { id: '', key: Buffer.alloc(0), createdAt: 0 };
  }

  /**
   * Opens the ring of `storage` with `masterKey`: creates it on first use (stable secrets from
   * `LEGACY_DERIVATIONS`, one random data key), refuses a wrong master key, unwraps every entry (a corrupted one
   * is an error now, not when a request needs it), makes sure a data key is active and rotates it when due.
   */
  static open(storage: KeyRingStorage, masterKey: Buffer, options: KeyRingOptions = {}): KeyRing {
    const ring = new KeyRing(storage, masterKey, options);
    ring.#prepare(masterKey, options.beforeCreate);
    ring.#load();
    return ring;
  }

  /** Creates the ring, an active data key, or a due one, when needed; reads first so a normal start writes nothing. */
  #prepare(masterKey: Buffer, beforeCreate: (() => void) | undefined): void {
    const state = this.#storage.read(() => ({ kek: checkKek(this.#storage.kek(), this.where), records: this.#records() }));
    if (state.kek !== undefined) {
      this.#checkFingerprint(state.kek);
      const active = activeSecretsKey(state.records);
      if (active !== undefined && !this.#due(active)) return;
    }
    this.#storage.write(() => {
      const kek = checkKek(this.#storage.kek(), this.where);
      const records = this.#records();
      const now = this.#now();
      if (kek === undefined) {
        if (records.length > 0) {
          throw new KeyRingError('CORRUPT', this.where, 'the key ring has entries but no master-key fingerprint (damaged or partly restored)');
        }
        beforeCreate?.();
        this.#storage.putKek({ fingerprint: this.#fingerprint, createdAt: now, rotatedAt: null });
        for (const purpose of STABLE_SECRET_PURPOSES) {
          const id = newKeyId(purpose);
          const secret = LEGACY_DERIVATIONS[purpose](masterKey);
          this.#storage.insertKey({ id, purpose, wrapped: wrapKey(this.#wrapping, id, purpose, secret), createdAt: now, retiredAt: null });
        }
        this.#insertDataKey(undefined, now);
        this.#log?.info?.({ store: this.where }, 'key ring created: pepper, audit chain and privacy keys carried over from the master key; first data key generated');
        return;
      }
      this.#checkFingerprint(kek);
      const active = activeSecretsKey(records);
      if (active === undefined || this.#due(active)) {
        this.#insertDataKey(active, now);
        this.#log?.info?.({ store: this.where }, active === undefined ? 'key ring: no active data key; generated one' : 'key ring: data key rotated (schedule)');
      }
    });
  }

  #records(): KeyRecord[] {
    return this.#storage.keys().map((raw) => checkRecord(raw, this.where));
  }

  #checkFingerprint(kek: KekRecord): void {
    if (!constantTimeEqual(kek.fingerprint, this.#fingerprint)) throw wrongMasterKey(this.where);
  }

  #due(active: KeyRecord): boolean {
    return this.#now() - active.createdAt >= this.#every;
  }

  /** Inside a write transaction: a new random data key, active, the previous one retired. */
  #insertDataKey(previous: KeyRecord | undefined, now: number): DataKey & { createdAt: number } {
    const id = newKeyId('secrets');
    const key = randomBytes(KEY_BYTES);
    if (previous !== undefined) this.#storage.retireKey(previous.id, now);
    this.#storage.insertKey({ id, purpose: 'secrets', wrapped: wrapKey(this.#wrapping, id, 'secrets', key), createdAt: now, retiredAt: null });
    return { id, key, createdAt: now };
  }

  /** Reads and unwraps every entry on one snapshot. */
  #load(): void {
    const { kek, records } = this.#storage.read(() => ({ kek: checkKek(this.#storage.kek(), this.where), records: this.#records() }));
    if (kek === undefined) throw new KeyRingError('CORRUPT', this.where, 'the key ring has no master-key fingerprint');
    this.#checkFingerprint(kek);
    for (const record of records) {
      const key = unwrapKey(this.#wrapping, record, this.where);
      if (record.purpose === 'secrets') this.#dataKeys.set(record.id, key);
      else if (this.#stable.has(record.purpose)) throw new KeyRingError('CORRUPT', this.where, `the key ring holds two ${record.purpose} entries`);
      else this.#stable.set(record.purpose, key);
    }
    for (const purpose of STABLE_SECRET_PURPOSES) {
      // Never re-create a missing one: after a master-key rotation the derivation would give another value, and
      // every hash or chain made with the lost one would silently stop matching.
      if (!this.#stable.has(purpose)) {
        throw new KeyRingError('CORRUPT', this.where, `the key ring has no ${purpose} entry (deleted?); restore the store from a backup`);
      }
    }
    const active = records.filter((record) => record.purpose === 'secrets' && record.retiredAt === null);
    if (active.length !== 1) throw new KeyRingError('CORRUPT', this.where, `the key ring has ${active.length} active data keys (expected 1)`);
    this.#active = { id: active[0]!.id, key: this.#dataKeys.get(active[0]!.id)!, createdAt: active[0]!.createdAt };
  }

  /** A stable secret (`pepper`, `audit-chain`, `privacy`). */
  secret(purpose: StableSecretPurpose): Buffer {
    const key = this.#stable.get(purpose);
    if (key === undefined) throw new KeyRingError('INVALID_ARGUMENT', this.where, `no stable secret "${String(purpose)}"`);
    return Buffer.from(key);
  }

  /** The data key new values are sealed under (SecretBox). */
  activeDataKey(): DataKey {
    return this.#active;
  }

  /**
   * A data key by id: from memory, else from the store (a key another process created since this one opened),
   * unwrapped under this process's master key. Undefined when there is no such key or it cannot be unwrapped here.
   */
  dataKey(id: string): Buffer | undefined {
    const known = this.#dataKeys.get(id);
    if (known !== undefined) return known;
    if (!KEY_ID.test(id) || !id.startsWith('d')) return undefined;
    try {
      const raw = this.#storage.read(() => this.#storage.key(id));
      if (raw === undefined || raw === null) return undefined;
      const record = checkRecord(raw, this.where);
      if (record.purpose !== 'secrets' || record.id !== id) return undefined;
      const key = unwrapKey(this.#wrapping, record, this.where);
      this.#dataKeys.set(id, key);
      return key;
    } catch (error) {
      this.#log?.warn(
        { store: this.where, keyId: id, reason: (error as Error).message },
        'key ring: a data key written by another process cannot be unwrapped here (master key rotated? restart with the new keyring.masterKey)',
      );
      return undefined;
    }
  }

  /** The entries as this process knows them, for `status`-like views; no key material. */
  describe(): KeyInfo[] {
    return inspectKeyRing(this.#storage).keys.slice();
  }

  /**
   * Makes a new random data key active now (the previous one is kept for reading). Refused when the store's ring
   * is no longer wrapped by this process's master key (another process rotated it): a key wrapped by the old one
   * would be unreadable to everyone else.
   */
  rotateDataKey(): KeyInfo {
    const created = this.#storage.write(() => {
      const kek = checkKek(this.#storage.kek(), this.where);
      if (kek === undefined || !constantTimeEqual(kek.fingerprint, this.#fingerprint)) {
        throw new KeyRingError('STALE_MASTER_KEY', this.where, 'the key ring is wrapped by another master key now; restart with the current keyring.masterKey');
      }
      return this.#insertDataKey(activeSecretsKey(this.#records()), this.#now());
    });
    this.#dataKeys.set(created.id, created.key);
    this.#active = created;
    return { id: created.id, purpose: 'secrets', createdAt: created.createdAt, retiredAt: null, active: true };
  }

  /**
   * The periodic check (daily in a running store, and at open): adopts the data key another process made active,
   * rotates the active one when its period is over. Never throws: a failure is logged and the next run retries;
   * sealing goes on under the key in memory, which stays readable.
   */
  maintain(): void {
    try {
      const state = this.#storage.read(() => ({ kek: checkKek(this.#storage.kek(), this.where), records: this.#records() }));
      if (state.kek === undefined || !constantTimeEqual(state.kek.fingerprint, this.#fingerprint)) {
        if (!this.#staleReported) {
          this.#staleReported = true;
          this.#log?.warn(
            { store: this.where },
            'key ring: re-wrapped under a new master key by another process; this process keeps serving with the keys it holds and ' +
              'makes no new data keys: restart it with the new keyring.masterKey',
          );
        }
        return;
      }
      const active = activeSecretsKey(state.records);
      if (active !== undefined && active.id !== this.#active.id && active.createdAt >= this.#active.createdAt) {
        const key = this.dataKey(active.id);
        if (key !== undefined) this.#active = { id: active.id, key, createdAt: active.createdAt };
      }
      if (active === undefined || this.#due(active)) {
        const created = this.#storage.write(() => {
          const kek = checkKek(this.#storage.kek(), this.where);
          if (kek === undefined || !constantTimeEqual(kek.fingerprint, this.#fingerprint)) return undefined;
          const current = activeSecretsKey(this.#records());
          // Another process may have rotated between the read and this transaction.
          if (current !== undefined && !this.#due(current)) return undefined;
          return this.#insertDataKey(current, this.#now());
        });
        if (created !== undefined) {
          this.#dataKeys.set(created.id, created.key);
          this.#active = created;
          this.#log?.info?.({ store: this.where, keyId: created.id }, 'key ring: data key rotated (schedule)');
        }
      }
    } catch (error) {
      this.#log?.warn({ store: this.where, reason: (error as Error).message }, 'key ring: scheduled check failed; retrying at the next one');
    }
  }

  /**
   * Switches this (running) ring to `masterKey` once the store's ring is wrapped by it: after another process ran
   * `rampart keyring rotate`, a config reload that brings the new `keyring.masterKey` can hand it over here instead
   * of restarting. Every entry is unwrapped with it first; a key that does not wrap the ring is refused
   * (`WRONG_MASTER_KEY`) and the ring goes on as before. The key already in use is a no-op.
   */
  adoptMasterKey(masterKey: Buffer): void {
    assertMasterKey(masterKey);
    const fingerprint = kekFingerprint(masterKey);
    if (constantTimeEqual(fingerprint, this.#fingerprint)) return;
    const wrapping = wrappingKey(masterKey);
    const { kek, records } = this.#storage.read(() => ({ kek: checkKek(this.#storage.kek(), this.where), records: this.#records() }));
    if (kek === undefined || !constantTimeEqual(kek.fingerprint, fingerprint)) throw wrongMasterKey(this.where);
    for (const record of records) {
      const key = unwrapKey(wrapping, record, this.where);
      if (record.purpose === 'secrets') this.#dataKeys.set(record.id, key);
    }
    this.#wrapping = wrapping;
    this.#fingerprint = fingerprint;
    this.#staleReported = false;
  }

  /**
   * Re-wraps every entry under `newMasterKey`, in one write transaction with `within` (the store re-seals values
   * there that only the old master key opens). Entries are read and unwrapped inside the transaction, so a data
   * key another process added since this ring was opened is re-wrapped too. From the commit on, only the new
   * master key opens the ring; this object goes on with the new one. Resolves the number of entries re-wrapped.
   */
  rotateMasterKey(newMasterKey: Buffer, within?: () => void): number {
    assertMasterKey(newMasterKey);
    const newFingerprint = kekFingerprint(newMasterKey);
    if (constantTimeEqual(newFingerprint, this.#fingerprint)) {
      throw new KeyRingError('INVALID_ARGUMENT', this.where, 'the new master key is the current one');
    }
    const newWrapping = wrappingKey(newMasterKey);
    const count = this.#storage.write(() => {
      const kek = checkKek(this.#storage.kek(), this.where);
      if (kek === undefined) throw new KeyRingError('CORRUPT', this.where, 'the key ring has no master-key fingerprint');
      if (constantTimeEqual(kek.fingerprint, newFingerprint)) {
        throw new KeyRingError('ALREADY_ROTATED', this.where, 'the key ring is already wrapped by the new master key');
      }
      this.#checkFingerprint(kek);
      const records = this.#records();
      for (const record of records) {
        const key = unwrapKey(this.#wrapping, record, this.where);
        this.#storage.rewrapKey(record.id, wrapKey(newWrapping, record.id, record.purpose, key));
      }
      this.#storage.putKek({ fingerprint: newFingerprint, createdAt: kek.createdAt, rotatedAt: this.#now() });
      within?.();
      return records.length;
    });
    this.#wrapping = newWrapping;
    this.#fingerprint = newFingerprint;
    return count;
  }
}
