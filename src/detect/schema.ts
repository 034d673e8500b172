/**
 * `detectors:` — anomaly detection over the live stream of security events and request observations (issue 6,
 * point 5; checklist item 6, OWASP API Security Top 10 2023 API2 broken authentication, API1 BOLA, API4 unrestricted
 * resource consumption, API5 broken function level authorization). Every detector is on by default (`enabled:
 * false` turns one off, and `rampart posture` should say so); every threshold, window and cap is a setting.
 *
 * `cooldown` everywhere: once a detector raised an event for a key (account, address, principal, route), the same
 * anomaly for the same key is only counted, not raised again, until the cool-down has passed; the count goes out
 * as `suppressed` with the next event for the key, or, when the cool-down ends first, with a follow-up event of its
 * own (`phase: cooldown-ended`, README "Cool-downs and their follow-ups"). Absent, it equals the detector's window.
 *
 * `maxTracked` everywhere: the most keys the detector keeps state for; beyond it the least recently seen key is
 * forgotten (and counted in the detector's `evictions`), so floods of distinct keys cost no memory.
 *
 * `state`: `memory` (each gateway process judges what it sees) or Redis, shared by every process (shared.ts):
 *
 *   detectors: { state: memory }                                   # the default
 *   detectors: { state: redis }                                    # the Redis of counters.store, its keyPrefix and timeout
 *   detectors: { state: { redis: { url: "${env:REDIS_URL}", keyPrefix: "rampart:", syncInterval: 500ms } } }
 */
import { formatAjvErrors } from '../config/errors.ts';
import { validatorOnFirstUse } from '../config/config-ajv.ts';
import { DURATION_SCHEMA, parseDuration } from '../config/units.ts';
import { isRedisCounterStore, type CountersConfig } from '../storage/counters-config.ts';
import { DETECTOR_NAMES, type Severity } from './types.ts';

const SEVERITY = { enum: ['info', 'low', 'medium', 'high', 'critical'] } as const;

/**
 * Settings every detector has. `window` only for detectors that count in a sliding window; the baseline detectors
 * count per bucket and have an explicit cool-down default instead.
 */
function common(name: string, severity: Severity, maxTracked: number, timing: { window: string } | { cooldown: string }) {
  return {
    enabled: { type: 'boolean', default: true, description: `false turns the ${name} detector off` },
    ...('window' in timing
      ? { window: { ...DURATION_SCHEMA, default: timing.window, description: 'the sliding window the threshold is counted in' } }
      : {}),
    cooldown: {
      ...DURATION_SCHEMA,
      ...('cooldown' in timing ? { default: timing.cooldown } : {}),
      description:
        'minimum time between two events for the same key (repeats are counted as `suppressed`)' + ('window' in timing ? '; default: the window' : ''),
    },
    severity: { ...SEVERITY, default: severity, description: 'severity of the raised event' },
    maxTracked: {
      type: 'integer',
      minimum: 1,
      maximum: 1_000_000,
      default: maxTracked,
      description: 'most keys kept in memory; the least recently seen is forgotten first (counted as evictions)',
    },
  } as const;
}

const baselineProperties = (bucket: string, baseline: string, warmup: string) =>
  ({
    bucket: { ...DURATION_SCHEMA, default: bucket, description: 'counting interval of the baseline' },
    baseline: {
      ...DURATION_SCHEMA,
      default: baseline,
      description: 'span of the exponentially weighted baseline (each bucket weighs bucket/baseline)',
    },
    warmup: { ...DURATION_SCHEMA, default: warmup, description: 'history a key needs before its baseline is believed' },
    zScore: { type: 'number', minimum: 1, maximum: 100, default: 4, description: 'standard deviations above the baseline mean' },
  }) as const;

