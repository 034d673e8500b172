/**
 * Random identifiers and secrets. Everything here comes from the operating system's CSPRNG
 * (`crypto.randomBytes`), never from `Math.random`.
 */
import { randomBytes } from 'node:crypto';

/** Below 128 bits a bearer secret can be guessed offline (OWASP Session Management Cheat Sheet: ≥ 64 bits of entropy, we keep twice that). */
const MIN_SECRET_BYTES = 16;
const MAX_SECRET_BYTES = 1024;

/**
 * A random secret as base64url (RFC 4648 §5, no padding): safe in URLs, cookies and headers.
 * The default 32 bytes (256 bits) is what API keys, session ids and refresh tokens use.
 */
export function randomToken(bytes = 32): string {
  if (!Number.isInteger(bytes) || bytes < MIN_SECRET_BYTES || bytes > MAX_SECRET_BYTES) {
    throw new RangeError(`randomToken: bytes must be an integer from ${MIN_SECRET_BYTES} to ${MAX_SECRET_BYTES}`);
  }
  return randomBytes(bytes).toString('base64url');
}

/**
 * A record identifier: an optional type prefix (`usr_`, `con_`, `key_`) and 128 random bits, so ids
 * cannot be enumerated (OWASP API1:2023, BOLA) and never collide across processes.
 */
export function newId(prefix = ''): string {
  return prefix + randomBytes(16).toString('base64url');
}
