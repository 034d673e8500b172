/**
 * Shared text helpers of the injection detectors: the decoded forms of a value that a detector must also look at
 * (an attacker encodes to slip past a filter that the application decodes afterwards), character classes, and the
 * step meter that the linear-time tests read.
 *
 * Every detector is a hand-written scanner over the string (no regular expression runs over attacker input), so
 * the cost is linear by construction; the meter counts the work so the tests can show it without timing anything
 * (OWASP "Regular expression Denial of Service").
 */

import { nfkc } from '../text/nfkc.ts';

/**
 * Work counter: scanners add one per character or token they visit. Read by the linear-time tests (the count for a
 * doubled input must be about double). A plain integer increment: cheaper than any branch that would skip it.
 */
export const meter = { steps: 0 };

/** How many percent-decoding rounds a value gets: `%25252e` (triple encoding) is as far as real payloads go. */
const MAX_DECODE_ROUNDS = 3;

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  if (l >= 0x61 && l <= 0x66) return l - 0x61 + 10;
  return -1;
}

/**
 * Percent-decoding that never throws and decodes what lenient servers decode: `%XX` bytes read as UTF-8 where
 * overlong forms (`%c0%ae` is `.`, `%c0%af` is `/`, `%e0%80%ae` is `.`) give their code point instead of an error
 * (the IIS/Tomcat "overlong UTF-8" traversal, CVE-2000-0884 and friends), and IIS's `%uXXXX`. Anything that does not
 * decode stays as it was.
 */
export function percentDecode(s: string): string {
  if (s.indexOf('%') === -1) return s;
  let out = '';
  let i = 0;
  const n = s.length;
  let plainStart = 0;
  while (i < n) {
    meter.steps++;
    if (s.charCodeAt(i) !== 0x25 /* % */) {
      i++;
      continue;
    }
    // %uXXXX (IIS)
    if (i + 5 < n && (s.charCodeAt(i + 1) | 0x20) === 0x75) {
      const a = hexValue(s.charCodeAt(i + 2));
      const b = hexValue(s.charCodeAt(i + 3));
      const c = hexValue(s.charCodeAt(i + 4));
      const d = hexValue(s.charCodeAt(i + 5));
      if ((a | b | c | d) >= 0) {
        out += s.slice(plainStart, i) + String.fromCharCode((a << 12) | (b << 8) | (c << 4) | d);
        i += 6;
        plainStart = i;
        continue;
      }
    }
    const first = byteAt(s, i);
    if (first < 0) {
      i++;
      continue;
    }
    out += s.slice(plainStart, i);
    // A run of %XX bytes: decode it as (lenient) UTF-8.
    let cp = -1;
    let need = 0;
    if (first < 0x80) {
      cp = first;
    } else if ((first & 0xe0) === 0xc0) {
      cp = first & 0x1f;
      need = 1;
    } else if ((first & 0xf0) === 0xe0) {
      cp = first & 0x0f;
      need = 2;
    } else if ((first & 0xf8) === 0xf0) {
      cp = first & 0x07;
      need = 3;
    }
    let j = i + 3;
    let ok = cp >= 0;
    for (let k = 0; ok && k < need; k++) {
      const next = byteAt(s, j);
      if (next < 0 || (next & 0xc0) !== 0x80) ok = false;
      else {
        cp = (cp << 6) | (next & 0x3f);
        j += 3;
      }
    }
    if (ok && cp <= 0x10ffff) {
      out += String.fromCodePoint(cp);
      i = j;
    } else {
      out += '\ufffd';
      i += 3;
    }
    plainStart = i;
  }
  return plainStart === 0 ? s : out + s.slice(plainStart);
}

function byteAt(s: string, i: number): number {
  if (i + 2 >= s.length || s.charCodeAt(i) !== 0x25) return -1;
  const hi = hexValue(s.charCodeAt(i + 1));
  const lo = hexValue(s.charCodeAt(i + 2));
  return hi < 0 || lo < 0 ? -1 : (hi << 4) | lo;
}

/**
 * Character classes present in a string, as bit flags: one pass per value, shared by every detector, so a detector
 * whose payloads need a character the value does not have costs nothing ("select a seat" has no quote, `;`, `(`,
 * `$` or `<`, and only the detectors that can fire on plain words look further).
 */
