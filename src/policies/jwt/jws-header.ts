/**
 * Strict reading of a JWS compact serialization's protected header (RFC 7515 §7.1), before any key is chosen.
 * jose parses the header again when it verifies; this pass exists for the checks jose leaves to the caller:
 *
 * - every part is base64url without padding (RFC 7515 §2), with a length that can be base64url at all;
 * - the header is UTF-8 (RFC 7515 §5.2 step 3, strict) and a JSON object with no duplicate member names:
 *   RFC 7515 §4 lets a parser keep the last duplicate, but `{"alg":"ES256","alg":"none"}` means different things
 *   to different parsers, so Rampart refuses it (RFC 8725 §2.8, "JSON parsing differentials");
 * - nesting is bounded, so a header cannot be a JSON bomb (its size is already bounded by the token length).
 */

const BASE64URL_PART = /^[A-Za-z0-9_-]+$/;
const MAX_HEADER_DEPTH = 4;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export type JwsParts = readonly [header: string, payload: string, signature: string];

/** The three parts of a compact JWS, or a reason why the token is not one. */
export function splitCompactJws(token: string): JwsParts | string {
  const parts = token.split('.');
  if (parts.length !== 3) return `not a compact JWS (${parts.length} parts)`;
  const names = ['header', 'payload', 'signature'];
  for (let i = 0; i < 3; i++) {
    const part = parts[i]!;
    if (part === '') return `empty ${names[i]}`;
    // A base64url text of length 4n+1 cannot come from any byte string.
    if (!BASE64URL_PART.test(part) || part.length % 4 === 1) return `${names[i]} is not base64url`;
  }
  return parts as unknown as JwsParts;
}

/** The decoded protected header as a plain object, or a reason why it is refused. */
export function decodeProtectedHeader(encoded: string): Record<string, unknown> | string {
  let text: string;
  try {
    text = utf8.decode(Buffer.from(encoded, 'base64url'));
  } catch {
    return 'header is not UTF-8';
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'header is not JSON';
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'header is not a JSON object';
  const problem = duplicateOrDeepMember(text);
  if (problem !== undefined) return problem;
  return value as Record<string, unknown>;
}

/**
 * Scans JSON text that JSON.parse accepted, for a member name repeated within one object (compared after
 * unescaping, so `"\u0061lg"` is `alg`) and for nesting deeper than MAX_HEADER_DEPTH.
 */
export function duplicateOrDeepMember(text: string): string | undefined {
  // One entry per open container: the member names seen so far for an object, null for an array.
  const open: Array<Set<string> | null> = [];
  let expectName = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      let end = i + 1;
      while (text.charCodeAt(end) !== 0x22) end += text.charCodeAt(end) === 0x5c /* \ */ ? 2 : 1;
      const names = open[open.length - 1];
      if (expectName && names) {
        const name = JSON.parse(text.slice(i, end + 1)) as string;
        if (names.has(name)) return `header member "${name.slice(0, 32)}" appears twice`;
        names.add(name);
        expectName = false;
      }
      i = end;
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      open.push(c === 0x7b ? new Set() : null);
      if (open.length > MAX_HEADER_DEPTH) return 'header nests too deep';
      expectName = c === 0x7b;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      open.pop();
      expectName = false;
    } else if (c === 0x2c /* , */) {
      expectName = open[open.length - 1] != null;
    }
  }
  return undefined;
}
