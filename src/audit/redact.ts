/**
 * Redaction of event details before they are stored (audit chain and events store): no secret or credential value
 * and no plain personal identifier is ever written (issue 6 point 3; OWASP Logging Cheat Sheet "Data to exclude";
 * CWE-532). Policies already promise not to put secrets in `details` (observe/events.ts); this is the second line,
 * because one careless `details: { ...body }` must not turn an append-only, never-deleted log into a credential dump.
 *
 * The table, by normalised member name (lower case, punctuation removed, so `api_key`, `apiKey` and `API-Key` match):
 *
 * | rule       | names                                                                  | stored as           |
 * |------------|------------------------------------------------------------------------|---------------------|
 * | mask       | exact: key, code, otp, totp, sid, sessionid, credential(s), assertion,  | `[redacted]`        |
 * |            | passphrase, pwd, pin; suffix: password, passwd, secret, token, apikey, |                     |
 * |            | privatekey, authorization, cookie                                      |                     |
 * | pseudonym  | username, email, emailaddress, mail, login, phone, phonenumber         | `p:` keyed hash     |
 * | pseudonym  | user, unless it already is a 16-hex-digit reference (the identity      | `p:` keyed hash     |
 * |            | provider's `BruteForceGuard.userRef`, itself a keyed hash)             |                     |
 *
 * Why usernames are pseudonymised and not masked: brute-force and credential-stuffing forensics need to tell
 * "many failures against one account" from "one failure against each of many accounts"; an equal keyed hash keeps
 * exactly that and nothing more (see privacy.ts).
 *
 * Values are checked too, whatever their member name: a string that looks like a JWT or an HTTP credential
 * (`Bearer …`, `Basic …`) is masked, and e-mail addresses inside strings are replaced by their pseudonym.
 * Names ending in `id`, `ref`, `hash` or `prefix` (`credentialId`, `familyId`, the visible API-key prefix) are
 * identifiers of records, not secrets, and are kept, except names containing `password` (a password hash is an
 * offline-cracking target).
 *
 * Bounds (hostile input such as a CSP report must not bloat an append-only store): depth 6, 64 members per object,
 * 64 items per array, 512 characters per string, 64 characters per member name; `__proto__`, `constructor` and
 * `prototype` members are dropped; values without a JSON form become `null` or a string.
 */
import type { Privacy } from './privacy.ts';
import { nfkc } from '../text/nfkc.ts';

export const REDACTED = '[redacted]';
export const MAX_DETAIL_DEPTH = 6;
export const MAX_DETAIL_MEMBERS = 64;
export const MAX_DETAIL_STRING = 512;
const MAX_KEY_LENGTH = 64;

const MASK_EXACT = new Set(['key', 'code', 'otp', 'totp', 'sid', 'sessionid', 'credential', 'credentials', 'assertion', 'passphrase', 'pwd', 'pin']);
const MASK_SUFFIX = ['password', 'passwd', 'secret', 'token', 'apikey', 'privatekey', 'authorization', 'cookie'];
const PSEUDONYM_EXACT = new Set(['username', 'email', 'emailaddress', 'mail', 'login', 'phone', 'phonenumber']);
const IDENTIFIER_SUFFIX = ['id', 'ref', 'hash', 'prefix'];
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
/** `BruteForceGuard.userRef`: 16 hex digits of a keyed hash, already a pseudonym. */
const USER_REF = /^[0-9a-f]{16}$/;
/** Three base64url segments starting with `eyJ` (`{"`): a JWS/JWE compact serialisation (RFC 7515 §7.1). */
/**
 * Whether `text` holds a JWT-like run: `eyJ` + 4 or more base64url characters, `.`, 4 or more, `.` (what
 * /eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\./ finds). Written out because that regex is quadratic: each `eyJ` of a
 * long base64url run scans to the run's end (`eyJaa-` repeated over 64 KB, an introspection answer's `iss`: 1.5 s).
 * Every `eyJ` inside one run ends where the first one does, with a shorter first part, so one look per run decides
 * for all of them.
 */
function hasJwtLike(text: string): boolean {
  let from = 0;
  for (;;) {
    const at = text.indexOf('eyJ', from);
    if (at < 0) return false;
    const first = base64urlRunEnd(text, at + 3);
    if (first - (at + 3) >= 4 && text.charCodeAt(first) === 0x2e /* . */) {
      const second = base64urlRunEnd(text, first + 1);
      if (second - (first + 1) >= 4 && text.charCodeAt(second) === 0x2e) return true;
    }
    from = first;
  }
}

function base64urlRunEnd(text: string, at: number): number {
  for (;;) {
    const c = text.charCodeAt(at);
    // A-Z a-z 0-9 - _
    if ((c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x5f) at++;
    else return at;
  }
}

/** Longest text a pseudonym is taken of: NFKC costs more than linear on long runs of combining marks. */
const MAX_PSEUDONYM_INPUT = 4096;
const HTTP_CREDENTIAL = /^\s*(?:bearer|basic|digest|dpop|negotiate|token)\s+\S/i;
// Letters and digits of any script (RFC 6531 internationalised addresses): an ASCII-only class would pseudonymise
// `Zoë.Q@example.org` as `.Q@example.org` and leave `Zoë` in clear.
const EMAIL = /[\p{L}\p{N}\p{M}._%+-]{1,64}@[\p{L}\p{N}\p{M}-]{1,63}(?:\.[\p{L}\p{N}\p{M}-]{1,63})+/gu;
// Lone surrogates have no canonical JSON form (RFC 8785 §3.2.2.2): replaced by U+FFFD, as String#toWellFormed does.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

export type DetailRule = 'mask' | 'pseudonym' | 'keep';

function normalisedName(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]/g, '');
}

