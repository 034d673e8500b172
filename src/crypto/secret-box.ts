/**
 * Authenticated encryption of secrets at rest (TOTP seeds, signing keys; later webhook secrets and
 * upstream credentials) with AES-256-GCM (NIST SP 800-38D).
 *
 * Sealed format, one ASCII string, five dot-separated fields:
 *
 *     v1.<keyId>.<iv>.<ciphertext>.<tag>        (iv, ciphertext, tag: base64url without padding)
 *
 * - `v1` names this format, so a later one can be read side by side.
 * - `keyId` names the data key. In v1 the data key is derived from the master key with HKDF-SHA-256
 *   (RFC 5869), salted with the key id, and the key id is itself a fingerprint derived from the master
 *   key: a value sealed under another master key is recognised as such ("unknown key") instead of
 *   failing as generic tampering. Issue 7 replaces derivation by random data keys wrapped by the
 *   master key (a key ring, `rampart keyring rotate`); the key id field already carries which one.
 * - `iv` is 96 random bits per seal. Random IVs are safe up to 2^32 seals per key (SP 800-38D §8.3),
 *   far beyond the number of secrets a gateway stores.
 * - The additional authenticated data is the identity of the record the secret belongs to (for
 *   example `totp_secrets:usr_123`) together with the version and key id, so a ciphertext copied into
 *   another record, or relabelled with another key id, fails to open.
 *
 * Every failure throws `SecretBoxError` with a fixed message: never the plaintext, the key or the
 * sealed input.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { assertMasterKey, deriveSubkey } from './master-key.ts';

const VERSION = 'v1';
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

export interface SecretBoxOptions {
  /**
   * Previous master keys, kept for opening values sealed before a manual master-key change. New
   * values are always sealed under the current key; `needsReseal` tells which values to rewrite.
   */
  readonly previousMasterKeys?: readonly Buffer[];
}

interface DataKey {
  readonly id: string;
  readonly key: Buffer;
}

function deriveDataKey(masterKey: Buffer): DataKey {
  const id = 'k' + deriveSubkey(masterKey, 'rampart/v1/secret-box-key-id').subarray(0, 9).toString('base64url');
  return { id, key: deriveSubkey(masterKey, 'rampart/v1/secret-box-data-key', id) };
}

/** Strict base64url: only the alphabet, and canonical (Node's decoder silently ignores junk and spare bits). */
function decodeField(text: string, field: string): Buffer {
  if (!BASE64URL.test(text)) throw new SecretBoxError('MALFORMED', `sealed value is malformed: ${field} is not base64url`);
  const bytes = Buffer.from(text, 'base64url');
  if (bytes.toString('base64url') !== text) {
    throw new SecretBoxError('MALFORMED', `sealed value is malformed: ${field} is not canonical base64url`);
  }
  return bytes;
}

function additionalData(keyId: string, aad: string): Buffer {
  return Buffer.from(`rampart-secret-box:${VERSION}:${keyId}:${aad}`, 'utf8');
}

function checkAad(aad: string): void {
  if (typeof aad !== 'string' || aad.length === 0) {
    throw new SecretBoxError('INVALID_ARGUMENT', 'the record identity (additional authenticated data) must be a non-empty string');
  }
}

export class SecretBox {
  readonly #current: DataKey;
  readonly #keys = new Map<string, Buffer>();

  constructor(masterKey: Buffer, options: SecretBoxOptions = {}) {
    assertMasterKey(masterKey);
    this.#current = deriveDataKey(masterKey);
    this.#keys.set(this.#current.id, this.#current.key);
    for (const previous of options.previousMasterKeys ?? []) {
      const dataKey = deriveDataKey(previous);
      if (!this.#keys.has(dataKey.id)) this.#keys.set(dataKey.id, dataKey.key);
    }
  }

  /** Id of the key new values are sealed under. */
  get keyId(): string {
    return this.#current.id;
  }

  /** Encrypts `plaintext` for the record named by `aad`. */
  seal(plaintext: Buffer | string, aad: string): string {
    checkAad(aad);
    const data = typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv(ALGORITHM, this.#current.key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(additionalData(this.#current.id, aad));
    const ciphertext = Buffer.concat([cipher.update(data), cipher.final()]);
    const tag = cipher.getAuthTag();
    return [VERSION, this.#current.id, iv.toString('base64url'), ciphertext.toString('base64url'), tag.toString('base64url')].join('.');
  }

  /** Decrypts a value sealed for the record named by `aad`; throws `SecretBoxError` on any problem. */
  open(sealed: string, aad: string): Buffer {
    checkAad(aad);
    if (typeof sealed !== 'string' || sealed.length === 0) {
      throw new SecretBoxError('MALFORMED', 'sealed value is malformed: empty');
    }
    if (sealed.length > MAX_SEALED_LENGTH) throw new SecretBoxError('MALFORMED', 'sealed value is malformed: too long');
    const fields = sealed.split('.');
    if (fields[0] !== VERSION) {
      // Check the version before the field count, so a future format with more fields is reported as such.
      if (fields.length >= 2 && /^v[0-9]{1,4}$/.test(fields[0] ?? '')) {
        throw new SecretBoxError('UNSUPPORTED_VERSION', 'sealed value uses an unsupported format version');
      }
      throw new SecretBoxError('MALFORMED', 'sealed value is malformed: missing format version');
    }
    if (fields.length !== 5) throw new SecretBoxError('MALFORMED', 'sealed value is malformed: expected 5 fields');
    const [, keyId, ivText, ciphertextText, tagText] = fields as [string, string, string, string, string];
    if (!KEY_ID.test(keyId)) throw new SecretBoxError('MALFORMED', 'sealed value is malformed: bad key id');
    const iv = decodeField(ivText, 'iv');
    const ciphertext = decodeField(ciphertextText, 'ciphertext');
    const tag = decodeField(tagText, 'tag');
    if (iv.length !== IV_BYTES) throw new SecretBoxError('MALFORMED', 'sealed value is malformed: iv must be 96 bits');
    // A shortened tag would weaken authentication (SP 800-38D §5.2.1.2): only full 128-bit tags are accepted.
    if (tag.length !== TAG_BYTES) throw new SecretBoxError('MALFORMED', 'sealed value is malformed: tag must be 128 bits');
    const key = this.#keys.get(keyId);
    if (key === undefined) {
      throw new SecretBoxError(
        'UNKNOWN_KEY',
        `sealed value was sealed under key "${keyId}", which this master key does not provide (wrong or rotated master key?)`,
      );
    }
    const decipher = createDecipheriv(ALGORITHM, key, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(additionalData(keyId, aad));
    decipher.setAuthTag(tag);
    try {
      return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
    } catch {
      throw new SecretBoxError(
        'AUTHENTICATION_FAILED',
        'sealed value failed authentication: it was altered, belongs to another record, or was sealed under another key',
      );
    }
  }

  /** True when the value was sealed under a previous key and should be sealed again under the current one. */
  needsReseal(sealed: string): boolean {
    const keyId = sealed.split('.', 3)[1];
    return keyId !== this.#current.id;
  }
}
