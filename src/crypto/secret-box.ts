/**
 * Authenticated encryption of secrets at rest (TOTP seeds, signing keys; later webhook secrets and
 * upstream credentials) with AES-256-GCM (NIST SP 800-38D).
 *
 * Sealed format, one ASCII string, five dot-separated fields:
 *
 *     v2.<keyId>.<iv>.<ciphertext>.<tag>        (iv, ciphertext, tag: base64url without padding)
 *     v1.<keyId>.<iv>.<ciphertext>.<tag>        (read only, when the box has a key ring)
 *
 * - `v2` (issue 7): `keyId` names a random 256-bit data key of the key ring (crypto/keyring.ts), kept
 *   wrapped by the master key in the store. Rotating the master key re-wraps the data keys and leaves
 *   every v2 value as it is; rotating the data key seals new values under a new one and keeps the old
 *   ones for reading.
 * - `v1` (before the key ring): the data key is derived from the master key with HKDF-SHA-256
 *   (RFC 5869), salted with the key id, and the key id is itself a fingerprint derived from the master
 *   key, so a value sealed under another master key is recognised as such ("unknown key") instead of
 *   failing as generic tampering. A box without a key ring (the memory store) still seals v1; a box
 *   with one only reads v1, and the SQLite store re-seals v1 values as v2 at open and on
 *   `rampart keyring rotate` (the new master key could not open them).
 * - `iv` is 96 random bits per seal. Random IVs are safe up to 2^32 seals per key (SP 800-38D §8.3),
 *   far beyond the number of secrets a gateway stores, the more so as data keys rotate.
 * - The additional authenticated data is the identity of the record the secret belongs to (for
 *   example `totp_secrets:usr_123`) together with the version and key id, so a ciphertext copied into
 *   another record, or relabelled with another key id or version, fails to open.
 *
 * Every failure throws `SecretBoxError` with a fixed message: never the plaintext, the key or the
 * sealed input.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { assertMasterKey, deriveSubkey } from './master-key.ts';

const ALGORITHM = 'aes-256-gcm';
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Bounds the work done on hostile input before any cryptography runs. Secrets are small; 1 MiB is generous. */
const MAX_SEALED_LENGTH = 1024 * 1024;
const KEY_ID = /^[A-Za-z0-9_-]{1,64}$/;
const BASE64URL = /^[A-Za-z0-9_-]*$/;

export type SecretBoxErrorCode = 'MALFORMED' | 'UNSUPPORTED_VERSION' | 'UNKNOWN_KEY' | 'AUTHENTICATION_FAILED' | 'INVALID_ARGUMENT';

