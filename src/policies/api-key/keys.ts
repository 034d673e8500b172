/**
 * The API key format: `<prefix>_<publicId>_<secret>`, e.g. `rk_4fGh7Kq2ZpXw_<43 base64url characters>`.
 *
 * - `prefix` ([a-z]{2,8}, default `rk`) names the kind of credential, so secret scanners (GitHub push protection,
 *   gitleaks) and people can recognise a leaked key at a glance.
 * - `publicId` is 12 random base62 characters (≈71 bits). `<prefix>_<publicId>` is the key's *record prefix*: unique,
 *   stored in clear, how a presented key finds its record in one indexed lookup, and how logs and listings name the
 *   key. It is not secret and grants nothing.
 * - `secret` is 32 random bytes (256 bits, issue 3 point 4 "at least 256 random bits") as unpadded base64url
 *   (RFC 4648 §5): 43 characters.
 *
 * Only `hashSecret(wholeKey, pepper)` is stored (crypto/hashing.ts), never the key. Parsing is strict (exact
 * length, exact alphabet per part, canonical base64url) and happens before any store lookup, so hostile input
 * never reaches the store and no two spellings can name one key.
 */
import { randomBytes } from 'node:crypto';
import { randomToken } from '../../crypto/random.ts';

export const DEFAULT_KEY_PREFIX = 'rk';
export const KEY_PREFIX_PATTERN = /^[a-z]{2,8}$/;
export const PUBLIC_ID_LENGTH = 12;
export const SECRET_BYTES = 32;
/** 32 bytes in unpadded base64url: ceil(256 / 6). */
export const SECRET_LENGTH = 43;
/** The longest key any prefix can produce (8-letter prefix): anything longer is refused before further work. */
export const MAX_API_KEY_LENGTH = 8 + 1 + PUBLIC_ID_LENGTH + 1 + SECRET_LENGTH;

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
/** Bytes at or above this are rejected so `byte % 62` is uniform (248 = 4 × 62): no modulo bias. */
const BASE62_LIMIT = 248;

/**
 * 43 base64url characters carry 258 bits; the last character's 2 low bits are padding and must be zero in the
 * canonical encoding (RFC 4648 §3.5). Only these 16 characters can end a canonical encoding of 32 bytes.
 */
const CANONICAL_LAST = 'AEIMQUYcgkosw048';

export class ApiKeyFormatError extends Error {
  override readonly name = 'ApiKeyFormatError';
}

function checkPrefix(prefix: string): void {
  if (typeof prefix !== 'string' || !KEY_PREFIX_PATTERN.test(prefix)) {
    throw new ApiKeyFormatError('API key prefix must be 2 to 8 lower-case letters (a-z)');
  }
}

/** `length` random base62 characters from the OS CSPRNG, by rejection sampling. */
export function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte >= BASE62_LIMIT) continue;
      out += BASE62[byte % 62];
      if (out.length === length) break;
    }
  }
  return out;
}

export interface GeneratedApiKey {
  /** The whole key: shown to the operator once, never stored. */
  readonly key: string;
  /** `<prefix>_<publicId>`: stored in clear, unique, names the key in logs and listings. */
  readonly recordPrefix: string;
}

export function generateApiKey(prefix: string = DEFAULT_KEY_PREFIX): GeneratedApiKey {
  checkPrefix(prefix);
  const recordPrefix = `${prefix}_${randomBase62(PUBLIC_ID_LENGTH)}`;
  return { key: `${recordPrefix}_${randomToken(SECRET_BYTES)}`, recordPrefix };
}

/** True when `value` is a record prefix `<prefix>_<publicId>` (for `api-keys revoke <prefix>`), of `prefix` when given. */
export function isRecordPrefix(value: string, prefix?: string): boolean {
  const match = /^([a-z]{2,8})_[0-9A-Za-z]{12}$/.exec(value);
  return match !== null && (prefix === undefined || match[1] === prefix);
}

/**
 * True when `value` has the shape of a whole key of any prefix (record prefix plus a 43-character secret), so a
 * CLI can refuse it without echoing it. Record ids (`key_` + 22 base64url characters) can contain `_`, so only the
 * full shape counts: a looser test refuses ~1 % of real ids.
 */
export function looksLikeWholeApiKey(value: string): boolean {
  return /^[a-z]{2,8}_[0-9A-Za-z]{12}_[A-Za-z0-9_-]{43}$/.test(value);
}

/**
 * A strict parser for keys of one prefix, built once per policy instance: `recordPrefixOf` is on the hot path and
 * does one length check, one precompiled regular expression and one slice.
 */
export class ApiKeyParser {
  readonly prefix: string;
  readonly keyLength: number;
  readonly #recordPrefixLength: number;
  readonly #pattern: RegExp;

  constructor(prefix: string = DEFAULT_KEY_PREFIX) {
    checkPrefix(prefix);
    this.prefix = prefix;
    this.#recordPrefixLength = prefix.length + 1 + PUBLIC_ID_LENGTH;
    this.keyLength = this.#recordPrefixLength + 1 + SECRET_LENGTH;
    // The prefix is [a-z] only, so it needs no escaping inside the expression.
    this.#pattern = new RegExp(`^${prefix}_[0-9A-Za-z]{${PUBLIC_ID_LENGTH}}_[A-Za-z0-9_-]{${SECRET_LENGTH - 1}}[${CANONICAL_LAST}]$`);
  }

  /** The record prefix (`rk_<publicId>`) of a well-formed key, or undefined for anything else. */
  recordPrefixOf(value: string): string | undefined {
    if (value.length !== this.keyLength || !this.#pattern.test(value)) return undefined;
    return value.slice(0, this.#recordPrefixLength);
  }

  /**
   * Why `value` is not a well-formed key, for the log and the security event (never the value itself). Only called
   * on the failure path.
   */
  describeMalformed(value: string): string {
    if (value.length === 0) return 'empty key';
    if (value.length > MAX_API_KEY_LENGTH) return `longer than ${MAX_API_KEY_LENGTH} characters`;
    if (!value.startsWith(`${this.prefix}_`)) return `does not start with "${this.prefix}_"`;
    if (value.length !== this.keyLength) return `wrong length (${value.length}, expected ${this.keyLength})`;
    const publicId = value.slice(this.prefix.length + 1, this.#recordPrefixLength);
    if (!/^[0-9A-Za-z]+$/.test(publicId)) return 'public id is not base62';
    if (value[this.#recordPrefixLength] !== '_') return 'no separator before the secret';
    const secret = value.slice(this.#recordPrefixLength + 1);
    if (!/^[A-Za-z0-9_-]+$/.test(secret)) return 'secret is not base64url';
    return 'secret is not canonical base64url';
  }
}
