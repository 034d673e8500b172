/**
 * Printing a stored time (ms since the epoch) in listings and exports: `rampart events`, `rampart audit export`,
 * `rampart users list`, the api-keys listings and `rampart privacy export`.
 *
 * A row changed outside Rampart can hold a time JavaScript's Date cannot represent (beyond ±8.64e15 ms, ECMA-262
 * §21.4.1.22 TimeClip), and `toISOString` throws a RangeError ("Invalid time value") that names no row and stops
 * the whole listing. The healthy rows are still worth printing, so such a time prints as a marker instead.
 */

/** The time as ISO 8601 / RFC 3339 (`2026-11-01T12:00:00.000Z`), or `invalid time (…)` naming the stored value. */
export function formatStoredTime(ms: number): string {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? `invalid time (${String(ms)})` : date.toISOString();
}
