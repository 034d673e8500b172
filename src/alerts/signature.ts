/**
 * Signing of outbound alert webhooks, in the scheme Stripe documents for its webhooks ("Verify webhook signatures
 * manually"): the header
 *
 *     Rampart-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of `${t}.${body}` under the destination's secret>
 *
 * The timestamp is inside the signed bytes, so a captured request cannot be replayed later with a fresh `t`; the
 * receiver refuses timestamps outside its tolerance (default 5 minutes, either way). Each delivery attempt is signed
 * afresh, so a retry an hour later still verifies. Unknown schemes (`v0=`, …) are ignored and several `v1=` entries
 * are allowed, so a sender may sign with two secrets while they are rotated.
 *
 * How a receiver verifies (any language): read the raw body bytes before parsing; split the header on `,`; take `t`
 * and every `v1`; compute HMAC-SHA256(secret, t + "." + body) as lowercase hex; compare with each `v1` in constant
 * time; accept when one matches and |now - t| <= tolerance. In TypeScript: `verifyAlertSignature` below.
 */
import { createHmac } from 'node:crypto';
import { constantTimeEqual } from '../crypto/constant-time.ts';

export const SIGNATURE_HEADER = 'rampart-signature';
export const ALERT_ID_HEADER = 'rampart-alert-id';
export const DEFAULT_TOLERANCE_SECONDS = 300;

/** A header longer than this is refused before any parsing (it is attacker-supplied at the receiver). */
const MAX_HEADER_LENGTH = 2048;
const MAX_SIGNATURES = 8;
const TIMESTAMP = /^\d{1,12}$/;
const HEX_SHA256 = /^[0-9a-f]{64}$/;

function hmacHex(secret: string, timestamp: number, body: string | Uint8Array): string {
  const mac = createHmac('sha256', secret);
  mac.update(`${timestamp}.`, 'utf8');
  mac.update(body);
  return mac.digest('hex');
}

/** The `Rampart-Signature` value for `body` at `timestamp` (unix seconds). */
export function signAlert(body: string | Uint8Array, secret: string, timestamp: number): string {
  if (!Number.isInteger(timestamp) || timestamp < 0) throw new RangeError('timestamp must be unix seconds');
  return `t=${timestamp},v1=${hmacHex(secret, timestamp, body)}`;
}

export type VerifyResult =
  | { readonly ok: true; readonly timestamp: number }
  | { readonly ok: false; readonly reason: 'missing' | 'malformed' | 'timestamp' | 'signature' };

export interface VerifyOptions {
  /** Seconds a timestamp may differ from now, either way (default 300). */
  readonly toleranceSeconds?: number;
  /** Epoch milliseconds; injectable for tests. */
  readonly now?: () => number;
}

/**
 * Verifies a received alert: `header` is the `Rampart-Signature` value, `body` the raw bytes as received (not
 * re-serialised JSON), `secrets` the destination's secret (or the current and previous one during rotation).
 */
export function verifyAlertSignature(
  header: string | readonly string[] | undefined,
  body: string | Uint8Array,
  secrets: string | readonly string[],
  options: VerifyOptions = {},
): VerifyResult {
  if (header === undefined || header === '') return { ok: false, reason: 'missing' };
  // Two headers of the same name are ambiguous: refuse rather than pick one.
  if (typeof header !== 'string') return { ok: false, reason: 'malformed' };
  if (header.length > MAX_HEADER_LENGTH) return { ok: false, reason: 'malformed' };
  let timestamp: number | undefined;
  const signatures: string[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) return { ok: false, reason: 'malformed' };
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 't') {
      if (timestamp !== undefined || !TIMESTAMP.test(value)) return { ok: false, reason: 'malformed' };
      timestamp = Number(value);
    } else if (key === 'v1') {
      if (!HEX_SHA256.test(value) || signatures.length >= MAX_SIGNATURES) return { ok: false, reason: 'malformed' };
      signatures.push(value);
    }
  }
  if (timestamp === undefined || signatures.length === 0) return { ok: false, reason: 'malformed' };
  const tolerance = options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  const now = Math.floor((options.now ?? Date.now)() / 1000);
  if (Math.abs(now - timestamp) > tolerance) return { ok: false, reason: 'timestamp' };
  const keys = typeof secrets === 'string' ? [secrets] : secrets;
  let matched = false;
  // Every pair is compared (no early exit), each comparison in constant time (CWE-208).
  for (const secret of keys) {
    if (secret === '') continue;
    const expected = hmacHex(secret, timestamp, body);
    for (const signature of signatures) if (constantTimeEqual(expected, signature)) matched = true;
  }
  return matched ? { ok: true, timestamp } : { ok: false, reason: 'signature' };
}
