/**
 * Config schema of the `ip-restriction` policy. Entries are checked for meaning (valid address, prefix length in
 * range for the family) by `check()` in index.ts, which can name the exact entry and the reason.
 */

const ENTRY = {
  type: 'string',
  minLength: 1,
  maxLength: 64,
} as const;

export const ipRestrictionSchema = {
  type: 'object',
  additionalProperties: false,
  description:
    'Allow or deny clients by address (the client address as resolved through trusted proxies). Deny wins over ' +
    'allow; with an allow list, every other address is denied.',
  properties: {
    allow: {
      type: 'array',
      default: [],
      description:
        'Addresses or CIDR ranges allowed, IPv4 or IPv6 (e.g. "10.0.0.0/8", "2001:db8::/32", "192.0.2.7"). ' +
        'When not empty, every other address is denied. IPv4-mapped IPv6 clients (::ffff:10.0.0.1) match IPv4 entries.',
      items: ENTRY,
    },
    deny: {
      type: 'array',
      default: [],
      description: 'Addresses or CIDR ranges always denied, even when also allowed.',
      items: ENTRY,
    },
  },
  // At least one list must say something; an empty policy would silently allow everyone.
  anyOf: [
    { type: 'object', required: ['allow'], properties: { allow: { type: 'array', minItems: 1 } } },
    { type: 'object', required: ['deny'], properties: { deny: { type: 'array', minItems: 1 } } },
  ],
} as const;

export interface IpRestrictionConfig {
  readonly allow: readonly string[];
  readonly deny: readonly string[];
}
