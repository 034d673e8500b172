/**
 * Time arguments of `rampart audit export` and `rampart events`: an RFC 3339 timestamp (`2026-11-01T00:00:00Z`,
 * `2026-11-01T01:00:00+01:00`), a UTC date (`2026-11-01`), or a duration back from now (`1h`, `30m`, `7d`,
 * config/units.ts syntax). Anything else is refused: `Date.parse` alone accepts far too much (`1`, `March 7`).
 */
import { parseDuration } from '../config/units.ts';

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/i;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DURATION_TEXT = /^\d+(?:\.\d+)?\s*(?:ms|s|m|h|d)$/;
/** Ten years back is the longest duration that makes sense for a query. */
const MAX_BACK_MS = 3650 * 86_400_000;

export class TimeArgumentError extends Error {
  override readonly name = 'TimeArgumentError';
}

function checkedDate(text: string, year: string, month: string, day: string, ms: number): number {
  // Date.parse rolls 2026-02-31 over to March; refuse a date that does not exist instead.
  const date = new Date(Date.UTC(Number(year), Number(month) - 1, Number(day)));
  if (!Number.isFinite(ms) || date.getUTCMonth() !== Number(month) - 1 || date.getUTCDate() !== Number(day)) {
    throw new TimeArgumentError(`not a valid date: ${text.slice(0, 40)}`);
  }
  return ms;
}

/** Milliseconds since the epoch for a time argument, relative durations counted back from `now`. */
export function parseTimeArgument(text: string, now: number): number {
  const value = text.trim();
  if (value.length === 0 || value.length > 40) throw new TimeArgumentError('a time is an RFC 3339 timestamp, a date (YYYY-MM-DD) or a duration such as 1h');
  let match = RFC3339.exec(value);
  if (match) {
    const [, y, mo, d, h, mi, s] = match;
    if (Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) throw new TimeArgumentError(`not a valid time: ${value}`);
    return checkedDate(value, y!, mo!, d!, Date.parse(value));
  }
  match = DATE.exec(value);
  if (match) return checkedDate(value, match[1]!, match[2]!, match[3]!, Date.parse(`${value}T00:00:00Z`));
  if (DURATION_TEXT.test(value)) {
    const back = parseDuration(value);
    if (back > MAX_BACK_MS) throw new TimeArgumentError('a duration back from now is at most 3650d');
    return now - back;
  }
  throw new TimeArgumentError(`not a time: ${JSON.stringify(value)} (use 2026-11-01T00:00:00Z, 2026-11-01 or a duration such as 1h)`);
}