export const detectorsConfigSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  description:
    'Anomaly detectors over security events and finished requests. Each raises an `anomaly.<name>` security event ' +
    '(severity, counts, window, up to 10 sample request ids, principal and client address), at most once per ' +
    'cool-down per key. State is in memory, per gateway process, or shared by every process through Redis (`state`).',
  properties: {
    state: {
      default: 'memory',
      description:
        'Where detector state lives. memory: each gateway process judges the traffic it sees. redis: the Redis of ' +
        'counters.store (with its keyPrefix and timeout), or { redis: { url, keyPrefix, syncInterval, timeout } }: ' +
        'every process shares per-key counts (an attack spread over the nodes is seen whole, one event per key and ' +
        'signal per cool-down for the cluster). Processes sync batched deltas every syncInterval, never per request; ' +
        'while Redis is unreachable each process judges alone and rejoins by itself.',
      anyOf: [
        { enum: ['memory', 'redis'] },
        {
          type: 'object',
          additionalProperties: false,
          required: ['redis'],
          properties: {
            redis: {
              type: 'object',
              additionalProperties: false,
              properties: {
                url: {
                  type: 'string',
                  pattern: '^rediss?://\\S+$',
                  description: 'redis://[:password@]host:port[/db] (rediss:// for TLS); absent: counters.store',
                },
                keyPrefix: {
                  type: 'string',
                  pattern: '^[A-Za-z0-9:._-]{0,128}$',
                  description: 'prefix of every key (then `detect:`); absent: counters.keyPrefix, else `rampart:`',
                },
                syncInterval: { ...DURATION_SCHEMA, description: 'how often each process sends its batched deltas (default 500ms)' },
                timeout: { ...DURATION_SCHEMA, description: 'a sync not answered within this counts as Redis unavailable (default: counters.timeout, else 500ms)' },
              },
            },
          },
        },
      ],
    },
    bruteForce: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description:
        'Authentication failures against one account (user, OAuth client, API key) within the window, from any ' +
        'number of addresses: catches slow or distributed guessing that per-address lockouts miss.',
      properties: {
        ...common('brute-force', 'high', 10_000, { window: '5m' }),
        threshold: { type: 'integer', minimum: 2, maximum: 1_000_000, default: 10, description: 'failures for one account in the window' },
      },
    },
    credentialStuffing: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description:
        'Failures across many distinct accounts from one client address (lists of leaked credentials), and a burst ' +
        'of authentication failures overall far above their baseline (stuffing spread over many addresses).',
      properties: {
        ...common('credential-stuffing', 'high', 10_000, { window: '10m' }),
        distinctAccounts: {
          type: 'integer',
          minimum: 2,
          maximum: 100_000,
          default: 10,
          description: 'distinct accounts failing from one address in the window',
        },
        burst: {
          type: 'object',
          additionalProperties: false,
          default: {},
          description: 'all authentication failures per bucket against their own baseline',
          properties: {
            enabled: { type: 'boolean', default: true },
            ...baselineProperties('1m', '1h', '30m'),
            ratio: { type: 'number', minimum: 1, maximum: 1000, default: 5, description: 'and at least this many times the mean' },
            minFailures: { type: 'integer', minimum: 1, maximum: 10_000_000, default: 50, description: 'and at least this many failures per bucket' },
          },
        },
      },
    },
    tokenSharing: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description:
        'One credential (API key, token, session) used from many distinct client addresses in a short time: a leaked ' +
        'or shared credential. Addresses are compared by network prefix so IPv6 privacy addresses count once.',
      properties: {
        ...common('token-sharing', 'high', 10_000, { window: '10m' }),
        distinctAddresses: {
          type: 'integer',
          minimum: 2,
          maximum: 100_000,
          default: 5,
          description: 'distinct address prefixes using one credential in the window',
        },
        ipv4Prefix: { type: 'integer', minimum: 8, maximum: 32, default: 32, description: 'IPv4 addresses in one such prefix count as one' },
        ipv6Prefix: { type: 'integer', minimum: 16, maximum: 128, default: 64, description: 'IPv6 addresses in one such prefix count as one' },
      },
    },
    bolaEnumeration: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description:
        'Object enumeration (OWASP API1:2023): one principal (or anonymous address) touching many distinct object ids ' +
        'in the window, or many denied answers on nearby numeric ids.',
      properties: {
        ...common('bola-enumeration', 'high', 5_000, { window: '5m' }),
        distinctIds: { type: 'integer', minimum: 2, maximum: 100_000, default: 50, description: 'distinct object ids per principal in the window' },
        sequentialDenials: {
          type: 'integer',
          minimum: 2,
          maximum: 100_000,
          default: 20,
          description: 'denied answers on numeric ids within maxGap of the previous one, per principal in the window',
        },
        maxGap: { type: 'integer', minimum: 1, maximum: 1_000_000, default: 5, description: 'how far apart two ids may be and still be "sequential"' },
        denialStatuses: {
          type: 'array',
          items: { type: 'integer', minimum: 400, maximum: 499 },
          minItems: 1,
          maxItems: 16,
          uniqueItems: true,
          default: [403, 404],
          description: 'statuses that count as a denied object access',
        },
      },
    },
    scraping: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description:
        "A principal's (or anonymous address's) requests per bucket far above its own baseline: exponentially " +
        'weighted mean and variance, a z-score, a ratio and an absolute floor, after a warm-up.',
      properties: {
        ...common('scraping', 'medium', 10_000, { cooldown: '15m' }),
        ...baselineProperties('1m', '1h', '30m'),
        ratio: { type: 'number', minimum: 1, maximum: 1000, default: 4, description: 'and at least this many times the mean' },
        minRequests: { type: 'integer', minimum: 1, maximum: 10_000_000, default: 120, description: 'and at least this many requests per bucket' },
        ceiling: {
          type: 'integer',
          minimum: 1,
          maximum: 100_000_000,
          description: 'requests per bucket that are anomalous whatever the baseline, also during warm-up (absent: off)',
        },
      },
    },
    errorSpike: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: "A route's 5xx or 4xx rate per bucket far above the route's own baseline rate.",
      properties: {
        ...common('error-spike', 'high', 1_000, { cooldown: '15m' }),
        ...baselineProperties('1m', '1h', '30m'),
        classes: {
          type: 'array',
          items: { enum: ['5xx', '4xx'] },
          uniqueItems: true,
          default: ['5xx', '4xx'],
          description: 'which status classes are watched',
        },
        ratio: { type: 'number', minimum: 1, maximum: 1000, default: 3, description: 'the rate must be at least this many times the baseline rate' },
        minRequests: { type: 'integer', minimum: 1, maximum: 10_000_000, default: 20, description: 'requests in the bucket before a rate means anything' },
        minErrors: { type: 'integer', minimum: 1, maximum: 10_000_000, default: 10, description: 'errors in the bucket before it can be a spike' },
        absoluteRate: {
          type: 'number',
          exclusiveMinimum: 0,
          maximum: 1,
          default: 0.5,
          description: 'an error rate that is a spike during warm-up, and after it when also `ratio` times the baseline',
        },
        severity4xx: { ...SEVERITY, default: 'medium', description: 'severity of a 4xx spike (`severity` is that of a 5xx spike)' },
      },
    },
    adminActivity: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description:
        'Unusual use of `sensitivity: admin` routes by a principal, once its profile is learnt: from a new address, ' +
        'outside its learnt working hours, or at a rate far above its own baseline.',
      properties: {
        ...common('admin-activity', 'high', 1_000, { cooldown: '1h' }),
        learningPeriod: { ...DURATION_SCHEMA, default: '2d', description: 'history a principal needs before its profile is used' },
        learningRequests: { type: 'integer', minimum: 1, maximum: 1_000_000, default: 50, description: 'and successful admin requests it needs' },
        newAddress: { type: 'boolean', default: true, description: 'raise on an admin request from an address the principal never used' },
        maxAddresses: { type: 'integer', minimum: 1, maximum: 1024, default: 16, description: 'known addresses kept per principal' },
        offHours: { type: 'boolean', default: true, description: 'raise on an admin request at an hour the principal does not use' },
        hourMinShare: {
          type: 'number',
          minimum: 0,
          maximum: 1,
          default: 0.02,
          description: 'hours holding less than this share of the principal’s admin requests do not define its working window',
        },
        hourTolerance: {
          type: 'integer',
          minimum: 0,
          maximum: 6,
          default: 2,
          description: 'hours before and after the learnt working window that still count as usual',
        },
        utcOffsetMinutes: { type: 'integer', minimum: -840, maximum: 840, default: 0, description: 'the time zone hours are counted in' },
        rate: {
          type: 'object',
          additionalProperties: false,
          default: {},
          description: 'admin requests per bucket against the principal’s own baseline',
          properties: {
            enabled: { type: 'boolean', default: true },
            bucket: { ...DURATION_SCHEMA, default: '10m' },
            baseline: { ...DURATION_SCHEMA, default: '1d' },
            zScore: { type: 'number', minimum: 1, maximum: 100, default: 4 },
            ratio: { type: 'number', minimum: 1, maximum: 1000, default: 4 },
            minRequests: { type: 'integer', minimum: 1, maximum: 10_000_000, default: 60 },
          },
        },
      },
    },
  },
} as const;

