/**
 * Comparison of secrets in time that does not depend on where the inputs first differ, so an
 * attacker cannot recover a secret byte by byte from response times (CWE-208).
 */
import { timingSafeEqual } from 'node:crypto';

function toBytes(value: string | Uint8Array): Uint8Array {
  return typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
}

/**
 * True when both values hold the same bytes (strings compare as UTF-8). Inputs of different length
 * are still run through one full comparison of the first value against itself before answering
 * false, so a length mismatch does not return measurably earlier than a content mismatch of the
 * same size. The length itself is not hidden: callers compare fixed-length values (hashes, HMACs)
 * wherever the length of the secret matters.
 */
export function constantTimeEqual(a: string | Uint8Array, b: string | Uint8Array): boolean {
  const left = toBytes(a);
  const right = toBytes(b);
  if (left.byteLength !== right.byteLength) {
    timingSafeEqual(left, left);
    return false;
  }
  return timingSafeEqual(left, right);
}
