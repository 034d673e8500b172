/**
 * TOTP (RFC 6238) for the built-in identity provider: secrets, the `otpauth://` provisioning URI, and the one
 * verification path every endpoint uses (enrolment confirmation, MFA after login, step-up).
 *
 * Parameters are the ones every authenticator app supports (SHA-1, 6 digits, 30 s): RFC 6238 allows others, but
 * Google Authenticator and several others silently ignore them and would show wrong codes.
 *
 * - Secrets are 160 random bits (RFC 4226 §4 R6 recommends 160; otplib refuses under 128).
 * - A code is accepted for the current step and one step either side (RFC 6238 §5.2 "at most one time step"
 *   of network delay / clock drift), and only once: the matched step is recorded with the store's atomic
 *   `recordTotpStep`, so a replayed code, or any code of the same or an earlier step, is refused even when two
 *   requests race (RFC 6238 §5.2: "the verifier MUST NOT accept the second attempt of the same OTP").
 * - Codes are checked for shape (exactly 6 ASCII digits) before any HMAC: otplib throws on other input, and
 *   refusing early gives one answer for every malformed code.
 */
import { randomBytes } from 'node:crypto';
import { generate, verify, ScureBase32Plugin } from 'otplib';
import type { IdentityStore } from '../../storage/ports.ts';

export const TOTP_SECRET_BYTES = 20;
export const TOTP_PERIOD_SECONDS = 30;
export const TOTP_DIGITS = 6;
/** Steps accepted on either side of the current one (RFC 6238 §5.2). */
export const TOTP_WINDOW_STEPS = 1;

const CODE_SHAPE = /^[0-9]{6}$/;
const base32 = new ScureBase32Plugin();

/** A fresh random secret (160 bits from the OS CSPRNG). */
export function generateTotpSecret(): Buffer {
  return randomBytes(TOTP_SECRET_BYTES);
}

/** RFC 4648 base32 without padding, as authenticator apps expect it in the URI. */
export function encodeTotpSecret(secret: Uint8Array): string {
  return base32.encode(secret).replace(/=+$/, '');
}

export function decodeTotpSecret(text: string): Uint8Array {
  return base32.decode(text);
}

/** The RFC 6238 time step T = floor(unixSeconds / 30) at `nowMs`. */
export function totpStep(nowMs: number): number {
  return Math.floor(nowMs / 1000 / TOTP_PERIOD_SECONDS);
}

/** True for exactly six ASCII digits. */
export function isTotpCodeShape(code: unknown): code is string {
  return typeof code === 'string' && CODE_SHAPE.test(code);
}

/**
 * The provisioning URI in the Key Uri Format authenticator apps read
 * (`otpauth://totp/ISSUER:ACCOUNT?secret=…&issuer=…&algorithm=SHA1&digits=6&period=30`). Issuer and account are
 * percent-encoded, the issuer is repeated as a parameter (the label prefix alone is ambiguous for some apps), and
 * the defaults are spelled out so an app cannot assume others.
 */
export function totpUri(issuer: string, account: string, secret: Uint8Array): string {
  const label = `${encodeURIComponent(issuer)}:${encodeURIComponent(account)}`;
  const query =
    `secret=${encodeTotpSecret(secret)}&issuer=${encodeURIComponent(issuer)}` +
    `&algorithm=SHA1&digits=${TOTP_DIGITS}&period=${TOTP_PERIOD_SECONDS}`;
  return `otpauth://totp/${label}?${query}`;
}

/** The code for `nowMs` (what an authenticator app shows): tests and the e2e flow use it as the app would. */
export function generateTotpCode(secret: Uint8Array, nowMs: number): Promise<string> {
  return generate({ secret, epoch: Math.floor(nowMs / 1000), period: TOTP_PERIOD_SECONDS, digits: TOTP_DIGITS, algorithm: 'sha1' });
}

/**
 * The step the code belongs to when it is valid within ±1 step of `nowMs`, else null. Does not record the step:
 * use `TotpVerifier.verifyAndConsume` wherever a code authenticates someone.
 */
export async function matchTotpStep(secret: Uint8Array, code: string, nowMs: number): Promise<number | null> {
  if (!isTotpCodeShape(code)) return null;
  const result = await verify({
    secret,
    token: code,
    epoch: Math.floor(nowMs / 1000),
    epochTolerance: TOTP_WINDOW_STEPS * TOTP_PERIOD_SECONDS,
    period: TOTP_PERIOD_SECONDS,
    digits: TOTP_DIGITS,
    algorithm: 'sha1',
  });
  // The functional API types TOTP and HOTP results together; only the TOTP one carries timeStep.
  return result.valid && 'timeStep' in result ? result.timeStep : null;
}

/** Why a code was refused (for logs and events only; clients get one generic answer). */
export type TotpRefusal = 'no-secret' | 'not-confirmed' | 'malformed' | 'wrong-code' | 'replayed';

export type TotpOutcome = { readonly ok: true; readonly step: number } | { readonly ok: false; readonly reason: TotpRefusal };

export class TotpVerifier {
  readonly #identities: IdentityStore;

  constructor(identities: IdentityStore) {
    this.#identities = identities;
  }

  /**
   * Checks `code` against the user's secret and, when it matches, records its step atomically: true exactly once
   * per step. `allowUnconfirmed` is for the enrolment confirmation, the only place an unconfirmed secret counts.
   */
  async verifyAndConsume(userId: string, code: unknown, nowMs: number, allowUnconfirmed = false): Promise<TotpOutcome> {
    const record = await this.#identities.getTotp(userId);
    if (record === undefined) return { ok: false, reason: 'no-secret' };
    if (record.confirmedAt === null && !allowUnconfirmed) return { ok: false, reason: 'not-confirmed' };
    if (!isTotpCodeShape(code)) return { ok: false, reason: 'malformed' };
    const step = await matchTotpStep(record.secret, code, nowMs);
    if (step === null) return { ok: false, reason: 'wrong-code' };
    // A cheap early refusal; the atomic compare-and-set below is what actually decides under concurrency.
    if (record.lastUsedStep !== null && step <= record.lastUsedStep) return { ok: false, reason: 'replayed' };
    if (!(await this.#identities.recordTotpStep(userId, step))) return { ok: false, reason: 'replayed' };
    return { ok: true, step };
  }
}
