/**
 * The top-level `counters:` setting: where rate-limit and brute-force counters live, and what a route does when
 * that store cannot answer. Kept apart from the adapters so the config schema can import it without them.
 *
 *   counters: { store: memory }                                       # one process (the default)
 *   counters: { store: "${env:REDIS_URL}", onFailure: local, keyPrefix: "rampart:", timeout: 500ms }
 */
import { DURATION_SCHEMA, parseDuration } from '../config/units.ts';

export type CounterFailureMode = 'closed' | 'local';

export interface CountersConfig {
  /** `memory`, or a `redis://` / `rediss://` URL (it may carry a password: never log it). */
  readonly store: string;
  readonly onFailure: CounterFailureMode;
  readonly keyPrefix: string;
  readonly timeoutMs: number;
  /** Local reservations of rate-limit units from Redis (redis/counters.ts LeaseSettings); undefined: off. */
  readonly lease: { readonly fraction: number; readonly maxUnits: number; readonly ttlMs: number } | undefined;
}

/**
 * The units one lease of a rate with this burst holds (redis/counters.ts LeaseSettings): under 2, the rate is not
 * leased and every check asks Redis.
 */
export function leaseUnits(burst: number, lease: { readonly fraction: number; readonly maxUnits: number } | undefined): number {
  return lease === undefined ? 1 : Math.min(lease.maxUnits, Math.floor(burst * lease.fraction));
}

/** `counters.lease` when not written: a lease holds at most 0.5 % of a limit's burst, 64 units, for 1 s. */
export const DEFAULT_LEASE = { fraction: 0.005, maxUnits: 64, ttl: '1s' } as const;

const REDIS_URL = /^rediss?:\/\/\S+$/;

export const COUNTERS_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  default: {},
  description:
    'Where rate-limit counters and the brute-force counters of authentication live. `memory` counts in this process ' +
    'only; a Redis URL (redis:// or rediss:// for TLS, e.g. "${env:REDIS_URL}") lets several gateway processes ' +
    'enforce one global limit and share brute-force locks.',
  properties: {
    store: {
      type: 'string',
      default: 'memory',
      pattern: '^(memory|rediss?://\\S+)$',
      description: 'memory, or redis://[:password@]host:port[/db] (rediss:// for TLS)',
    },
    onFailure: {
      enum: ['closed', 'local'],
      default: 'closed',
      description:
        'what a rate-limited route does while Redis cannot answer (a route may override it with onStoreFailure): ' +
        'closed answers 503 (fail closed, the default); local enforces the same limits per gateway process in ' +
        'memory until Redis is back (N processes then admit up to N times the limit). Reconnection is automatic.',
    },
    keyPrefix: {
      type: 'string',
      default: 'rampart:',
      pattern: '^[A-Za-z0-9:._-]{0,128}$',
      description: 'prefix of every Redis key, so several deployments can share one Redis',
    },
    timeout: {
      ...DURATION_SCHEMA,
      default: '500ms',
      description: 'a Redis command not answered within this counts as a store failure (see onFailure)',
    },
    lease: {
      description:
        'Redis only: a check of a limit with a large burst reserves up to fraction × burst units (at most maxUnits) ' +
        'in one round trip, and this process answers the next checks of the same key from them until they are used ' +
        'or ttl passes. Units are counted in Redis when reserved; a unit used later than that can let a window hold up ' +
        'to fraction × burst more per process than the burst, and units a process does not use before ttl are lost ' +
        'until the allowance refills (at most fraction × burst per process). Limits where fraction × burst < 2 ' +
        '(e.g. 10/s, 100/min) always ask Redis. false: every check asks Redis (exact GCRA; posture reports leases).',
      default: DEFAULT_LEASE,
      oneOf: [
        { const: false },
        {
          type: 'object',
          additionalProperties: false,
          properties: {
            fraction: { type: 'number', exclusiveMinimum: 0, maximum: 0.05, default: DEFAULT_LEASE.fraction },
            maxUnits: { type: 'integer', minimum: 2, maximum: 10_000, default: DEFAULT_LEASE.maxUnits },
            ttl: { ...DURATION_SCHEMA, default: DEFAULT_LEASE.ttl },
          },
        },
      ],
    },
  },
} as const;

export function isRedisCounterStore(store: string): boolean {
  return REDIS_URL.test(store);
}

/** The counters settings of a validated config document (defaults filled in), or the defaults. */
export function countersConfigOf(document: Readonly<Record<string, unknown>> | undefined): CountersConfig {
  const raw = (document?.counters ?? {}) as {
    store?: string;
    onFailure?: CounterFailureMode;
    keyPrefix?: string;
    timeout?: string | number;
    lease?: false | { fraction?: number; maxUnits?: number; ttl?: string | number };
  };
  const lease = raw.lease === false ? undefined : { ...DEFAULT_LEASE, ...raw.lease };
  return {
    store: raw.store ?? 'memory',
    onFailure: raw.onFailure ?? 'closed',
    keyPrefix: raw.keyPrefix ?? 'rampart:',
    timeoutMs: Math.max(1, parseDuration(raw.timeout ?? '500ms')),
    lease: lease === undefined ? undefined : { fraction: lease.fraction, maxUnits: lease.maxUnits, ttlMs: Math.max(1, parseDuration(lease.ttl)) },
  };
}
