/**
 * `alerts:` — outbound webhooks for security events (issue 6, point 6; checklist item 6): signed bodies (signature.ts),
 * grouping and de-duplication, retries with backoff and a dead-letter list. A list of destinations, each with its own
 * filter, format and delivery settings.
 */
import { formatAjvErrors } from '../config/errors.ts';
import { validatorOnFirstUse } from '../config/config-ajv.ts';
import { DURATION_SCHEMA, parseDuration } from '../config/units.ts';
import type { Severity } from '../observe/events.ts';

const SEVERITIES = ['info', 'low', 'medium', 'high', 'critical'] as const;

export const alertDestinationSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['webhook', 'secret'],
  properties: {
    name: {
      type: 'string',
      pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$',
      description:
        'how logs, metrics and dead letters name this destination (default `alerts[i]`); the URL itself is never ' +
        'logged, as some (Slack incoming webhooks) carry a secret in their path',
    },
    webhook: {
      type: 'string',
      pattern: '^https?://',
      maxLength: 2048,
      description: 'the URL alerts are POSTed to; https (plain http only to a loopback address or in development mode)',
    },
    secret: {
      type: 'string',
      minLength: 32,
      maxLength: 512,
      description:
        'HMAC-SHA256 key for the `Rampart-Signature: t=…,v1=…` header (e.g. `openssl rand -hex 32`); use ' +
        '`${env:NAME}`, never a literal in the file',
    },
    minSeverity: { enum: SEVERITIES, default: 'medium', description: 'events below this severity are not sent' },
    format: {
      enum: ['json', 'slack'],
      default: 'json',
      description: '`json`: the Rampart alert document; `slack`: `{text, blocks}` for a Slack-compatible incoming webhook',
    },
    types: {
      type: 'array',
      items: { type: 'string', pattern: '^(\\*|[a-z0-9][a-z0-9-]*(\\.[a-z0-9][a-z0-9-]*)*(\\.\\*)?)$', maxLength: 128 },
      minItems: 1,
      maxItems: 256,
      uniqueItems: true,
      description: 'event types sent (`anomaly.*` matches a family, `*` everything); absent: every type',
    },
    groupWindow: {
      ...DURATION_SCHEMA,
      default: '1m',
      description:
        'events with the same type, route and principal (or client address) within this time after the first become ' +
        'one alert with a count, first/last seen and sample request ids',
    },
    repeatInterval: {
      ...DURATION_SCHEMA,
      default: '15m',
      description: 'after an alert, more events of the same group wait at least this long and go out as one alert',
    },
    timeout: { ...DURATION_SCHEMA, default: '10s', description: 'per delivery attempt, connection to response' },
    maxAttempts: { type: 'integer', minimum: 1, maximum: 20, default: 6, description: 'attempts before an alert is dead-lettered' },
    backoff: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'exponential backoff between attempts (doubling from `initial`, at most `max`, with jitter)',
      properties: {
        initial: { ...DURATION_SCHEMA, default: '1s' },
        max: { ...DURATION_SCHEMA, default: '5m' },
      },
    },
    concurrency: { type: 'integer', minimum: 1, maximum: 16, default: 2, description: 'deliveries in flight at once' },
    queueSize: {
      type: 'integer',
      minimum: 1,
      maximum: 100_000,
      default: 1000,
      description: 'alerts waiting for delivery; beyond it new alerts are dead-lettered (`queue-full`) and counted',
    },
    maxGroups: {
      type: 'integer',
      minimum: 1,
      maximum: 100_000,
      default: 1000,
      description: 'groups tracked at once; beyond it events fold into one group per type (principal and address dropped)',
    },
    deadLetter: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        max: { type: 'integer', minimum: 0, maximum: 100_000, default: 1000, description: 'undeliverable alerts kept in memory (oldest dropped first)' },
        file: { type: 'string', minLength: 1, maxLength: 4096, description: 'also append each one as a JSON line to this file (mode 0600)' },
      },
    },
  },
} as const;

export const alertsConfigSchema = {
  type: 'array',
  items: alertDestinationSchema,
  maxItems: 32,
  default: [],
  description:
    'Outbound webhooks for security events: HMAC-signed bodies with a timestamp, grouped and de-duplicated, retried ' +
    'with exponential backoff and jitter, dead-lettered when undeliverable. An empty list sends nothing (posture ' +
    'reports "alerts with no destination").',
} as const;