type Duration = number | string;

/** `detectors.state` as written (see the module comment). */
export type DetectorsStateConfig =
  | 'memory'
  | 'redis'
  | {
      readonly redis: {
        readonly url?: string;
        readonly keyPrefix?: string;
        readonly syncInterval?: Duration;
        readonly timeout?: Duration;
      };
    };

/** Where detector state lives, with every default resolved. */
export type DetectorsState =
  | { readonly store: 'memory' }
  | { readonly store: 'redis'; readonly url: string; readonly keyPrefix: string; readonly syncIntervalMs: number; readonly timeoutMs: number };

const DEFAULT_SYNC_INTERVAL_MS = 500;
const DEFAULT_STATE_TIMEOUT_MS = 500;
const MIN_SYNC_INTERVAL_MS = 50;
const MAX_SYNC_INTERVAL_MS = 10_000;

/**
 * Resolves `detectors.state` against the `counters:` section (whose Redis `state: redis` names). Returns an error
 * message instead when the state names a Redis that does not exist.
 */
export function resolveDetectorsState(state: DetectorsStateConfig | undefined, counters: CountersConfig | undefined): DetectorsState | string {
  if (state === undefined || state === 'memory') return { store: 'memory' };
  const redis = state === 'redis' ? {} : state.redis;
  const countersRedis = counters !== undefined && isRedisCounterStore(counters.store) ? counters : undefined;
  const url = redis.url ?? countersRedis?.store;
  if (url === undefined) {
    return 'detectors.state: Redis without a url needs counters.store to be a Redis URL (or give detectors.state.redis.url)';
  }
  return {
    store: 'redis',
    url,
    keyPrefix: redis.keyPrefix ?? counters?.keyPrefix ?? 'rampart:',
    syncIntervalMs: redis.syncInterval === undefined ? DEFAULT_SYNC_INTERVAL_MS : parseDuration(redis.syncInterval),
    timeoutMs: redis.timeout === undefined ? (countersRedis?.timeoutMs ?? DEFAULT_STATE_TIMEOUT_MS) : parseDuration(redis.timeout),
  };
}

