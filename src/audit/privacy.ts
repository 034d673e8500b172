/**
 * Privacy of what the audit chain and the events store keep about people (GDPR art. 5(1)(c) data minimisation;
 * OWASP Logging Cheat Sheet "Data to exclude"): client addresses and user identifiers are personal data.
 *
 * Addresses (`privacy.addresses`):
 * - `hash` (default): a keyed HMAC-SHA-256 of the normalised address, 128 bits, `h:` + 32 hex digits. Equal
 *   addresses give equal values, so brute-force and credential-stuffing forensics ("all failures from one source")
 *   still work, while a stolen database cannot be reversed by hashing the 2^32 IPv4 addresses: that needs the key.
 * - `truncate`: IPv4 to its /24, IPv6 to its /48 (the granularity of a site), e.g. `203.0.113.0/24`.
 * - `keep`: the address as is (only when a legitimate-interest assessment says so).
 *
 * Identifiers (usernames, e-mail addresses) are pseudonymised with the same kind of keyed hash under a separate
 * domain (`p:` + 32 hex digits), never truncated: a username is needed to tell a brute-force run against one
 * account from a spray across many, and an equal pseudonym is enough for that.
 *
 * The key comes from the master key (`deriveSubkey(masterKey, PRIVACY_KEY_PURPOSE)`), so it is stable across
 * restarts and shared by every gateway process of a cluster. Rotating it breaks equality between old and new values
 * (which is what a pseudonym rotation is for).
 */
import { createHmac } from 'node:crypto';
import { isIP } from 'node:net';
import { normalizeAddress } from '../gateway/addresses.ts';

export type AddressPrivacy = 'hash' | 'truncate' | 'keep';
export const ADDRESS_PRIVACY_MODES: readonly AddressPrivacy[] = ['hash', 'truncate', 'keep'];

/** HKDF purpose of the privacy key. Never change it: stored pseudonyms depend on it. */
export const PRIVACY_KEY_PURPOSE = 'rampart/v1/audit-privacy-key';

/** Addresses longer than this are not addresses (an IPv6 with a zone id is at most ~60 characters). */
const MAX_ADDRESS_LENGTH = 64;
/** Identifiers are hashed whatever their length, but hashing megabytes of attacker input is pointless work. */
const MAX_IDENTIFIER_LENGTH = 1024;

export interface Privacy {
  readonly addresses: AddressPrivacy;
  /** The stored form of a client address; `null` when there is none. */
  address(address: string | undefined | null): string | null;
  /** The stored form of a personal identifier (username, e-mail): a keyed pseudonym. */
  pseudonym(value: string): string;
}

export class PrivacyConfigError extends Error {
  override readonly name = 'PrivacyConfigError';
}

/** IPv6 text to eight 16-bit groups, or null when it is not an IPv6 address (isIP already said it is). */
export function ipv6Groups(text: string): number[] | null {
  const zone = text.indexOf('%');
  const address = zone === -1 ? text : text.slice(0, zone);
  if (isIP(address) !== 6) return null;
  let head = address;
  let tailV4: number[] = [];
  const lastColon = address.lastIndexOf(':');
  const tail = address.slice(lastColon + 1);
  if (tail.includes('.')) {
    // An embedded IPv4 tail (RFC 4291 §2.2 form 3) stands for the last two groups.
    const octets = tail.split('.').map(Number);
    tailV4 = [(octets[0]! << 8) | octets[1]!, (octets[2]! << 8) | octets[3]!];
    head = address.slice(0, lastColon + 1);
    if (!head.endsWith('::')) head = head.slice(0, -1);
  }
  const want = 8 - tailV4.length;
  const parts = head.split('::');
  const parse = (s: string) => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const left = parse(parts[0]!);
  const right = parts.length > 1 ? parse(parts[1]!) : [];
  const fill = parts.length > 1 ? want - left.length - right.length : 0;
  const groups = [...left, ...new Array<number>(Math.max(0, fill)).fill(0), ...right, ...tailV4];
  return groups.length === 8 && groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : null;
}

/** `203.0.113.77` → `203.0.113.0/24`; `2001:db8:1234:5::1` → `2001:db8:1234::/48`; anything else → null. */
export function truncateAddress(address: string): string | null {
  const normalised = normalizeAddress(address);
  const version = isIP(normalised);
  if (version === 4) {
    const octets = normalised.split('.');
    return `${octets[0]}.${octets[1]}.${octets[2]}.0/24`;
  }
  if (version === 6) {
    const groups = ipv6Groups(normalised);
    if (groups === null) return null;
    return `${groups[0]!.toString(16)}:${groups[1]!.toString(16)}:${groups[2]!.toString(16)}::/48`;
  }
  return null;
}

/** A canonical text of an address so that `2001:DB8::1` and `2001:db8:0::1` hash alike. */
function canonicalAddress(address: string): string | null {
  const normalised = normalizeAddress(address);
  const version = isIP(normalised);
  if (version === 4) return normalised;
  if (version === 6) return ipv6Groups(normalised)?.map((g) => g.toString(16)).join(':') ?? null;
  return null;
}

/**
 * Builds the privacy functions. `key` (at least 32 bytes) is required: even in `truncate` and `keep` modes the
 * pseudonyms of usernames need it.
 */
export function createPrivacy(options: { readonly addresses?: AddressPrivacy; readonly key: Buffer }): Privacy {
  const mode = options.addresses ?? 'hash';
  if (!ADDRESS_PRIVACY_MODES.includes(mode)) throw new PrivacyConfigError(`privacy.addresses must be one of ${ADDRESS_PRIVACY_MODES.join(', ')}`);
  if (!Buffer.isBuffer(options.key) || options.key.length < 32) throw new PrivacyConfigError('the privacy key must be at least 32 bytes');
  const key = Buffer.from(options.key);
  const mac = (domain: string, value: string) => createHmac('sha256', key).update(domain).update('\0').update(value, 'utf8').digest('hex').slice(0, 32);
  return {
    addresses: mode,
    address(address) {
      if (address === undefined || address === null || address === '') return null;
      // Not an address at all (hostile or garbled input): never stored as is, whatever the mode.
      const canonical = address.length <= MAX_ADDRESS_LENGTH ? canonicalAddress(address) : null;
      if (canonical === null) return `h:${mac('invalid-address', address.slice(0, MAX_ADDRESS_LENGTH))}`;
      if (mode === 'keep') return canonical.includes(':') ? normalizeAddress(address).toLowerCase() : canonical;
      if (mode === 'truncate') return truncateAddress(address);
      return `h:${mac('address', canonical)}`;
    },
    pseudonym(value) {
      return `p:${mac('identifier', value.slice(0, MAX_IDENTIFIER_LENGTH))}`;
    },
  };
}
