import { describe, expect, it } from 'vitest';
import { formatStoredTime } from './stored-time.ts';

/** ECMA-262 TimeClip: the largest time, in ms either side of the epoch, that Date represents. */
const MAX_DATE_MS = 8.64e15;

describe('formatStoredTime', () => {
  const table: [string, number, string][] = [
    ['a normal time', Date.UTC(2026, 10, 1, 12, 30, 5, 123), '2026-11-01T12:30:05.123Z'],
    ['the epoch', 0, '1970-01-01T00:00:00.000Z'],
    ['the last time Date represents', MAX_DATE_MS, '+275760-09-13T00:00:00.000Z'],
    ['the first time Date represents', -MAX_DATE_MS, '-271821-04-20T00:00:00.000Z'],
    ['one ms after the last', MAX_DATE_MS + 1, 'invalid time (8640000000000001)'],
    ['one ms before the first', -MAX_DATE_MS - 1, 'invalid time (-8640000000000001)'],
    ['the value of the audit finding', 9_000_000_000_000_000, 'invalid time (9000000000000000)'],
    ['1e300', 1e300, 'invalid time (1e+300)'],
    ['NaN', Number.NaN, 'invalid time (NaN)'],
    ['Infinity', Number.POSITIVE_INFINITY, 'invalid time (Infinity)'],
    ['-Infinity', Number.NEGATIVE_INFINITY, 'invalid time (-Infinity)'],
  ];
  it.each(table)('%s', (_what, ms, text) => {
    expect(formatStoredTime(ms)).toBe(text);
  });
});
