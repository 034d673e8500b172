/**
 * `ip-restriction`: allow and deny lists of client addresses (edge phase, before anything else looks at the request).
 *
 * - Deny wins over allow; with a non-empty allow list, everything not allowed is denied (deny by default).
 * - The address is `ctx.clientAddress`, which the gateway resolved through its trusted-proxy list; a client can not
 *   choose it with X-Forwarded-For.
 * - Matching uses `node:net` BlockList, built once per route. BlockList compares IPv4-mapped IPv6 addresses
 *   (`::ffff:10.0.0.1`, also written `::ffff:a00:1`) with IPv4 rules and the other way round, which is what a
 *   dual-stack listener needs: it reports IPv4 peers in the mapped form. The tests pin this behaviour down.
 * - An address that does not parse is denied (fail closed), never waved through.
 */
import { BlockList, isIP } from 'node:net';
import type { ConfigIssue, PolicyDefinition, PolicyDeps, PolicyHandlers, RequestContext, RespondWithProblem } from '../types.ts';
import { problem } from '../types.ts';
import { ipRestrictionSchema, type IpRestrictionConfig } from './schema.ts';

export { ipRestrictionSchema, type IpRestrictionConfig } from './schema.ts';

export type AddressEntry =
  | {
      readonly ok: true;
      readonly address: string;
      readonly prefix: number;
      readonly family: 'ipv4' | 'ipv6';
      /** The network address when the entry had host bits set (`10.0.0.1/8` → `10.0.0.0`), else undefined. */
      readonly maskedFrom?: string;
    }
  | { readonly ok: false; readonly reason: string };

/** 128-bit value of an IPv4 or IPv6 address (IPv4 as its low 32 bits). The address must already be valid. */
function addressBits(address: string, family: 'ipv4' | 'ipv6'): bigint {
  if (family === 'ipv4') return address.split('.').reduce((value, octet) => (value << 8n) | BigInt(Number(octet)), 0n);
  let text = address;
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    // Embedded IPv4 (RFC 4291 §2.2 form 3): rewrite the last 32 bits as two hextets.
    const v4 = addressBits(tail, 'ipv4');
    text = `${text.slice(0, lastColon + 1)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head, rest] = text.split('::') as [string, string | undefined];
  const headGroups = head === '' ? [] : head.split(':');
  const restGroups = rest === undefined || rest === '' ? [] : rest.split(':');
  const missing = 8 - headGroups.length - restGroups.length;
  const groups = [...headGroups, ...Array<string>(rest === undefined ? 0 : missing).fill('0'), ...restGroups];
  return groups.reduce((value, group) => (value << 16n) | BigInt(parseInt(group, 16)), 0n);
}

function formatBits(bits: bigint, family: 'ipv4' | 'ipv6'): string {
  if (family === 'ipv4') {
    return [24n, 16n, 8n, 0n].map((shift) => String((bits >> shift) & 0xffn)).join('.');
  }
  const groups: string[] = [];
  for (let shift = 112n; shift >= 0n; shift -= 16n) groups.push(((bits >> shift) & 0xffffn).toString(16));
  // The WHATWG URL parser prints the canonical compressed form (RFC 5952).
  return new URL(`http://[${groups.join(':')}]`).hostname.slice(1, -1);
}

/** Parses `address` or `address/prefix` (CIDR, RFC 4632 §3.1 / RFC 4291 §2.3). Config time only. */
export function parseAddressEntry(value: string): AddressEntry {
  const parts = value.split('/');
  if (parts.length > 2) return { ok: false, reason: 'has more than one "/"' };
  const [address, prefixText] = parts as [string, string | undefined];
  if (address.includes('%')) return { ok: false, reason: 'has an IPv6 zone id (%...); zones are not supported' };
  const version = isIP(address);
  if (version === 0) return { ok: false, reason: `"${address}" is not an IPv4 or IPv6 address` };
  const family = version === 4 ? 'ipv4' : 'ipv6';
  const bitsInFamily = version === 4 ? 32 : 128;
  let prefix = bitsInFamily;
  if (prefixText !== undefined) {
    if (!/^[0-9]{1,3}$/.test(prefixText)) return { ok: false, reason: `prefix length "${prefixText}" is not a number` };
    prefix = Number(prefixText);
    if (prefix > bitsInFamily) {
      return { ok: false, reason: `prefix length /${prefix} is out of range for ${family === 'ipv4' ? 'IPv4' : 'IPv6'} (0-${bitsInFamily}), so it can never match` };
    }
  }
  const bits = addressBits(address, family);
  const hostMask = (1n << BigInt(bitsInFamily - prefix)) - 1n;
  if ((bits & hostMask) !== 0n) {
    return { ok: true, address: formatBits(bits & ~hostMask, family), prefix, family, maskedFrom: address };
  }
  return { ok: true, address, prefix, family };
}

