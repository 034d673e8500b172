/**
 * PII and secret detectors for response bodies (issue 5 item 4; OWASP API3:2023 "Broken Object Property Level
 * Authorization" — excessive data exposure — and checklist item 16, data exposure and privacy).
 *
 * Each detector is a pure function that scans one string and reports spans [start, end). They are hand-written
 * linear scanners; validation uses checksums and registries so that ordinary numbers and ids do not count:
 *
 * | id            | what                                    | plausibility                                      |
 * |---------------|-----------------------------------------|---------------------------------------------------|
 * | email         | addr-spec (RFC 5322 §3.4.1 dot-atom)    | domain with a dot and an alphabetic TLD           |
 * | phone         | E.164 `+...` and national formats       | a `+` or separators; valid for its region (libphonenumber metadata) |
 * | card          | payment card numbers, spaces/dashes     | 13–19 digits, issuer prefix and length, Luhn      |
 * | iban          | ISO 13616 IBAN, print or electronic     | country length and BBAN format, mod-97 (ibantools)|
 * | ssn           | US SSN `AAA-GG-SSSS` / `AAA GG SSSS`    | no 000/666/9xx area, 00 group, 0000 serial (SSA)  |
 * | jwt           | compact JWS (RFC 7515 §7.1)             | header decodes to a JSON object with `alg`        |
 * | private-key   | PEM private keys (RFC 7468)             | BEGIN ... PRIVATE KEY label                       |
 * | cloud-key     | AWS AKIA/ASIA ids, GitHub ghp_/github_pat_, Slack xox?-, Stripe sk_live_/rk_live_, Google AIza | prefix, charset, length |
 *
 * A bare digit run is never a phone number (order ids, timestamps) and a bare 9-digit run never an SSN: both need
 * their printed shape. GCP service-account files are caught by their `private_key` PEM value.
 */
import { isValidIBAN } from 'ibantools';
import { Metadata, parsePhoneNumberFromString } from 'libphonenumber-js/max';
import type { CountryCode } from 'libphonenumber-js';

export const PII_DETECTOR_IDS = ['email', 'phone', 'card', 'iban', 'ssn', 'jwt', 'private-key', 'cloud-key'] as const;
export type PiiDetectorId = (typeof PII_DETECTOR_IDS)[number];

export interface Span {
  readonly detector: PiiDetectorId;
  readonly start: number;
  readonly end: number;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}
function isUpper(c: number): boolean {
  return c >= 0x41 && c <= 0x5a;
}
function isAlnum(c: number): boolean {
  return isDigit(c) || isUpper(c) || (c >= 0x61 && c <= 0x7a);
}

// ---------------------------------------------------------------------------------------------------- email

/** RFC 5322 `atext` plus `.` (dot-atom local part), as a table over ASCII. */
const LOCAL_CHARS = new Uint8Array(128);
for (const ch of "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.!#$%&'*+/=?^_`{|}~-") LOCAL_CHARS[ch.charCodeAt(0)] = 1;
function isLocalChar(c: number): boolean {
  return c < 128 && LOCAL_CHARS[c] === 1;
}
/** Domain label characters; non-ASCII letters for internationalised domains (müller.de). */
function isDomainChar(c: number): boolean {
  return isAlnum(c) || c === 0x2d || c === 0x2e || c > 0x7f;
}

export function findEmails(s: string, out: Span[]): void {
  let at = s.indexOf('@');
  let floor = 0; // no span may start before the end of the previous one
  while (at !== -1) {
    let start = at;
    while (start > floor && isLocalChar(s.charCodeAt(start - 1))) start--;
    while (start < at && s.charCodeAt(start) === 0x2e) start++;
    let end = at + 1;
    while (end < s.length && isDomainChar(s.charCodeAt(end))) end++;
    while (end > at + 1 && (s.charCodeAt(end - 1) === 0x2e || s.charCodeAt(end - 1) === 0x2d)) end--;
    const local = at - start;
    const domain = s.slice(at + 1, end);
    const dot = domain.lastIndexOf('.');
    const tld = dot === -1 ? '' : domain.slice(dot + 1);
    if (local >= 1 && local <= 64 && s.charCodeAt(at - 1) !== 0x2e && dot > 0 && domain.length <= 253 && tld.length >= 2 && /^[A-Za-z\u0080-\uffff]+$/.test(tld) && !domain.includes('..')) {
      out.push({ detector: 'email', start, end });
      floor = end;
    }
    at = s.indexOf('@', Math.max(at + 1, floor));
  }
}

