/**
 * One request, one canonical path (ARCHITECTURE.md): the request-target is canonicalised once, and that same string
 * is used for routing, authorization and forwarding. Input that different parsers could read differently is
 * rejected, never "fixed" in a way the upstream would not reproduce.
 *
 * The gateway CVE classes this closes (see test/fixtures/path-confusion-cases.ts):
 * - Envoy CVE-2019-9901 and Ory Oathkeeper GHSA-p224-6x5r-fjpm: rules matched on the raw path while the upstream
 *   resolved `..`; here dot segments are removed (RFC 3986 §5.2.4) before anything looks at the path.
 * - Envoy CVE-2021-29492: `%2F` / `%5C` were opaque to the proxy but separators to the upstream; here they are
 *   rejected.
 * - APISIX CVE-2021-43557: matching on the raw `$request_uri` (`//internal`, `/%61dmin`); here duplicate slashes
 *   are merged, unreserved escapes decoded (RFC 3986 §6.2.2.2) and a leading `//` is refused outright.
 * - oauth2-proxy GHSA-7rh7-c77v-6434 and GHSA-pxq7-h93f-9jrg: allow-lists matched the query or the part after `#`;
 *   here the query is split off before matching, and `#`, `%23` and `%3F` in the path are refused.
 * - Tomcat/Spring path parameters (`..;/`, e.g. CVE-2020-5902): raw `;` is refused unless explicitly allowed, and
 *   even then a dot segment carrying parameters is refused.
 * - Double encoding (`%252e`), overlong / invalid UTF-8 (`%C0%AE`), backslashes and NUL bytes: refused.
 */

export type CanonicalResult = { ok: true; path: string; query: string } | { ok: false; reason: string };

export interface CanonicalOptions {
  /**
   * Accept raw `;` in the path (RFC 3986 §3.3 path parameters). Off by default: Tomcat, Jetty and Spring strip
   * `;params` from segments before resolving them, so `/public/..;/admin` is `/admin` to them and `/public/...` to a
   * proxy. Even when on, segments like `..;x`, `.;x` and `;x` are refused. Note that with it on, `/admin;x/y` is a
   * different path from `/admin/y` for routing: only turn it on for upstreams that treat `;` as plain data.
   */
  allowSemicolons: boolean;
  /** Longest request-target accepted, in characters (default 8192). Longer ones fail with `REASON_TOO_LONG`. */
  maxLength: number;
  /**
   * Accept `%23` (`#`) and `%3F` (`?`) in the path. Off by default: an upstream that decodes the path and then
   * re-splits it would see a fragment or query the gateway never saw (oauth2-proxy GHSA-pxq7-h93f-9jrg lists
   * "reject `%23` at the ingress" as its mitigation).
   */
  allowEncodedDelimiters?: boolean;
}

export const DEFAULT_CANONICAL_OPTIONS: Readonly<CanonicalOptions> = Object.freeze({
  allowSemicolons: false,
  maxLength: 8192,
  allowEncodedDelimiters: false,
});

/** The one reason that deserves a different status (414 rather than 400), so callers can test for it. */
export const REASON_TOO_LONG = 'request target too long';

const SLASH = 0x2f;
const DOT = 0x2e;
const PERCENT = 0x25;
const QUESTION = 0x3f;
const HASH = 0x23;
const SEMICOLON = 0x3b;

// Classes of raw ASCII characters in the path (RFC 3986 §3.3: pchar = unreserved / pct-encoded / sub-delims / ":" / "@").
const PLAIN = 0; // unreserved, sub-delims other than ';', ':' and '@': never need work
const SPECIAL = 1; // '/', '.', '%', ';', '?', '#': may need work, decided by the caller
const CONTROL = 2;
const SPACE = 3;
const BACKSLASH = 4;
const NOT_PCHAR = 5; // '"', '<', '>', '[', ']', '^', '`', '{', '|', '}': not allowed raw in a path

const PATH_CLASS = buildPathClassTable();

function buildPathClassTable(): Uint8Array {
  const table = new Uint8Array(128).fill(NOT_PCHAR);
  for (let c = 0; c < 0x20; c++) table[c] = CONTROL;
  table[0x7f] = CONTROL;
  table[0x20] = SPACE;
  table[0x5c] = BACKSLASH;
  const plain = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_~!$&'()*+,=:@";
  for (let i = 0; i < plain.length; i++) table[plain.charCodeAt(i)] = PLAIN;
  for (const c of [SLASH, DOT, PERCENT, SEMICOLON, QUESTION, HASH]) table[c] = SPECIAL;
  return table;
}

/** RFC 3986 §2.3 unreserved characters: their escapes are decoded (§6.2.2.2), everything else stays encoded. */
const UNRESERVED = buildUnreservedTable();