function check(config: IpRestrictionConfig, path: string): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  if (config.allow.length === 0 && config.deny.length === 0) {
    issues.push({ path, message: 'needs at least one entry in allow or deny; an empty restriction restricts nothing' });
  }
  const seen = new Map<string, string>();
  for (const list of ['allow', 'deny'] as const) {
    config[list].forEach((value, index) => {
      const at = `${path}.${list}[${index}]`;
      const entry = parseAddressEntry(value);
      if (!entry.ok) {
        issues.push({ path: at, message: `"${value}" is not a valid address or CIDR range: ${entry.reason}` });
        return;
      }
      if (entry.maskedFrom !== undefined) {
        issues.push({
          path: at,
          severity: 'warning',
          message: `"${value}" has host bits set; it covers ${entry.address}/${entry.prefix} (write that to say so)`,
        });
      }
      if (entry.prefix === 0) {
        issues.push({
          path: at,
          severity: 'warning',
          message: `"${value}" matches every ${entry.family === 'ipv4' ? 'IPv4' : 'IPv6'} address`,
        });
      }
      const key = `${entry.address}/${entry.prefix}`;
      const earlier = seen.get(key);
      if (earlier !== undefined && earlier.startsWith(`${path}.allow`) && list === 'deny') {
        issues.push({
          path: at,
          severity: 'warning',
          message: `"${value}" is also allowed at ${earlier}; deny wins, so that allow entry never lets anyone in`,
        });
      }
      if (earlier === undefined) seen.set(key, at);
    });
  }
  return issues;
}

function buildList(entries: readonly string[]): BlockList | undefined {
  if (entries.length === 0) return undefined;
  const list = new BlockList();
  for (const value of entries) {
    const entry = parseAddressEntry(value);
    // Invalid entries are config errors reported by check(); never reached with a loaded config.
    if (!entry.ok) throw new Error(`ip-restriction: invalid entry "${value}": ${entry.reason}`);
    list.addSubnet(entry.address, entry.prefix, entry.family);
  }
  return list;
}

function create(config: IpRestrictionConfig, deps: PolicyDeps): PolicyHandlers {
  const deny = buildList(config.deny);
  const allow = buildList(config.allow);
  if (deny === undefined && allow === undefined) {
    throw new Error('ip-restriction: allow and deny are both empty');
  }
  const { events, routeId } = deps;
  // The answers are the same for every denied request: built once, shared.
  const deniedByList: RespondWithProblem = Object.freeze(problem('RAMPART_ERR_ADDRESS_DENIED', 'client address is on the deny list'));
  const notAllowed: RespondWithProblem = Object.freeze(problem('RAMPART_ERR_ADDRESS_DENIED', 'client address is not on the allow list'));
  const unparseable: RespondWithProblem = Object.freeze(problem('RAMPART_ERR_ADDRESS_DENIED', 'client address does not parse'));

  function refuse(ctx: RequestContext, answer: RespondWithProblem): RespondWithProblem {
    events.emit({
      type: 'address.denied',
      severity: 'low',
      requestId: ctx.requestId,
      routeId,
      clientAddress: ctx.clientAddress,
      details: { reason: answer.detail },
    });
    return answer;
  }

  return {
    onRequest(ctx: RequestContext): RespondWithProblem | undefined {
      let address = ctx.clientAddress;
      // A link-local peer may come with its zone (fe80::1%eth0); the zone says nothing about who the peer is.
      const zone = address.indexOf('%');
      if (zone !== -1) address = address.slice(0, zone);
      const version = isIP(address);
      if (version === 0) return refuse(ctx, unparseable);
      const family = version === 4 ? 'ipv4' : 'ipv6';
      if (deny !== undefined && deny.check(address, family)) return refuse(ctx, deniedByList);
      if (allow !== undefined && !allow.check(address, family)) return refuse(ctx, notAllowed);
      return undefined;
    },
  };
}

export const ipRestrictionPolicy: PolicyDefinition<IpRestrictionConfig> = {
  name: 'ip-restriction',
  phase: 'edge',
  order: 5,
  schema: ipRestrictionSchema,
  check,
  create,
};
