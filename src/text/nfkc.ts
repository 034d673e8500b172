/**
 * Unicode NFKC in time linear in the text, for text an attacker chooses.
 *
 * Why: normalization puts every run of non-starters (characters of canonical combining class above 0: combining
 * marks) in canonical order, and ICU, which `String.prototype.normalize` runs, does that by insertion sort. A run of
 * n marks of alternating classes costs n² steps: 64,000 of them (128 KB of UTF-8) kept the event loop for 1.5 to
 * 3 s on the machine of 2026-11-29 (quadratic from 1,000 marks up).
 *
 * UAX #15 §13 (Stream-Safe Text Format) is the standard's answer: no real text has more than 30 non-starters in a
 * row, and a process that must bound its buffers inserts U+034F COMBINING GRAPHEME JOINER (a starter that blocks
 * reordering) after every 30 of them. Nothing is dropped, so distinct texts stay distinct, and any text that has no
 * such run (every real one) normalizes exactly as NFKC.
 */

/**
 * Code points whose compatibility decomposition starts with a non-starter: the marks (\p{M}), and the halfwidth
 * katakana sound marks U+FF9E and U+FF9F, which NFKC turns into the combining U+3099 and U+309A. nfkc.test.ts checks
 * that no other code point, in the ICU that Node ships, decomposes to a non-starter first.
 */
const NON_STARTER = '[\\p{M}\\uFF9E\\uFF9F]';

/** UAX #15 §13: the most non-starters a stream-safe text has in a row. */
export const MAX_NON_STARTERS = 30;

/** A run longer than MAX_NON_STARTERS (checked with a bounded quantifier: linear, at most 31 steps per start). */
const LONG_RUN = new RegExp(`${NON_STARTER}{${MAX_NON_STARTERS + 1},}`, 'u');
const LONG_RUN_ALL = new RegExp(LONG_RUN.source, 'gu');
const EVERY_MAX = new RegExp(`(?:${NON_STARTER}){${MAX_NON_STARTERS}}(?=${NON_STARTER})`, 'gu');

const COMBINING_GRAPHEME_JOINER = '\u034f';

/** Whether `text` has more than MAX_NON_STARTERS non-starters in a row (a text no real writing produces). */
export function hasLongNonStarterRun(text: string): boolean {
  return LONG_RUN.test(text);
}

/**
 * `text` in the Stream-Safe Text Format of UAX #15 §13: a U+034F after every 30 non-starters in a row. Counted on the
 * text's own code points (the standard counts them decomposed; a mark decomposes to two non-starters at most, so the
 * runs ICU sorts stay under 60 either way, which is what bounds the cost).
 */
export function streamSafe(text: string): string {
  if (!hasLongNonStarterRun(text)) return text;
  return text.replace(LONG_RUN_ALL, (run) => run.replace(EVERY_MAX, `$&${COMBINING_GRAPHEME_JOINER}`));
}

/** NFKC of `text` made stream-safe first: equal to `text.normalize('NFKC')` for every text without a long run. */
export function nfkc(text: string): string {
  return streamSafe(text).normalize('NFKC');
}