/** One `alerts[i]` after schema validation with defaults. */
export interface AlertDestinationConfig {
  readonly name?: string;
  readonly webhook: string;
  readonly secret: string;
  readonly minSeverity: Severity;
  readonly format: 'json' | 'slack';
  readonly types?: readonly string[];
  readonly groupWindow: number | string;
  readonly repeatInterval: number | string;
  readonly timeout: number | string;
  readonly maxAttempts: number;
  readonly backoff: { readonly initial: number | string; readonly max: number | string };
  readonly concurrency: number;
  readonly queueSize: number;
  readonly maxGroups: number;
  readonly deadLetter: { readonly max: number; readonly file?: string };
}

/** A destination ready for the dispatcher: durations in ms, the name settled. */
export interface AlertDestination {
  readonly name: string;
  readonly webhook: string;
  readonly secret: string;
  readonly minSeverity: Severity;
  readonly format: 'json' | 'slack';
  readonly types: readonly string[] | undefined;
  readonly groupWindowMs: number;
  readonly repeatIntervalMs: number;
  readonly timeoutMs: number;
  readonly maxAttempts: number;
  readonly backoffInitialMs: number;
  readonly backoffMaxMs: number;
  readonly concurrency: number;
  readonly queueSize: number;
  readonly maxGroups: number;
  readonly deadLetterMax: number;
  readonly deadLetterFile: string | undefined;
}

export function resolveAlertDestination(config: AlertDestinationConfig, index: number): AlertDestination {
  return {
    name: config.name ?? `alerts[${index}]`,
    webhook: config.webhook,
    secret: config.secret,
    minSeverity: config.minSeverity,
    format: config.format,
    types: config.types,
    groupWindowMs: parseDuration(config.groupWindow),
    repeatIntervalMs: parseDuration(config.repeatInterval),
    timeoutMs: parseDuration(config.timeout),
    maxAttempts: config.maxAttempts,
    backoffInitialMs: parseDuration(config.backoff.initial),
    backoffMaxMs: parseDuration(config.backoff.max),
    concurrency: config.concurrency,
    queueSize: config.queueSize,
    maxGroups: config.maxGroups,
    deadLetterMax: config.deadLetter.max,
    deadLetterFile: config.deadLetter.file,
  };
}

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * What the schema cannot say, with exact paths: the URL parses, carries no user:password (a credential in a URL ends
 * up in logs and proxies; the signature authenticates Rampart instead), is https unless it points at loopback or the
 * gateway runs in development mode; timeouts and backoff are sensible; names are unique.
 */
export function checkAlertsConfig(alerts: readonly AlertDestinationConfig[], mode: 'production' | 'development'): string[] {
  const errors: string[] = [];
  const names = new Set<string>();
  alerts.forEach((alert, i) => {
    const path = `alerts[${i}]`;
    let url: URL | undefined;
    try {
      url = new URL(alert.webhook);
    } catch {
      errors.push(`${path}.webhook: is not a URL`);
    }
    if (url !== undefined) {
      if (url.username !== '' || url.password !== '') errors.push(`${path}.webhook: must not carry a user name or password`);
      if (url.protocol === 'http:' && mode === 'production' && !LOOPBACK_HOSTS.has(url.hostname)) {
        errors.push(`${path}.webhook: must be https in production (alerts carry security details)`);
      }
    }
    const name = alert.name ?? path;
    if (names.has(name)) errors.push(`${path}.name: "${name}" is used by another destination`);
    names.add(name);
    if (parseDuration(alert.timeout) < 100) errors.push(`${path}.timeout: must be at least 100ms`);
    if (parseDuration(alert.backoff.initial) > parseDuration(alert.backoff.max)) errors.push(`${path}.backoff.max: must be at least backoff.initial`);
  });
  return errors;
}

const validate = validatorOnFirstUse(alertsConfigSchema);

/**
 * Validates an `alerts:` value, fills defaults (on a copy) and resolves it for the dispatcher. The gateway's loader
 * validates the whole document with the schema fragment and then calls `checkAlertsConfig`; this is the same in one
 * call, for tests and tools holding the section alone.
 */
export function parseAlertsConfig(
  value: unknown,
  mode: 'production' | 'development' = 'production',
): { ok: true; destinations: AlertDestination[] } | { ok: false; errors: string[] } {
  const copy: unknown = value === undefined ? [] : structuredClone(value);
  if (!validate(copy)) return { ok: false, errors: formatAjvErrors(validate.errors ?? [], 'alerts') };
  const configs = copy as AlertDestinationConfig[];
  const errors = checkAlertsConfig(configs, mode);
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, destinations: configs.map(resolveAlertDestination) };
}