// ---------------------------------------------------------------------------------------------------- card

/** Luhn mod-10 (ISO/IEC 7812-1 Annex B) over a string of digits. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 0x30;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

/** Issuer prefix and length (ISO/IEC 7812 IIN ranges of the major networks). */
function plausibleCard(digits: string): boolean {
  const n = digits.length;
  const p2 = Number(digits.slice(0, 2));
  const p4 = Number(digits.slice(0, 4));
  switch (digits.charCodeAt(0) - 0x30) {
    case 4:
      return n === 13 || n === 16 || n === 19; // Visa
    case 2:
      return p4 >= 2221 && p4 <= 2720 && n === 16; // Mastercard 2-series
    case 3:
      if (p2 === 34 || p2 === 37) return n === 15; // Amex
      return (p2 === 35 && n >= 16) || p2 === 36 || p2 === 38 || p2 === 39 || (p2 === 30 && n >= 14); // JCB, Diners
    case 5:
      if (p2 >= 51 && p2 <= 55) return n === 16; // Mastercard
      return p2 === 50 || (p2 >= 56 && p2 <= 58); // Maestro
    case 6:
      return true; // Discover, UnionPay, Maestro, RuPay
    default:
      return false;
  }
}

/**
 * Card numbers: digit groups separated by single spaces or dashes (or none). A run with more groups than one card
 * (two numbers in a row) is split at group boundaries: the longest window of 13–19 digits that passes is taken.
 */
export function findCards(s: string, out: Span[]): void {
  const n = s.length;
  let i = 0;
  while (i < n) {
    if (!isDigit(s.charCodeAt(i)) || (i > 0 && isAlnum(s.charCodeAt(i - 1)))) {
      i++;
      continue;
    }
    // Collect groups: [start, end) of each digit group.
    const groups: Array<[number, number]> = [];
    let j = i;
    for (;;) {
      const g = j;
      while (j < n && isDigit(s.charCodeAt(j))) j++;
      groups.push([g, j]);
      const sep = s.charCodeAt(j);
      if ((sep === 0x20 || sep === 0x2d) && isDigit(s.charCodeAt(j + 1)) && groups.length < 40) j++;
      else break;
    }
    const runEnd = groups[groups.length - 1]![1];
    if (runEnd < n && isAlnum(s.charCodeAt(runEnd))) {
      i = runEnd + 1;
      continue;
    }
    let g = 0;
    while (g < groups.length) {
      let found = -1;
      let digits = '';
      let best = '';
      for (let h = g; h < groups.length; h++) {
        digits += s.slice(groups[h]![0], groups[h]![1]);
        if (digits.length > 19) break;
        if (digits.length >= 13 && plausibleCard(digits) && luhnValid(digits)) {
          found = h;
          best = digits;
        }
      }
      if (found !== -1 && best.length > 0) {
        out.push({ detector: 'card', start: groups[g]![0], end: groups[found]![1] });
        g = found + 1;
      } else g++;
    }
    i = runEnd;
  }
}

/** Whether a JSON number is a card number (13–19 digits, issuer, Luhn). */
export function isCardNumber(value: number): boolean {
  if (!Number.isSafeInteger(value) || value < 1e12) return false;
  const digits = String(value);
  return digits.length >= 13 && digits.length <= 19 && plausibleCard(digits) && luhnValid(digits);
}

// ---------------------------------------------------------------------------------------------------- iban