/** The `detectors:` section after schema validation with defaults (what the config loader hands over). */
export interface DetectorsConfig {
  /** Absent in hand-built configs: memory. */
  readonly state?: DetectorsStateConfig;
  readonly bruteForce: Windowed & { readonly threshold: number };
  readonly credentialStuffing: Windowed & {
    readonly distinctAccounts: number;
    readonly burst: BaselineInput & { readonly enabled: boolean; readonly ratio: number; readonly minFailures: number };
  };
  readonly tokenSharing: Windowed & { readonly distinctAddresses: number; readonly ipv4Prefix: number; readonly ipv6Prefix: number };
  readonly bolaEnumeration: Windowed & {
    readonly distinctIds: number;
    readonly sequentialDenials: number;
    readonly maxGap: number;
    readonly denialStatuses: readonly number[];
  };
  readonly scraping: Common & BaselineInput & { readonly ratio: number; readonly minRequests: number; readonly ceiling?: number };
  readonly errorSpike: Common &
    BaselineInput & {
      readonly classes: readonly ('5xx' | '4xx')[];
      readonly ratio: number;
      readonly minRequests: number;
      readonly minErrors: number;
      readonly absoluteRate: number;
      readonly severity4xx: Severity;
    };
  readonly adminActivity: Common & {
    readonly learningPeriod: Duration;
    readonly learningRequests: number;
    readonly newAddress: boolean;
    readonly maxAddresses: number;
    readonly offHours: boolean;
    readonly hourMinShare: number;
    readonly hourTolerance: number;
    readonly utcOffsetMinutes: number;
    readonly rate: {
      readonly enabled: boolean;
      readonly bucket: Duration;
      readonly baseline: Duration;
      readonly zScore: number;
      readonly ratio: number;
      readonly minRequests: number;
    };
  };
}