function buildUnreservedTable(): Uint8Array {
  const table = new Uint8Array(128);
  const unreserved = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~';
  for (let i = 0; i < unreserved.length; i++) table[unreserved.charCodeAt(i)] = 1;
  return table;
}

const HEX_DIGITS = '0123456789ABCDEF';

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/** The byte encoded by the two hex digits at `at` and `at + 1`, or -1 if they are not two hex digits. */
function hexByteAt(s: string, at: number): number {
  if (at + 1 >= s.length) return -1;
  const high = hexValue(s.charCodeAt(at));
  const low = hexValue(s.charCodeAt(at + 1));
  return high < 0 || low < 0 ? -1 : (high << 4) | low;
}

/** True when the escape at `at` (pointing at '%') already uses upper-case hex. */
function isUpperCaseEscape(s: string, at: number): boolean {
  const a = s.charCodeAt(at + 1);
  const b = s.charCodeAt(at + 2);
  return !(a >= 0x61 && a <= 0x66) && !(b >= 0x61 && b <= 0x66);
}

function reject(reason: string): CanonicalResult {
  return { ok: false, reason };
}

function reasonForClass(cls: number): string {
  switch (cls) {
    case CONTROL:
      return 'control character in path';
    case SPACE:
      return 'raw space in path';
    case BACKSLASH:
      return 'backslash in path';
    default:
      return 'character not allowed in path';
  }
}

/**
 * Canonicalises Node's `req.url` (the raw request-target, RFC 9112 §3.2). Returns the canonical path and the raw
 * query (without `?`), or a short internal reason for the log. Reasons are never sent to clients.
 */
export function canonicalizeRequestTarget(
  rawTarget: string,
  options: CanonicalOptions = DEFAULT_CANONICAL_OPTIONS,
): CanonicalResult {
  const length = rawTarget.length;
  if (length === 0) return reject('empty request target');
  if (length > options.maxLength) return reject(REASON_TOO_LONG);
  if (rawTarget.charCodeAt(0) !== SLASH) return reject(describeNonOriginForm(rawTarget));
  // "//host/path" is a network-path reference (RFC 3986 §4.2): any URL parser in the chain reads "host" as an
  // authority. It is also the APISIX CVE-2021-43557 bypass shape ("//internal/" against "^/internal/").
  if (length > 1 && rawTarget.charCodeAt(1) === SLASH) return reject('scheme-relative request target');

  // Fast path: the overwhelmingly common target has no escapes, no "//", no "/." and nothing forbidden, and is its
  // own canonical form. One scan, no allocation beyond the path/query split.
  const allowSemicolons = options.allowSemicolons;
  let previous = SLASH;
  let i = 1;
  for (; i < length; i++) {
    const c = rawTarget.charCodeAt(i);
    if (c >= 0x80) return reject('raw non-ascii in path');
    const cls = PATH_CLASS[c];
    if (cls === PLAIN) {
      previous = c;
      continue;
    }
    if (cls !== SPECIAL) return reject(reasonForClass(cls as number));
    if (c === QUESTION) break;
    if (c === HASH) return reject('fragment in request target');
    if (c === PERCENT) return canonicalizeSlow(rawTarget, options);
    if ((c === SLASH || c === DOT) && previous === SLASH) return canonicalizeSlow(rawTarget, options);
    if (c === SEMICOLON) {
      if (!allowSemicolons) return reject('path parameter (;) in path');
      if (previous === SLASH) return canonicalizeSlow(rawTarget, options);
    }
    previous = c;
  }
  if (i === length) return { ok: true, path: rawTarget, query: '' };
  const queryProblem = checkQuery(rawTarget, i + 1);
  if (queryProblem !== null) return reject(queryProblem);
  return { ok: true, path: rawTarget.slice(0, i), query: rawTarget.slice(i + 1) };
}

function describeNonOriginForm(target: string): string {
  if (target === '*') return 'asterisk-form request target';
  if (target.includes('://')) return 'absolute-form request target';
  return 'request target is not origin-form';
}

/**
 * The query stays raw (the upstream parses it), but it must not smuggle anything a downstream parser could read as
 * part of the path or a fragment: no controls, spaces, raw non-ASCII, `#`, or broken escapes.
 */
function checkQuery(target: string, from: number): string | null {
  for (let j = from; j < target.length; j++) {
    const c = target.charCodeAt(j);
    if (c < 0x20 || c === 0x7f) return 'control character in query';
    if (c === 0x20) return 'raw space in query';
    if (c > 0x7e) return 'raw non-ascii in query';
    if (c === HASH) return 'fragment in request target';
    if (c === PERCENT && hexByteAt(target, j + 1) < 0) return 'invalid percent escape in query';
  }
  return null;
}