export class SecretBoxError extends Error {
  override readonly name = 'SecretBoxError';
  readonly code: SecretBoxErrorCode;
  constructor(code: SecretBoxErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/** A data key: its id (written into every value sealed under it) and its 32 bytes. */
export interface DataKey {
  readonly id: string;
  readonly key: Buffer;
}

/**
 * Where a v2 box takes its data keys: the key ring (crypto/keyring.ts `KeyRing`). `activeDataKey` is
 * asked at every seal, so a rotation takes effect without rebuilding the box; `dataKey` may look a key
 * up in the store (one another process created) and answers undefined when it has none.
 */
export interface DataKeyProvider {
  activeDataKey(): DataKey;
  dataKey(id: string): Buffer | undefined;
}

export interface SecretBoxOptions {
  /**
   * Previous master keys, kept for opening v1 values sealed before a manual master-key change. New
   * values are always sealed under the current key; `needsReseal` tells which values to rewrite.
   */
  readonly previousMasterKeys?: readonly Buffer[];
  /** The key ring: with it the box seals v2 values under the ring's active data key and reads v1 and v2. */
  readonly dataKeys?: DataKeyProvider;
}

function deriveV1DataKey(masterKey: Buffer): DataKey {
  const id = 'k' + deriveSubkey(masterKey, 'rampart/v1/secret-box-key-id').subarray(0, 9).toString('base64url');
  return { id, key: deriveSubkey(masterKey, 'rampart/v1/secret-box-data-key', id) };
}

/** The key id a v1 value sealed under `masterKey` carries (the SQLite store checks it before building a key ring). */
export function v1KeyId(masterKey: Buffer): string {
  return deriveV1DataKey(masterKey).id;
}

/**
 * Strict base64url: only the alphabet, and canonical (Node's decoder silently ignores junk and spare bits).
 * Shared with the key ring's wrapped-key format.
 */
export function decodeBase64urlField(text: string, field: string, what = 'sealed value'): Buffer {
  if (!BASE64URL.test(text)) throw new SecretBoxError('MALFORMED', `${what} is malformed: ${field} is not base64url`);
  const bytes = Buffer.from(text, 'base64url');
  if (bytes.toString('base64url') !== text) {
    throw new SecretBoxError('MALFORMED', `${what} is malformed: ${field} is not canonical base64url`);
  }
  return bytes;
}

/**
 * AES-256-GCM with a fresh 96-bit IV and a full 128-bit tag; the three parts as base64url, in order. The one
 * place Rampart encrypts: SecretBox envelopes and the key ring's wrapped keys both go through it.
 */
export function gcmEncrypt(key: Buffer, plaintext: Buffer, aad: Buffer): [iv: string, ciphertext: string, tag: string] {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv(ALGORITHM, key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return [iv.toString('base64url'), ciphertext.toString('base64url'), cipher.getAuthTag().toString('base64url')];
}

export interface GcmParts {
  readonly iv: Buffer;
  readonly ciphertext: Buffer;
  readonly tag: Buffer;
}

/** The three base64url fields of `gcmEncrypt`, checked strictly (alphabet, canonical form, IV and tag sizes). */
export function parseGcmFields(fields: readonly [string, string, string], what: string): GcmParts {
  const iv = decodeBase64urlField(fields[0], 'iv', what);
  const ciphertext = decodeBase64urlField(fields[1], 'ciphertext', what);
  const tag = decodeBase64urlField(fields[2], 'tag', what);
  if (iv.length !== IV_BYTES) throw new SecretBoxError('MALFORMED', `${what} is malformed: iv must be 96 bits`);
  // A shortened tag would weaken authentication (SP 800-38D §5.2.1.2): only full 128-bit tags are accepted.
  if (tag.length !== TAG_BYTES) throw new SecretBoxError('MALFORMED', `${what} is malformed: tag must be 128 bits`);
  return { iv, ciphertext, tag };
}

/** The inverse of `gcmEncrypt`; a failed tag check is `AUTHENTICATION_FAILED` with `failure` as its message. */
export function gcmDecrypt(key: Buffer, parts: GcmParts, aad: Buffer, failure: string): Buffer {
  const decipher = createDecipheriv(ALGORITHM, key, parts.iv, { authTagLength: TAG_BYTES });
  decipher.setAAD(aad);
  decipher.setAuthTag(parts.tag);
  try {
    return Buffer.concat([decipher.update(parts.ciphertext), decipher.final()]);
  } catch {
    throw new SecretBoxError('AUTHENTICATION_FAILED', failure);
  }
}

function additionalData(version: string, keyId: string, aad: string): Buffer {
  return Buffer.from(`rampart-secret-box:${version}:${keyId}:${aad}`, 'utf8');
}

function checkAad(aad: string): void {
  if (typeof aad !== 'string' || aad.length === 0) {
    throw new SecretBoxError('INVALID_ARGUMENT', 'the record identity (additional authenticated data) must be a non-empty string');
  }
}

export class SecretBox {
  readonly #v1: DataKey;
  readonly #v1Keys = new Map<string, Buffer>();
  readonly #ring: DataKeyProvider | undefined;

  constructor(masterKey: Buffer, options: SecretBoxOptions = {}) {
    assertMasterKey(masterKey);
    this.#v1 = deriveV1DataKey(masterKey);
    this.#v1Keys.set(this.#v1.id, this.#v1.key);
    for (const previous of options.previousMasterKeys ?? []) {
      const dataKey = deriveV1DataKey(previous);
      if (!this.#v1Keys.has(dataKey.id)) this.#v1Keys.set(dataKey.id, dataKey.key);
    }
    this.#ring = options.dataKeys;
  }

  /** Id of the key new values are sealed under. */
  get keyId(): string {
    return this.#ring === undefined ? this.#v1.id : this.#ring.activeDataKey().id;
  }

  /** Encrypts `plaintext` for the record named by `aad`. */
  seal(plaintext: Buffer | string, aad: string): string {
    checkAad(aad);
    const data = typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext;
    const version = this.#ring === undefined ? 'v1' : 'v2';
    const current = this.#ring === undefined ? this.#v1 : this.#ring.activeDataKey();
    return [version, current.id, ...gcmEncrypt(current.key, data, additionalData(version, current.id, aad))].join('.');
  }

  /** Decrypts a value sealed for the record named by `aad`; throws `SecretBoxError` on any problem. */
  open(sealed: string, aad: string): Buffer {
    checkAad(aad);
    if (typeof sealed !== 'string' || sealed.length === 0) {
      throw new SecretBoxError('MALFORMED', 'sealed value is malformed: empty');
    }
    if (sealed.length > MAX_SEALED_LENGTH) throw new SecretBoxError('MALFORMED', 'sealed value is malformed: too long');
    const fields = sealed.split('.');
    const version = fields[0];
    if (version !== 'v1' && version !== 'v2') {
      // Check the version before the field count, so a future format with more fields is reported as such.
      if (fields.length >= 2 && /^v[0-9]{1,4}$/.test(version ?? '')) {
        throw new SecretBoxError('UNSUPPORTED_VERSION', 'sealed value uses an unsupported format version');
      }
      throw new SecretBoxError('MALFORMED', 'sealed value is malformed: missing format version');
    }
    if (fields.length !== 5) throw new SecretBoxError('MALFORMED', 'sealed value is malformed: expected 5 fields');
    const [, keyId, ivText, ciphertextText, tagText] = fields as [string, string, string, string, string];
    if (!KEY_ID.test(keyId)) throw new SecretBoxError('MALFORMED', 'sealed value is malformed: bad key id');
    const parts = parseGcmFields([ivText, ciphertextText, tagText], 'sealed value');
    let key: Buffer | undefined;
    if (version === 'v1') {
      key = this.#v1Keys.get(keyId);
      if (key === undefined) {
        throw new SecretBoxError(
          'UNKNOWN_KEY',
          `sealed value was sealed under key "${keyId}", which this master key does not provide (wrong or rotated master key?)`,
        );
      }
    } else {
      key = this.#ring?.dataKey(keyId);
      if (key === undefined) {
        throw new SecretBoxError(
          'UNKNOWN_KEY',
          `sealed value was sealed under data key "${keyId}", which is not in this key ring (another store, or a key ring restored from an older backup?)`,
        );
      }
    }
    return gcmDecrypt(
      key,
      parts,
      additionalData(version, keyId, aad),
      'sealed value failed authentication: it was altered, belongs to another record, or was sealed under another key',
    );
  }

  /**
   * True when the value should be sealed again under the current key: a v1 value in a box with a key ring, or
   * a value sealed under another key than the one new values get.
   */
  needsReseal(sealed: string): boolean {
    const [version, keyId] = sealed.split('.', 3);
    if (this.#ring !== undefined && version !== 'v2') return true;
    return keyId !== this.keyId;
  }
}
