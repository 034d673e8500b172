/**
 * The WHATWG URL parser for text a client (or an upstream) chooses, without its quadratic case.
 *
 * Why: a special URL's host goes through IDNA (UTS #46), which normalizes it, and the normalization sorts a run of
 * combining marks in quadratic time, as ICU's NFKC does (text/nfkc.ts): a host of 64,000 marks kept `new URL` busy
 * for 2 to 4 s on the machine of 2026-11-29 (32,000: 0.6 to 0.8 s). The parser percent-decodes the host before that,
 * so `%CC%81` counts as a mark. No host a resolver could answer has such a run (UAX #15 §13: no real text has more
 * than 30 non-starters in a row), so an authority holding one is refused as an invalid URL, before the parser sees it,
 * and the caller's handling of invalid URLs applies.
 */
import { hasLongNonStarterRun } from './nfkc.ts';

/** `new URL(text, base)`, except that an authority with a long run of combining marks throws the parser's TypeError. */
export function parseUrl(text: string, base?: string): URL {
  if (hasHostileAuthority(text)) throw new TypeError('Invalid URL: the host has more than 30 combining marks in a row');
  return base === undefined ? new URL(text) : new URL(text, base);
}

/**
 * Whether the authority of `text` (percent-decoded, as the host parser decodes it) has a long run of non-starters.
 * The authority is over-approximated: from after the scheme (or the start, for a relative reference such as
 * `//host:80/`) past any slashes and backslashes up to the next `/`, `\`,
 * `?` or `#` (what the WHATWG parser reads as userinfo, host and port for special schemes): reading more than the
 * parser can only refuse a URL no host could have. Linear in the text.
 */
function hasHostileAuthority(text: string): boolean {
  // Cheap exit for the common case: marks are non-ASCII, percent-encoded ones start with `%`.
  let plain = true;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x80 || c === 0x25) {
      plain = false;
      break;
    }
  }
  if (plain) return false;
  let start = schemeEnd(text);
  while (start < text.length && isSlash(text.charCodeAt(start))) start++;
  let end = start;
  while (end < text.length && !isAuthorityEnd(text.charCodeAt(end))) end++;
  const authority = text.slice(start, end);
  return hasLongNonStarterRun(authority.includes('%') ? percentDecoded(authority) : authority);
}

/**
 * Where a URL's scheme ends: just past `scheme:` when the text (after the leading C0 controls and spaces the parser
 * strips) starts with one (RFC 3986 §3.1: a letter, then letters, digits, `+`, `-`, `.`), else where the text starts.
 */
function schemeEnd(text: string): number {
  let at = 0;
  while (at < text.length && text.charCodeAt(at) <= 0x20) at++;
  const start = at;
  for (; at < text.length; at++) {
    const c = text.charCodeAt(at);
    const letter = (c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a;
    if (c === 0x3a) return at > start ? at + 1 : start;
    if (!(letter || (at > start && ((c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2d || c === 0x2e)))) return start;
  }
  return start;
}

function isSlash(c: number): boolean {
  return c === 0x2f || c === 0x5c;
}

function isAuthorityEnd(c: number): boolean {
  return c === 0x2f || c === 0x5c || c === 0x3f || c === 0x23;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const lower = c | 0x20;
  return lower >= 0x61 && lower <= 0x66 ? lower - 0x61 + 10 : -1;
}

/** WHATWG percent-decode (on the UTF-8 bytes; `%` not followed by two hex digits stays), then UTF-8 decode. */
function percentDecoded(text: string): string {
  const bytes = Buffer.from(text, 'utf8');
  let out = 0;
  for (let i = 0; i < bytes.length; i++) {
    const high = bytes[i] === 0x25 && i + 2 < bytes.length ? hexValue(bytes[i + 1]!) : -1;
    const low = high >= 0 ? hexValue(bytes[i + 2]!) : -1;
    if (low >= 0) {
      bytes[out++] = high * 16 + low;
      i += 2;
    } else bytes[out++] = bytes[i]!;
  }
  return bytes.toString('utf8', 0, out);
}