/** Which rule applies to a member called `name` (exported for the documentation test). */
export function ruleFor(name: string): DetailRule {
  const n = normalisedName(name);
  if (MASK_EXACT.has(n)) return 'mask';
  if (PSEUDONYM_EXACT.has(n)) return 'pseudonym';
  if (n === 'user') return 'pseudonym';
  // A password hash is an offline-cracking target, not a record identifier.
  if (n.includes('password') || n.includes('passwd')) return 'mask';
  if (IDENTIFIER_SUFFIX.some((suffix) => n.endsWith(suffix) && n.length > suffix.length)) return 'keep';
  if (MASK_SUFFIX.some((suffix) => n.endsWith(suffix))) return 'mask';
  return 'keep';
}

function cleanString(value: string, privacy: Privacy): string {
  if (HTTP_CREDENTIAL.test(value) || hasJwtLike(value)) return REDACTED;
  let text = value.length > MAX_DETAIL_STRING ? `${value.slice(0, MAX_DETAIL_STRING)}…[+${value.length - MAX_DETAIL_STRING}]` : value;
  text = text.replace(LONE_SURROGATE, '\uFFFD');
  return text.includes('@') ? text.replace(EMAIL, (match) => privacy.pseudonym(match.toLowerCase())) : text;
}

function pseudonymOf(name: string, value: unknown, privacy: Privacy): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value !== 'string' && typeof value !== 'number') return REDACTED;
  const text = String(value);
  if (normalisedName(name) === 'user' && USER_REF.test(text)) return text;
  return pseudonymOfText(text, privacy);
}

/**
 * The pseudonym stored for an identifying text (a `username`, an `email`): case and compatibility forms folded, so
 * `Alice` and a fullwidth `Ａｌｉｃｅ` are one subject. privacy/subject finds a subject's entries by computing it again.
 */
export function pseudonymOfText(text: string, privacy: Privacy): string {
  // Privacy.pseudonym hashes at most its first 1,024 characters anyway; NFKC of the rest was work for nothing.
  const bounded = text.length > MAX_PSEUDONYM_INPUT ? text.slice(0, MAX_PSEUDONYM_INPUT) : text;
  // Stream-safe NFKC (text/nfkc.ts): plain NFKC is quadratic in a run of combining marks, and this text is a client's.
  return privacy.pseudonym(nfkc(bounded).toLowerCase());
}

function clean(value: unknown, depth: number, privacy: Privacy): unknown {
  if (value === null || value === undefined) return null;
  switch (typeof value) {
    case 'string':
      return cleanString(value, privacy);
    case 'number':
      return Number.isFinite(value) ? value : null;
    case 'boolean':
      return value;
    case 'bigint':
      return value.toString();
    case 'object':
      break;
    default:
      return null;
  }
  if (depth >= MAX_DETAIL_DEPTH) return '[truncated]';
  if (value instanceof Date) return Number.isFinite(value.getTime()) ? value.toISOString() : null;
  if (Array.isArray(value)) {
    const items = value.slice(0, MAX_DETAIL_MEMBERS).map((item) => clean(item, depth + 1, privacy));
    if (value.length > MAX_DETAIL_MEMBERS) items.push(`[+${value.length - MAX_DETAIL_MEMBERS} more]`);
    return items;
  }
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return '[object]';
  return cleanObject(value as Record<string, unknown>, depth, privacy);
}

function cleanObject(input: Record<string, unknown>, depth: number, privacy: Privacy): Record<string, unknown> {
  const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  let kept = 0;
  let dropped = 0;
  for (const name of Object.keys(input)) {
    if (FORBIDDEN_KEYS.has(name)) continue;
    const value = input[name];
    if (value === undefined || typeof value === 'function' || typeof value === 'symbol') continue;
    if (kept >= MAX_DETAIL_MEMBERS) {
      dropped++;
      continue;
    }
    const key = cleanString(name.length > MAX_KEY_LENGTH ? name.slice(0, MAX_KEY_LENGTH) : name, privacy);
    const rule = ruleFor(name);
    out[key] = rule === 'mask' ? (value === null ? null : REDACTED) : rule === 'pseudonym' ? pseudonymOf(name, value, privacy) : clean(value, depth + 1, privacy);
    kept++;
  }
  if (dropped > 0) out['_droppedMembers'] = dropped;
  return out;
}

/** The details as they may be stored: secrets masked, identifiers pseudonymised, size bounded. Never throws. */
export function redactDetails(details: Readonly<Record<string, unknown>> | undefined, privacy: Privacy): Record<string, unknown> {
  if (details === undefined || details === null || typeof details !== 'object' || Array.isArray(details)) return {};
  return cleanObject(details as Record<string, unknown>, 0, privacy);
}

/** One string as it may be stored (credential-looking values masked, e-mail addresses pseudonymised, bounded). */
export function cleanText(value: string, privacy: Privacy): string {
  return cleanString(value, privacy);
}