/** IBANs in print form (`DE89 3704 0044 0532 0130 00`) or electronic form (`DE89370400440532013000`). */
export function findIbans(s: string, out: Span[]): void {
  const n = s.length;
  for (let i = 0; i + 15 <= n; i++) {
    if (!(isUpper(s.charCodeAt(i)) && isUpper(s.charCodeAt(i + 1)) && isDigit(s.charCodeAt(i + 2)) && isDigit(s.charCodeAt(i + 3)))) continue;
    if (i > 0 && isAlnum(s.charCodeAt(i - 1))) continue;
    // Groups of upper-case letters and digits separated by single spaces, at most 34 characters without spaces.
    const ends: number[] = [];
    let j = i;
    let count = 0;
    for (;;) {
      while (j < n && count < 34 && (isUpper(s.charCodeAt(j)) || isDigit(s.charCodeAt(j)))) {
        j++;
        count++;
      }
      ends.push(j);
      if (count < 34 && s.charCodeAt(j) === 0x20 && j + 1 < n && (isUpper(s.charCodeAt(j + 1)) || isDigit(s.charCodeAt(j + 1)))) j++;
      else break;
    }
    // Longest prefix of whole groups that is a valid IBAN ("DE89 ... 00 EUR": the currency is not part of it).
    for (let e = ends.length - 1; e >= 0; e--) {
      const end = ends[e]!;
      if (end < n && isAlnum(s.charCodeAt(end)) && e === ends.length - 1) continue;
      const candidate = s.slice(i, end).replaceAll(' ', '');
      if (candidate.length >= 15 && isValidIBAN(candidate)) {
        out.push({ detector: 'iban', start: i, end });
        i = end - 1;
        break;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------- ssn

const SSN_DIGITS = [0, 1, 2, 4, 5, 7, 8, 9, 10];

/** US SSNs in their printed shape, without the never-issued ranges (SSA, "Social Security Number Randomization"). */
export function findSsns(s: string, out: Span[]): void {
  const n = s.length;
  for (let i = 0; i + 11 <= n; i++) {
    if (!isDigit(s.charCodeAt(i)) || (i > 0 && (isAlnum(s.charCodeAt(i - 1)) || s.charCodeAt(i - 1) === 0x2d))) continue;
    const sep = s.charCodeAt(i + 3);
    if ((sep !== 0x2d && sep !== 0x20) || s.charCodeAt(i + 6) !== sep) continue;
    let ok = true;
    for (const k of SSN_DIGITS) if (!isDigit(s.charCodeAt(i + k))) ok = false;
    if (!ok || (i + 11 < n && (isAlnum(s.charCodeAt(i + 11)) || s.charCodeAt(i + 11) === 0x2d))) continue;
    const area = s.slice(i, i + 3);
    const group = s.slice(i + 4, i + 6);
    const serial = s.slice(i + 7, i + 11);
    if (area === '000' || area === '666' || area.charCodeAt(0) === 0x39 || group === '00' || serial === '0000') continue;
    out.push({ detector: 'ssn', start: i, end: i + 11 });
    i += 10;
  }
}

// ---------------------------------------------------------------------------------------------------- jwt

function isBase64Url(c: number): boolean {
  return isAlnum(c) || c === 0x2d || c === 0x5f;
}

/** Compact JWS: `eyJ...` header `.` payload `.` signature (may be empty for `alg: none`). */
export function findJwts(s: string, out: Span[]): void {
  let i = s.indexOf('eyJ');
  while (i !== -1) {
    let next = i + 3;
    if (i === 0 || !isBase64Url(s.charCodeAt(i - 1))) {
      let j = i;
      while (j < s.length && isBase64Url(s.charCodeAt(j))) j++;
      const headerEnd = j;
      if (s.charCodeAt(j) === 0x2e && headerEnd - i <= 2048) {
        let k = j + 1;
        while (k < s.length && isBase64Url(s.charCodeAt(k))) k++;
        if (k > j + 1 && s.charCodeAt(k) === 0x2e) {
          let m = k + 1;
          while (m < s.length && isBase64Url(s.charCodeAt(m))) m++;
          if (headerHasAlg(s.slice(i, headerEnd))) {
            out.push({ detector: 'jwt', start: i, end: m });
            next = m;
          }
        }
      }
      if (next === i + 3) next = Math.max(next, headerEnd);
    }
    i = s.indexOf('eyJ', next);
  }
}

function headerHasAlg(segment: string): boolean {
  try {
    const header: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    return typeof header === 'object' && header !== null && typeof (header as { alg?: unknown }).alg === 'string';
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------------- private keys

/** PEM private keys (RFC 7468 §10-11, and the OpenSSH/PGP variants): from BEGIN to END, or to the end if cut. */
export function findPrivateKeys(s: string, out: Span[]): void {
  let i = s.indexOf('-----BEGIN ');
  while (i !== -1) {
    const labelEnd = s.indexOf('-----', i + 11);
    if (labelEnd === -1) return;
    const label = s.slice(i + 11, labelEnd);
    let next = labelEnd + 5;
    if (label.length <= 64 && (label.endsWith('PRIVATE KEY') || label === 'PGP PRIVATE KEY BLOCK')) {
      const endMarker = `-----END ${label}-----`;
      const end = s.indexOf(endMarker, next);
      const stop = end === -1 ? s.length : end + endMarker.length;
      out.push({ detector: 'private-key', start: i, end: stop });
      next = stop;
    }
    i = s.indexOf('-----BEGIN ', next);
  }
}

// ---------------------------------------------------------------------------------------------------- cloud keys

interface KeyShape {
  readonly prefix: string;
  readonly min: number;
  readonly max: number;
  readonly chars: (c: number) => boolean;
}

const upperAlnum = (c: number) => isUpper(c) || isDigit(c);
const KEY_SHAPES: readonly KeyShape[] = [
  // AWS access key ids (long-term AKIA, temporary ASIA; ABIA/ACCA for other AWS services): 16 more characters.
  ...['AKIA', 'ASIA', 'ABIA', 'ACCA'].map((prefix) => ({ prefix, min: 16, max: 16, chars: upperAlnum })),
  // GitHub tokens (github.blog 2021-04-05 "Behind GitHub's new authentication token formats").
  ...['ghp_', 'gho_', 'ghu_', 'ghs_', 'ghr_'].map((prefix) => ({ prefix, min: 36, max: 255, chars: isAlnum })),
  { prefix: 'github_pat_', min: 22, max: 255, chars: (c: number) => isAlnum(c) || c === 0x5f },
  // Slack tokens: xoxb- (bot), xoxp- (user), xoxa-, xoxr-, xoxs-, xoxo-.
  ...['xoxb-', 'xoxp-', 'xoxa-', 'xoxr-', 'xoxs-', 'xoxo-'].map((prefix) => ({ prefix, min: 10, max: 255, chars: (c: number) => isAlnum(c) || c === 0x2d })),
  // Stripe live secret and restricted keys.
  ...['sk_live_', 'rk_live_'].map((prefix) => ({ prefix, min: 16, max: 255, chars: isAlnum })),
  // Google API keys.
  { prefix: 'AIza', min: 35, max: 35, chars: (c: number) => isAlnum(c) || c === 0x2d || c === 0x5f },
];
const KEY_FIRST = new Uint8Array(128);
for (const shape of KEY_SHAPES) KEY_FIRST[shape.prefix.charCodeAt(0)] = 1;
const SHORTEST_KEY = Math.min(...KEY_SHAPES.map((k) => k.prefix.length + k.min));

export function findCloudKeys(s: string, out: Span[]): void {
  const n = s.length;
  if (n < SHORTEST_KEY) return;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || KEY_FIRST[c] !== 1 || (i > 0 && (isAlnum(s.charCodeAt(i - 1)) || s.charCodeAt(i - 1) === 0x5f))) continue;
    for (const shape of KEY_SHAPES) {
      if (!s.startsWith(shape.prefix, i)) continue;
      let j = i + shape.prefix.length;
      while (j < n && j - i - shape.prefix.length <= shape.max && shape.chars(s.charCodeAt(j))) j++;
      const length = j - i - shape.prefix.length;
      if (length >= shape.min && length <= shape.max && !(j < n && isAlnum(s.charCodeAt(j)))) {
        out.push({ detector: 'cloud-key', start: i, end: j });
        i = j - 1;
        break;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------- phone

const MAX_PHONE_CANDIDATE = 32;
/** Validations (libphonenumber parses) per string at most: a value that is a wall of digits costs bounded work. */
const MAX_PHONE_VALIDATIONS = 256;

function isPhoneChar(c: number): boolean {
  return isDigit(c) || c === 0x20 || c === 0x2d || c === 0x2e || c === 0x28 || c === 0x29 || c === 0xa0;
}

/**
 * Phone numbers: runs of digits and `( ) - .` and spaces with 7–15 digits (E.164 §6.1 allows at most 15), that
 * start with `+` (international format, any country) or are written with separators in a national format of one of
 * `regions`, and that libphonenumber's metadata calls valid for their region. A `+` starts a new candidate; when a
 * run is not a number, the next word of it is tried ("ref 12 415-555-2671" finds the number after "12").
 */
export function findPhones(s: string, regions: readonly CountryCode[], out: Span[], taken: readonly Span[] = []): void {
  const n = s.length;
  let validations = 0;
  let i = 0;
  let t = 0;
  while (i < n && validations < MAX_PHONE_VALIDATIONS) {
    // Text already taken by a higher-precedence detector (a card, an IBAN) is not a phone number: skip it unparsed.
    while (t < taken.length && taken[t]!.end <= i) t++;
    if (t < taken.length && taken[t]!.start <= i) {
      i = taken[t]!.end;
      continue;
    }
    const c = s.charCodeAt(i);
    const prev = i > 0 ? s.charCodeAt(i - 1) : -1;
    if (!(isDigit(c) || c === 0x2b || c === 0x28) || isAlnum(prev) || (prev === 0x2b && c !== 0x2b) || prev === 0x2d || prev === 0x2e) {
      i++;
      continue;
    }
    let j = i + 1;
    while (j < n && j - i < MAX_PHONE_CANDIDATE && isPhoneChar(s.charCodeAt(j))) j++;
    let end = j;
    while (end > i && !isDigit(s.charCodeAt(end - 1))) end--;
    let digits = 0;
    let separators = 0;
    for (let k = i; k < end; k++) {
      if (isDigit(s.charCodeAt(k))) digits++;
      else separators++;
    }
    const attached = end < n && end === j && (isAlnum(s.charCodeAt(end)) || isPhoneChar(s.charCodeAt(end)));
    if (!attached && digits >= 7 && digits <= 15 && (c === 0x2b || separators > 0)) {
      validations++;
      if (validPhone(s.slice(i, end), c === 0x2b, regions)) {
        out.push({ detector: 'phone', start: i, end });
        i = end;
        continue;
      }
    }
    // Not a number from here: try from the next word of the run.
    let k = i + 1;
    while (k < j && s.charCodeAt(k) !== 0x20 && s.charCodeAt(k) !== 0xa0) k++;
    i = k + 1;
  }
}

/**
 * The national (trunk) prefix a region's numbers are written with in national format ('0' in GB, DE, FR, JP), or ''
 * when numbers are written without one (ES, IT, NO) or it is optional (the NANP's '1'). Read once per region from
 * libphonenumber's metadata (`nationalPrefix()` is not in its type declarations, hence the structural type).
 */
const trunkPrefixes = new Map<CountryCode, string>();
function trunkPrefix(region: CountryCode): string {
  let prefix = trunkPrefixes.get(region);
  if (prefix === undefined) {
    const metadata = new Metadata();
    metadata.selectNumberingPlan(region);
    const plan = metadata.numberingPlan as unknown as { nationalPrefix?(): string | undefined; callingCode?(): string } | undefined;
    prefix = plan?.callingCode?.() === '1' ? '' : (plan?.nationalPrefix?.() ?? '');
    trunkPrefixes.set(region, prefix);
  }
  return prefix;
}

function validPhone(candidate: string, international: boolean, regions: readonly CountryCode[]): boolean {
  if (international) return parsePhoneNumberFromString(candidate)?.isValid() === true;
  let firstDigit = 0;
  while (firstDigit < candidate.length && !isDigit(candidate.charCodeAt(firstDigit))) firstDigit++;
  for (const region of regions) {
    // A national number is written with its trunk prefix ("030 901820" in Germany): without it, "2024-05-01" and
    // "203.0.113.7" would be valid German numbers.
    const prefix = trunkPrefix(region);
    if (prefix !== '' && !candidate.startsWith(prefix, firstDigit)) continue;
    if (parsePhoneNumberFromString(candidate, region)?.isValid() === true) return true;
  }
  return false;
}

export type { CountryCode };
