/**
 * Reading the detectors' inputs out of the security events policies emit today, and comparing client addresses by
 * network prefix. Kept in one place so the event fields detectors rely on are listed once (the lead's wiring notes
 * and the emitters' tests can point here).
 */
import { isIP } from 'node:net';
import { ipv6Groups } from '../audit/privacy.ts';
import { normalizeAddress } from '../gateway/addresses.ts';
import type { SecurityEvent } from '../observe/events.ts';
import { MAX_KEY_LENGTH } from './detector.ts';

/**
 * Authentication failures that name the account they were against, and where the account is in `details`:
 *
 * - `auth.login-failed` (identity login and session login): `details.user`, a keyed hash of the normalised username
 *   (BruteForceGuard.userRef), present for unknown users too, so stuffing with unknown names still counts;
 * - `auth.mfa-failed`: `details.userId` (only when the user is known);
 * - `auth.client-authentication-failed` (OAuth client secret): `details.clientId`;
 * - `auth.api-key-failed`: `details.prefix`, the visible prefix of a key that exists (absent for unknown keys).
 */
export const ACCOUNT_FAILURE_TYPES = ['auth.login-failed', 'auth.mfa-failed', 'auth.client-authentication-failed', 'auth.api-key-failed'] as const;

/** The account an authentication failure was against, namespaced by kind (`user:…`, `client:…`), or undefined. */
export function failedAccount(event: SecurityEvent): string | undefined {
  const details = event.details;
  if (details === undefined) return undefined;
  switch (event.type) {
    case 'auth.login-failed':
      return account('user:', details.user);
    case 'auth.mfa-failed':
      return account('user-id:', details.userId);
    case 'auth.client-authentication-failed':
      return account('client:', details.clientId);
    case 'auth.api-key-failed':
      return account('api-key:', details.prefix);
    default:
      return undefined;
  }
}

function account(kind: string, value: unknown): string | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  // Cut before joining: a megabyte-long hostile value is never copied.
  return kind + (value.length > MAX_KEY_LENGTH - kind.length ? value.slice(0, MAX_KEY_LENGTH - kind.length) : value);
}

/**
 * The network a client address belongs to, for counting "distinct addresses": with the default /32 for IPv4 the
 * address itself (no allocation); IPv6 clients rotate privacy addresses inside their /64 (RFC 8981), so by default a
 * /64 counts once. IPv4-mapped IPv6 (`::ffff:192.0.2.1`) counts as its IPv4 address. Anything that is not an IP
 * address is returned unchanged.
 */
export function addressPrefix(address: string, ipv4Prefix: number, ipv6Prefix: number): string {
  const family = isIP(address);
  if (family === 4) return ipv4Prefix >= 32 ? address : ipv4Network(address, ipv4Prefix);
  if (family !== 6) return address;
  const mapped = normalizeAddress(address);
  if (mapped !== address) return addressPrefix(mapped, ipv4Prefix, ipv6Prefix);
  if (ipv6Prefix >= 128) return address;
  const groups = ipv6Groups(address);
  if (groups === null) return address;
  const out: string[] = [];
  for (let i = 0; i < 8; i++) {
    const bits = Math.max(0, Math.min(16, ipv6Prefix - i * 16));
    const mask = bits === 0 ? 0 : (0xffff << (16 - bits)) & 0xffff;
    out.push((groups[i]! & mask).toString(16));
  }
  return `${out.join(':')}/${ipv6Prefix}`;
}

function ipv4Network(address: string, prefix: number): string {
  const parts = address.split('.');
  let value = 0;
  for (const part of parts) value = value * 256 + Number(part);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const network = (value & mask) >>> 0;
  return `${network >>> 24}.${(network >>> 16) & 255}.${(network >>> 8) & 255}.${network & 255}/${prefix}`;
}
