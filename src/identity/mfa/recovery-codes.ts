/**
 * Recovery codes: single-use secrets shown once at TOTP enrolment, for when the authenticator is lost.
 *
 * - 10 codes of 16 characters of Crockford's base32 alphabet (80 random bits each, above the 64 bits NIST
 *   SP 800-63B §5.1.2.1 asks of look-up secrets), shown as `xxxx-xxxx-xxxx-xxxx`.
 * - Crockford's alphabet has no i, l, o or u; typed input is lower-cased, stripped of hyphens and spaces, and
 *   `o` → `0`, `i`/`l` → `1` as Crockford specifies, so a code copied from paper is read back right.
 * - Stored only as `hashSecret` (keyed HMAC-SHA-256 under the pepper) of the normalised code bound to the user
 *   id, so a stolen database does not reveal them and a hash is worthless for another account. Use is atomic in
 *   the store (`useRecoveryCode`): each code works exactly once.
 */
import { randomBytes } from 'node:crypto';
import { hashSecret } from '../../crypto/hashing.ts';

export const RECOVERY_CODE_COUNT = 10;
const GROUP_LENGTH = 4;
const CODE_LENGTH = 16;
/** Crockford base32: 32 symbols, so `byte & 31` picks each with equal probability (256 is a multiple of 32). */
export const RECOVERY_ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
const NORMALISED_SHAPE = new RegExp(`^[${RECOVERY_ALPHABET}]{${CODE_LENGTH}}$`);
/** Longest input looked at: 16 symbols plus generous separators; longer input is refused before any work. */
const MAX_INPUT_LENGTH = 64;

function oneCode(): string {
  const bytes = randomBytes(CODE_LENGTH);
  let code = '';
  for (let i = 0; i < CODE_LENGTH; i += 1) {
    if (i > 0 && i % GROUP_LENGTH === 0) code += '-';
    code += RECOVERY_ALPHABET[bytes[i]! & 31];
  }
  return code;
}

/** A fresh set of distinct codes, formatted for display. */
export function generateRecoveryCodes(count = RECOVERY_CODE_COUNT): string[] {
  const codes = new Set<string>();
  while (codes.size < count) codes.add(oneCode());
  return [...codes];
}

/** The canonical form of typed input, or null when it cannot be a recovery code. */
export function normaliseRecoveryCode(input: unknown): string | null {
  if (typeof input !== 'string' || input.length > MAX_INPUT_LENGTH) return null;
  const compact = input
    .toLowerCase()
    .replace(/[\s-]/g, '')
    .replace(/o/g, '0')
    .replace(/[il]/g, '1');
  return NORMALISED_SHAPE.test(compact) ? compact : null;
}

/** The stored form of a (normalised) code for one user. */
export function hashRecoveryCode(userId: string, normalisedCode: string, pepper: Buffer): string {
  return hashSecret(`rampart-recovery-code:v1:${userId}:${normalisedCode}`, pepper);
}