/**
 * The full algorithm: pass 1 validates and decodes escapes (unreserved decoded, the rest kept with upper-case hex,
 * RFC 3986 §6.2.2.1-2); pass 2 merges duplicate slashes and removes dot segments (§5.2.4) on the decoded string, so
 * `%2e%2e` counts as `..`. Escaped `/` is rejected in pass 1, so every `/` in pass 2 is a real separator.
 */
function canonicalizeSlow(target: string, options: CanonicalOptions): CanonicalResult {
  const length = target.length;
  const allowSemicolons = options.allowSemicolons;
  const allowEncodedDelimiters = options.allowEncodedDelimiters === true;
  let decoded = '';
  let chunkStart = 0;
  let queryStart = -1;
  let sawEncodedPercent = false;
  let i = 0;
  while (i < length) {
    const c = target.charCodeAt(i);
    if (c >= 0x80) return reject('raw non-ascii in path');
    const cls = PATH_CLASS[c];
    if (cls === PLAIN) {
      i++;
      continue;
    }
    if (cls !== SPECIAL) return reject(reasonForClass(cls as number));
    if (c === SLASH || c === DOT) {
      i++;
      continue;
    }
    if (c === QUESTION) {
      queryStart = i;
      break;
    }
    if (c === HASH) return reject('fragment in request target');
    if (c === SEMICOLON) {
      if (!allowSemicolons) return reject('path parameter (;) in path');
      i++;
      continue;
    }
    // c === '%'
    const byte = hexByteAt(target, i + 1);
    if (byte < 0) return reject('invalid percent escape');
    if (byte >= 0x80) {
      const sequenceLength = utf8SequenceLength(target, i, byte);
      if (typeof sequenceLength === 'string') return reject(sequenceLength);
      let allUpper = true;
      for (let k = 0; k < sequenceLength; k++) if (!isUpperCaseEscape(target, i + 3 * k)) allUpper = false;
      if (!allUpper) {
        decoded += target.slice(chunkStart, i);
        for (let k = 0; k < sequenceLength; k++) decoded += upperCaseEscape(hexByteAt(target, i + 3 * k + 1));
        chunkStart = i + 3 * sequenceLength;
      }
      i += 3 * sequenceLength;
      continue;
    }
    if (UNRESERVED[byte] === 1) {
      decoded += target.slice(chunkStart, i) + String.fromCharCode(byte);
      i += 3;
      chunkStart = i;
      continue;
    }
    const problem = encodedBytePolicy(byte, allowEncodedDelimiters);
    if (byte === PERCENT) sawEncodedPercent = true;
    if (problem !== null) return reject(problem);
    if (!isUpperCaseEscape(target, i)) {
      decoded += target.slice(chunkStart, i) + upperCaseEscape(byte);
      chunkStart = i + 3;
    }
    i += 3;
  }
  const pathEnd = queryStart < 0 ? length : queryStart;
  decoded = chunkStart === 0 && pathEnd === length ? target : decoded + target.slice(chunkStart, pathEnd);
  // "%25" followed by two hex digits *after decoding* is another escape: a second decoding layer (upstream,
  // framework, file system) sees something the gateway did not, e.g. "%252e%252e" -> "%2e%2e" -> "..". Checked on
  // the decoded string so "%25%32%65" (which decodes to "%252e") is caught too.
  if (sawEncodedPercent && hasDoubleEncoding(decoded)) return reject('double percent-encoding');
  let query = '';
  if (queryStart >= 0) {
    const queryProblem = checkQuery(target, queryStart + 1);
    if (queryProblem !== null) return reject(queryProblem);
    query = target.slice(queryStart + 1);
  }
  const path = removeDotSegments(decoded, allowSemicolons);
  if (typeof path !== 'string') return reject(path.reason);
  return { ok: true, path, query };
}

function hasDoubleEncoding(decoded: string): boolean {
  for (let at = decoded.indexOf('%25'); at >= 0; at = decoded.indexOf('%25', at + 3)) {
    if (hexByteAt(decoded, at + 3) >= 0) return true;
  }
  return false;
}

function upperCaseEscape(byte: number): string {
  return '%' + HEX_DIGITS.charAt(byte >> 4) + HEX_DIGITS.charAt(byte & 0x0f);
}

/** Escapes of ASCII bytes that are not unreserved: a reason to reject, or null to keep them encoded. */
function encodedBytePolicy(byte: number, allowEncodedDelimiters: boolean): string | null {
  if (byte === 0) return 'encoded null byte';
  if (byte < 0x20 || byte === 0x7f) return 'encoded control character';
  if (byte === SLASH) return 'encoded slash';
  if (byte === 0x5c) return 'encoded backslash';
  if (!allowEncodedDelimiters) {
    if (byte === HASH) return 'encoded fragment delimiter';
    if (byte === QUESTION) return 'encoded query delimiter';
  }
  return null;
}

