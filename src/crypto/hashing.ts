/**
 * Hashing of high-entropy bearer secrets: API keys, session ids, refresh tokens, recovery codes and
 * OAuth client secrets. These carry at least 128 random bits, so a slow password hash buys nothing
 * (no dictionary to slow down) and would cost milliseconds per request; a keyed HMAC-SHA-256 is the
 * right tool (OWASP Password Storage Cheat Sheet, "peppering"). The key (pepper) is derived from the
 * master key, so a stolen database alone does not even allow checking a guessed token offline.
 *
 * Passwords are NOT hashed here: they have little entropy and use argon2id (passwords.ts).
 */
import { createHmac } from 'node:crypto';
import { deriveSubkey } from './master-key.ts';

/** HKDF "info" of the pepper. Never change it: every stored hash depends on it. */
const PEPPER_PURPOSE = 'rampart/v1/secret-hash-pepper';

/**
 * The pepper for `hashSecret`, derived from the master key.
 *
 * Issue 7 (key ring, `rampart keyring rotate`) must keep this value stable across master-key
 * rotation, or every stored API key, session and refresh token hash stops matching: it becomes a
 * data key of the ring, wrapped by the master key and re-wrapped (not regenerated) on rotation.
 */
export function deriveSecretPepper(masterKey: Buffer): Buffer {
  return deriveSubkey(masterKey, PEPPER_PURPOSE);
}

/** HMAC-SHA-256 of the secret under the pepper, as 64 lowercase hex digits. */
export function hashSecret(value: string, pepper: Buffer): string {
  return createHmac('sha256', pepper).update(value, 'utf8').digest('hex');
}
