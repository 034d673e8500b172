import { describe, expect, it } from 'vitest';
import { MAX_NON_STARTERS, nfkc, streamSafe } from './nfkc.ts';

/**
 * Whether `c` (one code point) has a canonical combining class above 0, read off ICU itself: a character of class
 * 1..239 moves before U+0345 (class 240) in NFD, one of class 221..240 moves after U+0316 (class 220).
 */
function isNonStarter(c: string): boolean {
  return ('a\u0345' + c).normalize('NFD') !== 'a\u0345' + c || ('a' + c + '\u0316').normalize('NFD') !== 'a' + c + '\u0316';
}

/** The longest run of non-starters in the canonical decomposition of a text that is already stream-safe. */
function longestRun(text: string): number {
  let longest = 0;
  let run = 0;
  for (const c of text.normalize('NFKD')) {
    run = isNonStarter(c) ? run + 1 : 0;
    if (run > longest) longest = run;
  }
  return longest;
}

const ACUTE = '\u0301'; // class 230
const GRAVE_BELOW = '\u0316'; // class 220

describe('nfkc: Unicode NFKC in linear time (UAX #15 §13 stream-safe first)', () => {
  it('knows every code point whose NFKD starts with a non-starter (checked against the ICU Node ships)', () => {
    const pattern = /^[\p{M}\uFF9E\uFF9F]/u;
    const missed: string[] = [];
    for (let cp = 0; cp <= 0x10ffff; cp++) {
      if (cp >= 0xd800 && cp <= 0xdfff) continue;
      const c = String.fromCodePoint(cp);
      const first = String.fromCodePoint(c.normalize('NFKD').codePointAt(0)!);
      if (isNonStarter(first) && !pattern.test(c)) missed.push(cp.toString(16));
    }
    expect(missed).toEqual([]);
  });

  it.each([
    ['ASCII', 'O\'Brien; DROP TABLE users --'],
    ['fullwidth', '＜ｓｃｒｉｐｔ＞ ．．／'],
    ['ligatures and compatibility forms', 'ﬁﬂ ① ㎏ ﷺ'],
    ['decomposed accents', `e${ACUTE}a${GRAVE_BELOW}${ACUTE}`],
    ['Hangul jamo', '\u1100\u1161\u11a8'],
    ['emoji and astral', '👩‍💻 𝔘𝔫𝔦𝔠𝔬𝔡𝔢'],
    ['exactly 30 marks in a row', `a${(ACUTE + GRAVE_BELOW).repeat(15)}b`],
    ['halfwidth sound marks', 'ｶﾞｷﾞ\uff9e\uff9f'],
    ['lone surrogates', '\ud800x\udc00'],
  ])('is NFKC itself for text without a long run of non-starters: %s', (_name, text) => {
    expect(streamSafe(text)).toBe(text);
    expect(nfkc(text)).toBe(text.normalize('NFKC'));
  });

  it('puts U+034F after every 30 non-starters in a row, dropping nothing', () => {
    const run = (ACUTE + GRAVE_BELOW).repeat(40); // 80 marks
    const safe = streamSafe(`x${run}y`);
    expect(safe).toBe(`x${run.slice(0, 30)}\u034f${run.slice(30, 60)}\u034f${run.slice(60)}y`);
    expect(nfkc(`x${run}y`)).toBe(safe.normalize('NFKC'));
    // Two texts that differ only past the 30th mark stay different.
    expect(nfkc(`x${ACUTE.repeat(40)}`)).not.toBe(nfkc(`x${ACUTE.repeat(41)}`));
  });

  it.each([
    ['alternating marks', `a${(ACUTE + GRAVE_BELOW).repeat(50_000)}`],
    ['blocks of marks', `a${ACUTE.repeat(50_000)}${GRAVE_BELOW.repeat(50_000)}`],
    ['halfwidth sound marks between marks (non-starters only after NFKC)', `a${(ACUTE + '\uff9e').repeat(50_000)}`],
    ['many short runs', `a${ACUTE.repeat(31)}b`.repeat(3_000)],
  ])('leaves ICU no run of non-starters it would sort in quadratic time: %s', (_name, text) => {
    // The cost of normalizing is the square of the longest run it sorts: bounded by a constant, whatever the input.
    expect(longestRun(streamSafe(text))).toBeLessThanOrEqual(2 * MAX_NON_STARTERS);
  });
});