interface Common {
  readonly enabled: boolean;
  readonly cooldown?: Duration;
  readonly severity: Severity;
  readonly maxTracked: number;
}

interface Windowed extends Common {
  readonly window: Duration;
}

interface BaselineInput {
  readonly bucket: Duration;
  readonly baseline: Duration;
  readonly warmup: Duration;
  readonly zScore: number;
}

const validate = validatorOnFirstUse(detectorsConfigSchema);

/**
 * Validates a `detectors:` value and fills in defaults (a deep copy: the input is not changed). The gateway's loader
 * validates the whole document with this fragment; this is for tests and for callers holding the section alone.
 */
export function parseDetectorsConfig(value: unknown = {}): { ok: true; config: DetectorsConfig } | { ok: false; errors: string[] } {
  const copy: unknown = value === undefined ? {} : structuredClone(value);
  if (!validate(copy)) return { ok: false, errors: formatAjvErrors(validate.errors ?? [], 'detectors') };
  const config = copy as DetectorsConfig;
  const errors = checkDetectorsConfig(config);
  return errors.length > 0 ? { ok: false, errors } : { ok: true, config };
}

/**
 * Checks the schema cannot express: buckets shorter than their baseline, windows of at least 1 s, a sync interval
 * within bounds and, when the `counters:` section is given, a Redis for `state: redis` to use.
 */
export function checkDetectorsConfig(config: DetectorsConfig, counters?: CountersConfig): string[] {
  const errors: string[] = [];
  const atLeastOneSecond = (path: string, value: Duration | undefined) => {
    if (value !== undefined && parseDuration(value) < 1000) errors.push(`detectors.${path}: must be at least 1s`);
  };
  const bucketWithin = (path: string, bucket: Duration, baseline: Duration) => {
    atLeastOneSecond(`${path}.bucket`, bucket);
    if (parseDuration(bucket) > parseDuration(baseline)) errors.push(`detectors.${path}.baseline: must be at least the bucket`);
  };
  for (const name of DETECTOR_NAMES) {
    const settings: (Common & { window?: Duration }) | undefined = config[name];
    if (settings === undefined) continue;
    atLeastOneSecond(`${name}.window`, settings.window);
    atLeastOneSecond(`${name}.cooldown`, settings.cooldown);
  }
  const state = config.state;
  if (typeof state === 'object') {
    const interval = state.redis.syncInterval;
    if (interval !== undefined && (parseDuration(interval) < MIN_SYNC_INTERVAL_MS || parseDuration(interval) > MAX_SYNC_INTERVAL_MS)) {
      errors.push('detectors.state.redis.syncInterval: must be between 50ms and 10s');
    }
    const timeout = state.redis.timeout;
    if (timeout !== undefined && parseDuration(timeout) < 1) errors.push('detectors.state.redis.timeout: must be at least 1ms');
  }
  if (counters !== undefined) {
    const resolved = resolveDetectorsState(state, counters);
    if (typeof resolved === 'string') errors.push(resolved);
  }
  bucketWithin('credentialStuffing.burst', config.credentialStuffing.burst.bucket, config.credentialStuffing.burst.baseline);
  bucketWithin('scraping', config.scraping.bucket, config.scraping.baseline);
  bucketWithin('errorSpike', config.errorSpike.bucket, config.errorSpike.baseline);
  bucketWithin('adminActivity.rate', config.adminActivity.rate.bucket, config.adminActivity.rate.baseline);
  return errors;
}
