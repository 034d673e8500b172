/**
 * Client addresses and trusted proxies. Forwarding headers are only believed when the TCP peer is a configured
 * trusted proxy (ARCHITECTURE.md; OWASP API8:2023): otherwise any client could claim any address and escape
 * address-keyed limits and allow lists.
 */
import { BlockList, isIP } from 'node:net';

export interface Cidr {
  readonly address: string;
  readonly prefix: number;
  readonly family: 'ipv4' | 'ipv6';
}

export function parseCidr(text: string): Cidr | null {
  const slash = text.indexOf('/');
  const address = slash === -1 ? text : text.slice(0, slash);
  const version = isIP(address);
  if (version === 0) return null;
  const family = version === 4 ? 'ipv4' : 'ipv6';
  const max = version === 4 ? 32 : 128;
  let prefix = max;
  if (slash !== -1) {
    const rest = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(rest)) return null;
    prefix = Number(rest);
    if (prefix > max) return null;
  }
  return { address, prefix, family };
}

/** `::ffff:10.0.0.1` → `10.0.0.1`, so IPv4 rules apply to IPv4-mapped peers of a dual-stack listener. */
export function normalizeAddress(address: string): string {
  if (address.startsWith('::ffff:') && isIP(address.slice(7)) === 4) return address.slice(7);
  return address;
}

export class AddressSet {
  readonly #list = new BlockList();
  readonly size: number;
  constructor(cidrs: readonly string[]) {
    let size = 0;
    for (const text of cidrs) {
      const cidr = parseCidr(text);
      if (!cidr) throw new Error(`invalid CIDR: ${text}`);
      this.#list.addSubnet(cidr.address, cidr.prefix, cidr.family);
      size++;
    }
    this.size = size;
  }
  has(address: string): boolean {
    if (this.size === 0) return false;
    const normalized = normalizeAddress(address);
    const version = isIP(normalized);
    if (version === 0) return false;
    return this.#list.check(normalized, version === 4 ? 'ipv4' : 'ipv6');
  }
}

/**
 * The client address: the peer, or — when the peer is a trusted proxy — the right-most address in
 * X-Forwarded-For that is not itself a trusted proxy (the left-most entries are client-controlled).
 */
export function resolveClientAddress(peer: string, forwardedFor: string | undefined, trusted: AddressSet): string {
  const normalizedPeer = normalizeAddress(peer);
  if (forwardedFor === undefined || !trusted.has(normalizedPeer)) return normalizedPeer;
  const hops = forwardedFor.split(',');
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = normalizeAddress(hops[i]!.trim());
    if (isIP(hop) === 0) return normalizedPeer; // garbage in the chain: trust nothing beyond the peer
    if (!trusted.has(hop)) return hop;
  }
  return normalizedPeer;
}
