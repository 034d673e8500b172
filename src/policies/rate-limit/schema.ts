/**
 * Config schema of the two limit policies, which share one implementation (index.ts):
 *
 * - `address-limit` (phase `limit-address`, before authentication): keys known before anyone authenticated
 *   (`ip`, `route`, `header:NAME`, `cel:` over the request). It throttles credential guessing and floods before
 *   any token is verified, any password hashed or any store read.
 * - `rate-limit` (phase `limit-principal`, after authentication, MFA and authorization): any key, including the
 *   authenticated caller (`principal`, `consumer`, `api-key`, `cel:` over `principal`). Per-caller rates, daily
 *   and monthly quotas, concurrency.
 *
 * Why two names rather than one policy in two phases: a policy has one phase (types.ts), and a route key names one
 * policy; two names also let `defaults` carry a gateway-wide `address-limit` while each route adds its own
 * `rate-limit` without replacing it (route settings replace `defaults` per policy name).
 *
 * Combinations that JSON Schema would only report as an unreadable `oneOf` failure (exactly one of rate, quota,
 * concurrency; burst only with rate; period with quota; lease with concurrency) are checked by `check()` in
 * index.ts, which names the exact entry.
 */
import { COUNTERS_SCHEMA, type CounterFailureMode } from '../../storage/counters-config.ts';
import { DURATION_SCHEMA } from '../../config/units.ts';

/** `N/s`, `N/m`, `N/h`, `N/d`: N requests per second, minute, hour or day. */
export const RATE_PATTERN = '^([1-9][0-9]{0,9})/(s|m|h|d)$';

const RATE = new RegExp(RATE_PATTERN);
const UNIT_MS: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `N/s`, `N/m`, `N/h`, `N/d` as its count and GCRA emission interval, or undefined when it is not one. */
export function parseRate(rate: string): { readonly count: number; readonly intervalMs: number } | undefined {
  const match = RATE.exec(rate);
  if (match === null) return undefined;
  const count = Number(match[1]);
  return { count, intervalMs: UNIT_MS[match[2]!]! / count };
}
/** Header names as RFC 9110 §5.1 tokens, lower case (Node lower-cases received names). */
const HEADER_KEY = 'header:[a-z0-9!#$%&\'*+.^_`|~-]{1,64}';
const NAME_PATTERN = '^[A-Za-z0-9._-]{1,64}$';

export type LimitVariant = 'address' | 'principal';

function limitItem(variant: LimitVariant) {
  // One pattern for both: a caller key in address-limit passes the schema so that check() can say why it is wrong
  // ("only known after authentication: use it in rate-limit") instead of "invalid format".
  const keys = `^(ip|route|consumer|api-key|principal|${HEADER_KEY}|cel:[\\s\\S]{1,4096})$`;
  return {
    type: 'object',
    additionalProperties: false,
    required: ['key'],
    properties: {
      key: {
        type: 'string',
        pattern: keys,
        description:
          variant === 'address'
            ? 'what the limit counts by: ip (client address as resolved through trustedProxies; IPv6 by /64), route ' +
              '(everyone together), header:NAME (a request header; a missing header is one shared bucket), or ' +
              "cel:EXPR (a CEL expression over `request`, e.g. cel:request.headers['x-tenant-id']). Values are " +
              'length-bounded (long ones hashed) and namespaced per limit, so no value can reach another key.'
            : 'what the limit counts by: ip, route, consumer (API-key consumers), api-key (one key), principal (any ' +
              'authenticated caller, by kind and subject), header:NAME, or cel:EXPR over `request` and `principal`. ' +
              'A limit whose key has no value for a request (consumer on a user token) does not apply to it.',
      },
      name: {
        type: 'string',
        pattern: NAME_PATTERN,
        description:
          'the policy name in RateLimit-Policy / RateLimit headers; limits with the same name and key on several routes ' +
          'share one counter (give them the same rate). Default: one counter per route and limit, named by position.',
      },
      rate: {
        type: 'string',
        pattern: RATE_PATTERN,
        description:
          'N/s, N/m, N/h or N/d, enforced with GCRA: a steady N per period with no window edge where two bursts meet ' +
          '(unlike fixed windows), allowing at most `burst` at once',
      },
      burst: {
        type: 'integer',
        minimum: 1,
        maximum: 1_000_000_000,
        description: 'with rate: how many requests may arrive at once (default: N, a full period worth)',
      },
      quota: {
        type: 'integer',
        minimum: 1,
        maximum: 1_000_000_000_000,
        description: 'with period: a quota of this many requests per UTC calendar day or month, reset at the boundary',
      },
      period: { enum: ['day', 'month'], description: 'with quota: the UTC calendar period (day from 00:00Z, month from the 1st)' },
      concurrency: {
        type: 'integer',
        minimum: 1,
        maximum: 1_000_000,
        description: 'at most this many requests of one key in flight at once; a slot is freed when the answer completes, fails or the client goes away',
      },
      lease: {
        ...DURATION_SCHEMA,
        description:
          'with concurrency and a shared (Redis) store: a slot not freed within this is freed anyway, so slots of a ' +
          'gateway process that died are not lost for good (default 5m; keep it above the longest request)',
      },
    },
  } as const;
}

export function limitPolicySchema(variant: LimitVariant) {
  return {
    type: 'object',
    additionalProperties: false,
    required: ['limits'],
    description:
      variant === 'address'
        ? 'Limits counted before authentication (phase limit-address): by client address, route, header or a CEL ' +
          'expression over the request. Refusals are 429 problems with Retry-After and RateLimit headers.'
        : 'Limits counted after authentication and authorization (phase limit-principal): rates, calendar quotas and ' +
          'concurrency, by caller or anything address-limit can use. Refusals are 429 problems with Retry-After and ' +
          'RateLimit headers; successful answers carry RateLimit-Policy and RateLimit (remaining quota).',
    properties: {
      limits: { type: 'array', minItems: 1, maxItems: 16, items: limitItem(variant) },
      onStoreFailure: {
        enum: ['closed', 'local'],
        description:
          'when the counter store (Redis) cannot answer: closed answers 503, local enforces the same limits in this ' +
          'process only until Redis is back. Default: counters.onFailure.',
      },
      headers: {
        type: 'boolean',
        default: true,
        description: 'send RateLimit-Policy and RateLimit (draft-ietf-httpapi-ratelimit-headers-10) on successful answers too',
      },
      counters: { ...COUNTERS_SCHEMA, description: 'taken from the top-level counters setting; not set on routes' },
    },
  } as const;
}

export interface LimitConfig {
  readonly key: string;
  readonly name?: string;
  readonly rate?: string;
  readonly burst?: number;
  readonly quota?: number;
  readonly period?: 'day' | 'month';
  readonly concurrency?: number;
  readonly lease?: string | number;
}

export interface LimitPolicyConfig {
  readonly limits: readonly LimitConfig[];
  readonly onStoreFailure?: CounterFailureMode;
  readonly headers?: boolean;
  readonly counters?: Readonly<Record<string, unknown>>;
}
