/**
 * The session cookie: strict parsing of the `Cookie` request header and the `Set-Cookie` values the identity
 * service sends. Shared by the policy and the login/logout endpoints so both read and write one format.
 */
import type { SessionSettings } from './schema.ts';

/** A session id is `randomToken(32)`: 256 bits as 43 base64url characters (issue 3 point 7 asks at least 128). */
export const SESSION_ID_BYTES = 32;
const SESSION_ID_SHAPE = /^[A-Za-z0-9_-]{43}$/;
/** Cookie headers longer than this are not parsed for a session (browsers cap a cookie at 4 KB, a header at ~8 KB). */
export const MAX_COOKIE_HEADER_LENGTH = 16_384;

export type CookieLookup =
  | { readonly kind: 'absent' }
  | { readonly kind: 'one'; readonly value: string }
  | { readonly kind: 'duplicate' }
  | { readonly kind: 'malformed'; readonly reason: string };

const ABSENT: CookieLookup = Object.freeze({ kind: 'absent' });
const DUPLICATE: CookieLookup = Object.freeze({ kind: 'duplicate' });

/**
 * Finds the cookie `name` in a Cookie header (RFC 6265 §5.4 `name=value; name=value`; Node joins repeated Cookie
 * header lines with "; ", so repeats across lines are seen too). Names compare exactly (case-sensitive, RFC 6265
 * §5.3). Two cookies with our name are refused rather than picking one: a browser sends both when a second cookie
 * was planted under another Path or by a subdomain (cookie tossing), and picking either would let the attacker's
 * session win (OWASP Session Management Cheat Sheet; RFC 6265bis §8.5). Allocation-free when the name is absent.
 */
export function findSessionCookie(header: string | undefined, name: string): CookieLookup {
  if (header === undefined || !header.includes(name)) return ABSENT;
  if (header.length > MAX_COOKIE_HEADER_LENGTH) return { kind: 'malformed', reason: 'cookie header too long' };
  let found: string | undefined;
  let start = 0;
  while (start <= header.length) {
    let end = header.indexOf(';', start);
    if (end === -1) end = header.length;
    let i = start;
    while (i < end && (header.charCodeAt(i) === 0x20 || header.charCodeAt(i) === 0x09)) i++;
    const eq = header.indexOf('=', i);
    if (eq !== -1 && eq < end && eq - i === name.length && header.startsWith(name, i)) {
      if (found !== undefined) return DUPLICATE;
      found = header.slice(eq + 1, end).trim();
    }
    start = end + 1;
  }
  if (found === undefined) return ABSENT;
  if (!SESSION_ID_SHAPE.test(found)) return { kind: 'malformed', reason: `session id is not 43 base64url characters (${Math.min(found.length, 9999)} chars)` };
  return { kind: 'one', value: found };
}

function attributes(settings: SessionSettings): string {
  // __Host- demands Secure, Path=/ and no Domain (RFC 6265bis §4.1.3.2). No Max-Age/Expires: a session cookie
  // dies with the browser session; the server-side idle and absolute limits are the real ones.
  return `Path=/; Secure; HttpOnly; SameSite=${settings.sameSite === 'strict' ? 'Strict' : 'Lax'}`;
}

/** The Set-Cookie value carrying a new session id. */
export function sessionSetCookie(settings: SessionSettings, sessionId: string): string {
  return `${settings.cookie}=${sessionId}; ${attributes(settings)}`;
}

/** The Set-Cookie value that makes the browser drop the cookie (RFC 6265 §5.3 step 11: Max-Age ≤ 0 expires it). */
export function clearSessionCookie(settings: SessionSettings): string {
  return `${settings.cookie}=; ${attributes(settings)}; Max-Age=0`;
}
