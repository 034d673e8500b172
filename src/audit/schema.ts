/**
 * Config schema fragments for the lead to mount in src/config/schema.ts (CONFIG_SCHEMA.properties):
 *
 *   audit:   auditConfigSchema    where and how the tamper-evident audit chain is written
 *   events:  eventsConfigSchema   the security events store behind `rampart events`
 *   privacy: privacyConfigSchema  how client addresses are kept, and how long each store keeps personal data
 *
 * configured.ts validates these sections itself with the same schemas (defaults filled in), so it works whether or
 * not the loader has applied them yet, and reports errors with their exact config path.
 */
import { DURATION_SCHEMA } from '../config/units.ts';
import { AUDIT_CATEGORIES } from './audit-events.ts';
import { ADDRESS_PRIVACY_MODES } from './privacy.ts';

export const auditConfigSchema = {
  type: 'object',
  additionalProperties: false,
  description:
    'the tamper-evident audit log (checklist item 6): authentication, MFA, authorization denials, key and session lifecycle, ' +
    'config changes and, on routes that ask for it, data access; each entry carries the hash of the one before (`rampart audit verify`)',
  properties: {
    store: {
      type: 'string',
      minLength: 1,
      default: 'sqlite:./rampart-audit.db',
      description: 'sqlite:<path> (relative to the config file; several gateway processes may share the file) or postgres://… (a cluster)',
    },
    schema: {
      type: 'string',
      pattern: '^[a-z_][a-z0-9_]{0,62}$',
      default: 'rampart_audit',
      description: 'PostgreSQL schema holding the chain (one chain per schema)',
    },
    durability: {
      enum: ['process', 'power'],
      default: 'process',
      description:
        'process: an acknowledged entry survives a crash or kill -9 of the gateway (SQLite synchronous=NORMAL in WAL mode); ' +
        'power: it also survives power loss or an OS crash (synchronous=FULL, one fsync per append). PostgreSQL always uses synchronous_commit=on',
    },
    chainKey: {
      anyOf: [
        { type: 'string', minLength: 1, description: '32 random bytes (base64, base64url or hex), normally "${env:RAMPART_AUDIT_CHAIN_KEY}"' },
        { const: false },
      ],
      description:
        'HMAC key of the chain links, so that write access to the store is not enough to rewrite the chain. Default: derived from ' +
        'keyring.masterKey. false: plain SHA-256 links (anyone can verify; anyone with write access can also rewrite)',
    },
    required: {
      type: 'boolean',
      default: true,
      description:
        'fail closed: a route that records data access answers 503 when its audit entry cannot be made durable, and readiness reports the audit store',
    },
    authentication: {
      type: 'boolean',
      default: true,
      description:
        'record successful authentications of API requests (auth.succeeded, as authSuccess says); failures, logins, MFA and lockouts are always recorded',
    },
    authSuccess: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description:
        'how successful authentications of API requests are recorded (auth-success.ts). per-window (default): one entry per route, ' +
        'principal, credential and client address per window, with the request count and the first and last time; every-request: ' +
        'one entry per request. Failures are always recorded one by one, and data access on routes that require audit stays per request and durable',
      properties: {
        record: { enum: ['per-window', 'every-request'], default: 'per-window', description: 'per-window (default) or every-request' },
        window: { ...DURATION_SCHEMA, default: '60s', description: 'length of a window (per-window), from 1s to 1h' },
        maxKeys: {
          type: 'integer',
          minimum: 1,
          maximum: 1_000_000,
          default: 10_000,
          description: 'distinct keys one window holds at most; a new key beyond it closes the window early (bounded memory)',
        },
      },
    },
    dataAccess: {
      type: 'boolean',
      default: false,
      description: 'record data access (principal, operation, object id) on every route; a route can also ask with `audit: { dataAccess: true }`',
    },
    categories: {
      type: 'array',
      uniqueItems: true,
      items: { enum: AUDIT_CATEGORIES },
      description: 'audit categories recorded (default: all)',
    },
    maxQueue: {
      type: 'integer',
      minimum: 100,
      maximum: 1_000_000,
      default: 10_000,
      description: 'entries waiting for a slow or failing store at most; beyond it they are counted in an audit.gap entry',
    },
  },
} as const;

export const eventsConfigSchema = {
  type: 'object',
  additionalProperties: false,
  description: 'the security events store (`rampart events --since 1h --severity high`): every security event, kept for a bounded time',
  properties: {
    store: {
      type: 'string',
      minLength: 1,
      default: 'sqlite:./rampart-events.db',
      description: 'sqlite:<path> (relative to the config file) or memory: (tests)',
    },
    retention: { ...DURATION_SCHEMA, default: '90d', description: 'events older than this are deleted' },
    maxRows: { type: 'integer', minimum: 1000, maximum: 1_000_000_000, default: 10_000_000, description: 'only the newest this many events are kept' },
    sweepEvery: { ...DURATION_SCHEMA, default: '10m', description: 'how often retention runs' },
    maxQueue: {
      type: 'integer',
      minimum: 100,
      maximum: 1_000_000,
      default: 10_000,
      description: 'events waiting to be written at most; beyond it they are counted by type in one events.dropped row',
    },
  },
} as const;

/**
 * `privacy.retention`: how long each store keeps what it holds about people (GDPR art. 5(1)(e) storage limitation).
 * Purged automatically where Rampart owns the store (privacy/subject/retention.ts); `accessLogs` is what the log
 * shipper (logrotate, journald, the collector) must apply to the files pino writes, reported, not enforced.
 */
export const retentionConfigSchema = {
  type: 'object',
  additionalProperties: false,
  description: 'how long each store keeps personal data; absent: no time limit (posture reports it)',
  properties: {
    accessLogs: {
      ...DURATION_SCHEMA,
      description: 'access log files: enforced by the log shipper or logrotate (Rampart writes to stdout or a file), reported by posture and privacy report',
    },
    audit: {
      ...DURATION_SCHEMA,
      description: 'audit entries older than this are pruned with an anchor (rampart audit verify keeps working); at least 1d',
    },
    events: { ...DURATION_SCHEMA, description: 'security events older than this are deleted (the shorter of this and events.retention applies)' },
    sessions: {
      ...DURATION_SCHEMA,
      description:
        'ended sessions and expired refresh-token families are purged as they end; any session or family older than this is purged too (at least identity.refreshTokenTtl)',
    },
    deprecationUsage: {
      ...DURATION_SCHEMA,
      description: 'per-consumer usage of deprecated versions, kept in gateway memory: entries not seen for this long are forgotten',
    },
    sweepEvery: { ...DURATION_SCHEMA, default: '1h', description: 'how often the automatic purge runs' },
  },
} as const;

export const privacyConfigSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    addresses: {
      enum: ADDRESS_PRIVACY_MODES,
      default: 'hash',
      description:
        'client addresses in the audit log and events store: hash (keyed HMAC, equal addresses stay equal), truncate (IPv4 /24, IPv6 /48) or keep',
    },
    retention: retentionConfigSchema,
  },
} as const;

/** The `audit` route policy (policy.ts): what one route records. */
export const auditRoutePolicySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    dataAccess: { type: 'boolean', default: true, description: 'record data access on this route: principal, operation (method), object id' },
    objectId: {
      type: 'string',
      pattern: '^path\\.(?!(?:__proto__|constructor|prototype)$)[A-Za-z_][A-Za-z0-9_]{0,63}$',
      description: 'where the object id is, e.g. path.orderId (default: the last {param} of the route path)',
    },
    required: { type: 'boolean', description: 'fail closed (503) when the record cannot be made durable (default: audit.required)' },
  },
} as const;