export const F = {
  QUOTE: 1 << 0, // ' "
  BACKTICK: 1 << 1, // `
  SEMI: 1 << 2, // ;
  PIPE: 1 << 3, // |
  AMP: 1 << 4, // &
  NEWLINE: 1 << 5, // \n \r
  DOLLAR: 1 << 6, // $
  LT: 1 << 7, // <
  COLON: 1 << 8, // :
  PAREN: 1 << 9, // ( )
  DOT: 1 << 10, // .
  SLASH: 1 << 11, // / \ and the Unicode slashes U+2215, U+2044
  NUL: 1 << 12, // U+0000
  BRACE: 1 << 13, // { }
  UNDERSCORE: 1 << 14, // _
  BRACKET: 1 << 15, // [ ]
  PERCENT: 1 << 16, // %
  NON_ASCII: 1 << 17,
  SPACE: 1 << 18, // space, tab
  EQUALS: 1 << 19, // =
  AT: 1 << 20, // @
  HASH: 1 << 21, // #
  OTHER: 1 << 22, // any other ASCII character that is not a letter, digit, `-` or `_`
} as const;

const FLAG_TABLE = new Int32Array(128);
for (const [chars, flag] of [
  ['\'"', F.QUOTE],
  ['`', F.BACKTICK],
  [';', F.SEMI],
  ['|', F.PIPE],
  ['&', F.AMP],
  ['\n\r', F.NEWLINE],
  ['$', F.DOLLAR],
  ['<', F.LT],
  [':', F.COLON],
  ['()', F.PAREN],
  ['.', F.DOT],
  ['/\\', F.SLASH],
  ['\u0000', F.NUL],
  ['{}', F.BRACE],
  ['_', F.UNDERSCORE],
  ['[]', F.BRACKET],
  ['%', F.PERCENT],
  [' \t', F.SPACE],
  ['=', F.EQUALS],
  ['@', F.AT],
  ['#', F.HASH],
] as const) {
  for (const ch of chars) FLAG_TABLE[ch.charCodeAt(0)] = FLAG_TABLE[ch.charCodeAt(0)]! | flag;
}
for (let c = 0; c < 128; c++) {
  const plain = isAsciiLetter(c) || isDigit(c) || c === 0x2d || c === 0x5f;
  if (FLAG_TABLE[c] === 0 && !plain) FLAG_TABLE[c] = F.OTHER;
}


export function charFlags(s: string): number {
  let flags = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 128) flags |= FLAG_TABLE[c]!;
    else flags |= c === 0x2215 || c === 0x2044 ? F.SLASH | F.NON_ASCII : F.NON_ASCII;
  }
  meter.steps += s.length;
  return flags;
}

/**
 * Calls `visit` with the value and each distinct decoded form of it (with its character flags), stopping at the
 * first `true`: up to three rounds of percent-decoding (double and triple encoding), then Unicode NFKC when the text
 * is not ASCII (fullwidth `＜ｓｃｒｉｐｔ＞` and `．．／` fold to their ASCII forms in many back ends).
 */
export function someVariant(value: string, visit: (text: string, flags: number) => boolean): boolean {
  let flags = charFlags(value);
  if (visit(value, flags)) return true;
  let current = value;
  for (let round = 0; round < MAX_DECODE_ROUNDS && (flags & F.PERCENT) !== 0; round++) {
    const decoded = percentDecode(current);
    if (decoded === current) break;
    flags = charFlags(decoded);
    if (visit(decoded, flags)) return true;
    current = decoded;
  }
  if ((flags & F.NON_ASCII) !== 0) {
    // Stream-safe first (text/nfkc.ts): plain NFKC is quadratic in a run of combining marks.
    const folded = nfkc(current);
    if (folded !== current && visit(folded, charFlags(folded))) return true;
  }
  return false;
}

export function isAsciiLetter(c: number): boolean {
  const l = c | 0x20;
  return l >= 0x61 && l <= 0x7a;
}

export function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

export function isWordChar(c: number): boolean {
  return isAsciiLetter(c) || isDigit(c) || c === 0x5f /* _ */;
}

/** Space, tab, CR, LF, vertical tab, form feed, and NBSP. */
export function isSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d) || c === 0xa0;
}

/** Index of the first non-space character at or after `i`. */
export function skipSpaces(s: string, i: number): number {
  while (i < s.length && isSpace(s.charCodeAt(i))) {
    meter.steps++;
    i++;
  }
  return i;
}

/**
 * Case-insensitive comparison of `s` at `i` with a lower-case ASCII `word`. Bounded by `word.length`, so callers
 * that try a fixed list of words at each position stay linear.
 */
export function startsWithAt(s: string, i: number, word: string): boolean {
  if (i < 0 || i + word.length > s.length) return false;
  for (let k = 0; k < word.length; k++) {
    const c = s.charCodeAt(i + k);
    const w = word.charCodeAt(k);
    if (c !== w && !(isAsciiLetter(c) && (c | 0x20) === w)) return false;
  }
  return true;
}
