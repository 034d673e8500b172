/**
 * The master key: 32 bytes from the environment or a file, the root of every key Rampart derives
 * (the SecretBox data keys, the pepper of hashed secrets). It is never stored, logged or echoed:
 * every error here describes the input's shape, never its value.
 */
import { hkdfSync, randomBytes } from 'node:crypto';

export const MASTER_KEY_BYTES = 32;

export class MasterKeyError extends Error {
  override readonly name = 'MasterKeyError';
}

const HEX = /^[0-9a-fA-F]{64}$/;
// 32 bytes are 43 base64 characters plus one optional `=` of padding (RFC 4648 §4 and §5).
const BASE64 = /^[A-Za-z0-9+/]{43}=?$/;
const BASE64URL = /^[A-Za-z0-9_-]{43}=?$/;

/**
 * Parses a master key written as hex (64 digits), base64 or base64url (43 characters, with or
 * without padding). Surrounding whitespace (a trailing newline in a key file) is ignored. Anything
 * else, including a truncated key file, non-canonical encodings and placeholder keys made of a single
 * repeated byte, is refused with a `MasterKeyError` that never contains the input.
 */
export function parseMasterKey(text: string): Buffer {
  if (typeof text !== 'string') throw new MasterKeyError('master key must be a string');
  const trimmed = text.trim();
  let key: Buffer;
  if (HEX.test(trimmed)) {
    key = Buffer.from(trimmed, 'hex');
  } else if (BASE64.test(trimmed) || BASE64URL.test(trimmed)) {
    const unpadded = trimmed.replace(/=$/, '');
    const standard = BASE64.test(trimmed);
    key = Buffer.from(unpadded, standard ? 'base64' : 'base64url');
    // The last character carries 4 spare bits; Node ignores them, so two spellings would decode to
    // the same key. Refuse the non-canonical one so a corrupted key file does not load by accident.
    const canonical = standard ? key.toString('base64').replace(/=$/, '') : key.toString('base64url');
    if (canonical !== unpadded) {
      throw new MasterKeyError('master key is not canonically encoded (corrupted last character?)');
    }
  } else {
    throw new MasterKeyError(
      `master key must be ${MASTER_KEY_BYTES} bytes written as 64 hex digits or 43 base64/base64url characters ` +
        `(got ${trimmed.length} characters)`,
    );
  }
  if (key.length !== MASTER_KEY_BYTES) {
    throw new MasterKeyError(`master key must be exactly ${MASTER_KEY_BYTES} bytes`);
  }
  if (key.every((byte) => byte === key[0])) {
    throw new MasterKeyError('master key is a placeholder (every byte is the same); generate a random one');
  }
  return key;
}

/** A fresh random master key in the base64url form `parseMasterKey` reads (for development and tests). */
export function generateMasterKey(): string {
  return randomBytes(MASTER_KEY_BYTES).toString('base64url');
}

export function assertMasterKey(masterKey: Buffer): void {
  if (!Buffer.isBuffer(masterKey) || masterKey.length !== MASTER_KEY_BYTES) {
    throw new MasterKeyError(`master key must be a Buffer of exactly ${MASTER_KEY_BYTES} bytes`);
  }
}

/**
 * Derives an independent 32-byte subkey for one purpose with HKDF-SHA-256 (RFC 5869). Distinct
 * `purpose` strings (HKDF "info") give keys that reveal nothing about each other or the master key,
 * so one master key can safely serve encryption, hashing and key identification.
 */
export function deriveSubkey(masterKey: Buffer, purpose: string, salt: string | Buffer = Buffer.alloc(0)): Buffer {
  assertMasterKey(masterKey);
  return Buffer.from(hkdfSync('sha256', masterKey, salt, purpose, 32));
}
