/**
 * Linear-time replacements for two ajv checks that a 1 MB request body could make run for minutes (json-schema.ts
 * registers them):
 * - `uniqueItems`: ajv compares every pair of items unless they are inline primitives (2^14 `$ref` objects: 2.7 s,
 *   about 85 s at 1 MB). Here every item gets one canonical text, and a map finds the first repeat.
 * - `format: byte` (and `contentEncoding: base64`): ajv-formats' regex carries the `m` flag, so `^` and `$` match at
 *   any line break and every string holding a newline passed (`"not base64!\n"`). Here the whole string is checked.
 * - `format: url`: ajv-formats' regex backtracks on `"http://" + ":".repeat(n) + "!"` (2^17 characters: 6.8 s, about
 *   7 minutes at 1 MB). Here WHATWG URL parsing, which is linear, after a one-pass shape check.
 */

import { comparableJson } from '../audit/canonical-json.ts';
import { parseUrl } from '../text/url.ts';

/**
 * The first item equal (JSON Schema equality) to an earlier one: `[earlier, later]` indexes, or undefined.
 * Primitives are keyed by value (a Map's SameValueZero: 1 and 1.0 are one number, as are 0 and -0; "1" is not 1);
 * objects and arrays by their canonical text (RFC 8785, audit/canonical-json.ts `comparableJson`), in a map of
 * their own so that no string can pass for one.
 */
export function firstDuplicate(items: readonly unknown[]): [number, number] | undefined {
  if (items.length < 2) return undefined;
  const primitives = new Map<unknown, number>();
  const containers = new Map<string, number>();
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    const container = typeof item === 'object' && item !== null;
    const key = container ? comparableJson(item) : item;
    const seen = container ? containers.get(key as string) : primitives.get(key);
    if (seen !== undefined) return [seen, i];
    if (container) containers.set(key as string, i);
    else primitives.set(key, i);
  }
  return undefined;
}

/**
 * `scheme://` then no whitespace, control character or backslash anywhere, and not `/`, `?` or `#` right after the
 * slashes (a host must follow). One pass: every quantifier is over a single character class.
 */
const URL_SHAPE = /^(?:https?|ftp):\/\/[^\s\\/?#\p{Cc}][^\s\\\p{Cc}]*$/iu;

/**
 * `format: url`: an absolute http, https or ftp URL with a host (the schemes ajv-formats' `url` accepted).
 *
 * The shape check refuses what the WHATWG parser would silently repair, so that the gateway and an upstream RFC 3986
 * parser read the same URL: it strips leading and trailing spaces and every tab or newline, turns `\` into `/`, and
 * reads `http:x.org` or `http:///x.org` as `http://x.org/`. The WHATWG parser then checks the rest: host syntax (IDN,
 * IPv4, bracketed IPv6), port range, percent-encoding; through text/url.ts `parseUrl`, which refuses first the hosts
 * that would make its IDNA step quadratic (long runs of combining marks), so the whole check is linear.
 *
 * Unlike ajv-formats' regex this does not refuse `localhost`, private or loopback addresses, or hosts without a dot:
 * those were heuristics for "a public web address", not URL syntax, and never an SSRF defence (a public name can
 * resolve to a private address).
 */
export function isAbsoluteUrl(text: string): boolean {
  if (!URL_SHAPE.test(text)) return false;
  try {
    return parseUrl(text).hostname !== '';
  } catch {
    return false;
  }
}

/** Standard base64 (RFC 4648 §4), padded, the whole string: no line breaks (§3.1: none unless a spec says so). */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** `format: byte` (OpenAPI 3.0 §4.7.3: base64-encoded characters, RFC 4648). Linear: no nested quantifier overlaps. */
export function isBase64(text: string): boolean {
  return BASE64.test(text);
}