/**
 * Validates a UTF-8 sequence spelled as consecutive escapes, starting with the lead byte at `at` (RFC 3629 §4,
 * Unicode Table 3-7 "well-formed byte sequences"). Returns the number of bytes, or the reason it is refused.
 * Overlong forms (`%C0%AE` for `.`, `%E0%80%AE`) are the classic path-traversal smuggling (CVE-2000-0884 class).
 */
function utf8SequenceLength(target: string, at: number, lead: number): number | string {
  let count: number;
  let secondMin = 0x80;
  let secondMax = 0xbf;
  if (lead < 0xc0) return 'invalid utf-8 (stray continuation byte)';
  if (lead < 0xc2) return 'overlong utf-8';
  if (lead < 0xe0) count = 2;
  else if (lead < 0xf0) {
    count = 3;
    if (lead === 0xe0) secondMin = 0xa0; // below is an overlong 2-byte value
    if (lead === 0xed) secondMax = 0x9f; // above is a UTF-16 surrogate (U+D800-U+DFFF)
  } else if (lead < 0xf5) {
    count = 4;
    if (lead === 0xf0) secondMin = 0x90; // below is an overlong 3-byte value
    if (lead === 0xf4) secondMax = 0x8f; // above is beyond U+10FFFF
  } else return 'invalid utf-8 (code point beyond U+10FFFF)';
  for (let k = 1; k < count; k++) {
    const position = at + 3 * k;
    if (target.charCodeAt(position) !== PERCENT) return 'invalid utf-8 (truncated sequence)';
    const byte = hexByteAt(target, position + 1);
    if (byte < 0) return 'invalid percent escape';
    const min = k === 1 ? secondMin : 0x80;
    const max = k === 1 ? secondMax : 0xbf;
    if (byte < min || byte > max) {
      if (k === 1 && byte >= 0x80 && byte < min) return 'overlong utf-8';
      if (k === 1 && lead === 0xed && byte > max && byte <= 0xbf) return 'invalid utf-8 (surrogate)';
      if (k === 1 && lead === 0xf4 && byte > max && byte <= 0xbf) return 'invalid utf-8 (code point beyond U+10FFFF)';
      return 'invalid utf-8 (bad continuation byte)';
    }
  }
  return count;
}

/**
 * Merges duplicate slashes, then removes `.` and `..` segments (RFC 3986 §5.2.4). A `..` with nothing left to
 * remove is refused rather than clamped at the root: an upstream that keeps it (or a file server that does not)
 * would disagree. A trailing slash is kept, and a final `.` or `..` leaves one (`/a/b/..` -> `/a/`). Duplicate
 * slashes are merged first, as nginx's `merge_slashes` does, so `/a//..` is `/`, not RFC 3986's `/a/`.
 * Returns the path or the refusal.
 */
function removeDotSegments(path: string, allowSemicolons: boolean): string | { reason: string } {
  if (!needsSegmentWork(path)) return path;
  const segments: string[] = [];
  let trailingSlash = false;
  let start = 1;
  for (;;) {
    let end = path.indexOf('/', start);
    const last = end < 0;
    if (last) end = path.length;
    const length = end - start;
    if (length === 0) {
      // empty segment: a duplicate slash (merged) or the trailing slash
      trailingSlash = true;
    } else if (length === 1 && path.charCodeAt(start) === DOT) {
      trailingSlash = true;
    } else if (length === 2 && path.charCodeAt(start) === DOT && path.charCodeAt(start + 1) === DOT) {
      if (segments.length === 0) return { reason: 'dot segment escapes root' };
      segments.pop();
      trailingSlash = true;
    } else {
      const segment = path.slice(start, end);
      if (allowSemicolons && isParameterisedDotOrEmptySegment(segment)) {
        return { reason: 'dot or empty segment with path parameter' };
      }
      segments.push(segment);
      trailingSlash = false;
    }
    if (last) break;
    start = end + 1;
  }
  if (segments.length === 0) return '/';
  const joined = '/' + segments.join('/');
  return trailingSlash ? joined + '/' : joined;
}

/** Any "//", "/." or "/;" (the only shapes slash merging, dot-segment removal and the `;` check act on)? */
function needsSegmentWork(path: string): boolean {
  for (let i = 0; i < path.length - 1; i++) {
    if (path.charCodeAt(i) === SLASH) {
      const next = path.charCodeAt(i + 1);
      if (next === SLASH || next === DOT || next === SEMICOLON) return true;
    }
  }
  return false;
}

/** `..;x`, `.;x`, `;x`: Tomcat/Jetty strip the parameters and then see `..`, `.` or an empty segment. */
function isParameterisedDotOrEmptySegment(segment: string): boolean {
  const semicolon = segment.indexOf(';');
  if (semicolon < 0) return false;
  return semicolon === 0 || segment.slice(0, semicolon) === '.' || segment.slice(0, semicolon) === '..';
}
