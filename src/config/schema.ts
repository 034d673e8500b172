/**
 * The JSON Schema of the gateway configuration file (the declarative source of truth; ARCHITECTURE.md
 * "Configuration"). Every object is closed (`additionalProperties: false`) so a typo is an error, not a silently
 * ignored setting; defaults are filled in by ajv (`useDefaults`). Policy settings on routes and in `defaults` are
 * validated separately against each policy's own schema (see load.ts), so each policy owns its schema.
 *
 * `rampart config schema` prints the published form, with every policy schema merged in.
 */
import { DURATION_SCHEMA, SIZE_SCHEMA } from './units.ts';
import { IDENTITY_SCHEMA } from '../identity/schema.ts';
import { ROLES_SCHEMA } from '../authz/roles.ts';
import { APIS_SCHEMA } from './apis.ts';
import { detectorsConfigSchema } from '../detect/schema.ts';
import { alertsConfigSchema } from '../alerts/schema.ts';
import { auditConfigSchema, eventsConfigSchema, privacyConfigSchema } from '../audit/schema.ts';
import { COUNTERS_SCHEMA } from '../storage/counters-config.ts';
import { OBSERVABILITY_SCHEMA } from '../observe/config.ts';

const upstreamTarget = {
  anyOf: [
    { type: 'string', description: 'http(s) URL of the target' },
    {
      type: 'object',
      additionalProperties: false,
      required: ['url'],
      properties: {
        url: { type: 'string' },
        weight: { type: 'integer', minimum: 1, maximum: 1000, default: 1 },
      },
    },
  ],
};

const upstreamObject = {
  type: 'object',
  additionalProperties: false,
  required: ['targets'],
  properties: {
    targets: { type: 'array', minItems: 1, maxItems: 256, items: upstreamTarget },
    balance: { enum: ['round-robin', 'least-requests'], default: 'round-robin' },
    tls: {
      type: 'object',
      additionalProperties: false,
      description:
        'TLS to https:// targets: certificates are always verified (against ca when given, else the system roots); ' +
        'cert and key present a client certificate (mutual TLS to the upstream)',
      properties: {
        ca: { type: 'string', minLength: 1, description: 'PEM file of the CA(s) that sign the upstream certificates' },
        cert: { type: 'string', minLength: 1, description: 'PEM client certificate (chain) file' },
        key: { type: 'string', minLength: 1, description: 'PEM private key file of cert' },
        servername: { type: 'string', minLength: 1, maxLength: 253, description: 'SNI and the name verified, when not the target host' },
      },
    },
    connectionsPerTarget: { type: 'integer', minimum: 1, maximum: 10_000, default: 128 },
    timeouts: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        connect: { ...DURATION_SCHEMA, default: '5s' },
        response: { ...DURATION_SCHEMA, default: '30s', description: 'time to the upstream response headers (504 after)' },
        bodyIdle: { ...DURATION_SCHEMA, default: '30s', description: 'idle time between upstream body chunks' },
      },
    },
    passiveHealth: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        enabled: { type: 'boolean', default: true },
        consecutiveFailures: { type: 'integer', minimum: 1, maximum: 1000, default: 5 },
        ejectFor: { ...DURATION_SCHEMA, default: '30s' },
        maxEjectedPercent: { type: 'integer', minimum: 0, maximum: 100, default: 50 },
      },
    },
    activeHealth: {
      type: 'object',
      additionalProperties: false,
      required: ['path'],
      properties: {
        path: { type: 'string', pattern: '^/' },
        interval: { ...DURATION_SCHEMA, default: '10s' },
        timeout: { ...DURATION_SCHEMA, default: '2s' },
        healthyThreshold: { type: 'integer', minimum: 1, maximum: 100, default: 2 },
        unhealthyThreshold: { type: 'integer', minimum: 1, maximum: 100, default: 3 },
        expectStatus: {
          type: 'array',
          items: { type: 'integer', minimum: 100, maximum: 599 },
          minItems: 2,
          maxItems: 2,
          default: [200, 399],
        },
      },
    },
    retries: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        attempts: { type: 'integer', minimum: 0, maximum: 5, default: 1 },
        budgetRatio: { type: 'number', minimum: 0, maximum: 1, default: 0.2 },
        minPerSecond: { type: 'integer', minimum: 0, maximum: 10_000, default: 10 },
      },
    },
    circuitBreaker: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        enabled: { type: 'boolean', default: true },
        failureRateThreshold: { type: 'number', exclusiveMinimum: 0, maximum: 1, default: 0.5 },
        minimumRequests: { type: 'integer', minimum: 1, maximum: 1_000_000, default: 20 },
        window: { ...DURATION_SCHEMA, default: '10s' },
        openFor: { ...DURATION_SCHEMA, default: '30s' },
        halfOpenRequests: { type: 'integer', minimum: 1, maximum: 100, default: 1 },
      },
    },
  },
};

export const LISTENER_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['port'],
  properties: {
    host: { type: 'string', minLength: 1, default: '0.0.0.0' },
    port: { type: 'integer', minimum: 0, maximum: 65535 },
    tls: {
      type: 'object',
      additionalProperties: false,
      required: ['cert', 'key'],
      properties: {
        cert: { type: 'string', description: 'PEM certificate chain file' },
        key: { type: 'string', description: 'PEM private key file' },
        minVersion: { enum: ['TLSv1.2', 'TLSv1.3'], default: 'TLSv1.2' },
        clientCa: {
          anyOf: [{ type: 'string', minLength: 1 }, { type: 'array', minItems: 1, maxItems: 16, items: { type: 'string', minLength: 1 } }],
          description:
            'mutual TLS: PEM file(s) of the CAs that issue client certificates. The listener asks every client for a ' +
            'certificate; routes with the mtls policy require a valid one, and map its subject or SAN to a consumer',
        },
        clientCert: {
          enum: ['request', 'require'],
          default: 'request',
          description:
            'with clientCa: request (the handshake accepts clients without a valid certificate; routes decide, 401 with the reason) ' +
            'or require (the handshake itself refuses clients without a certificate from clientCa)',
        },
      },
    },
    http: {
      enum: ['serve', 'redirect', 'refuse'],
      description:
        'plain-HTTP listeners only: serve the API, redirect to HTTPS (308) or refuse with 403. Production mode needs an acknowledgement to serve.',
    },
    redirectPort: { type: 'integer', minimum: 1, maximum: 65535, description: 'HTTPS port used in redirects' },
  },
};

export const ADMIN_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    host: { type: 'string', minLength: 1, default: '127.0.0.1' },
    port: { type: 'integer', minimum: 0, maximum: 65535, default: 9901 },
  },
} as const;

export const CONFIG_SCHEMA = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://rampart.dev/schema/config.json',
  title: 'Rampart gateway configuration',
  type: 'object',
  additionalProperties: false,
  required: ['listen', 'routes'],
  properties: {
    mode: {
      enum: ['production', 'development'],
      default: 'production',
      description: 'production refuses unsafe defaults; development relaxes some and says so in the log',
    },
    listen: { anyOf: [LISTENER_SCHEMA, { type: 'array', minItems: 1, maxItems: 16, items: LISTENER_SCHEMA }] },
    admin: { anyOf: [{ const: false }, ADMIN_SCHEMA], default: {} },
    storage: {
      type: 'string',
      default: 'sqlite:./rampart.db',
      description:
        'where users, consumers, API keys, sessions and sealed secrets live: sqlite:<path> (relative to the config file) or memory: (tests). Opened only when a feature needs it',
    },
    counters: COUNTERS_SCHEMA,
    audit: auditConfigSchema,
    events: eventsConfigSchema,
    privacy: privacyConfigSchema,
    detectors: detectorsConfigSchema,
    alerts: alertsConfigSchema,
    observability: OBSERVABILITY_SCHEMA,
    keyring: {
      type: 'object',
      additionalProperties: false,
      properties: {
        masterKey: {
          type: 'string',
          minLength: 1,
          description:
            '32 random bytes (base64, base64url or hex), normally "${env:RAMPART_MASTER_KEY}"; wraps the key ring of the SQLite store (data keys, pepper, audit chain and privacy keys). Change it with `rampart keyring rotate`',
        },
        rotateDataKeysEvery: {
          ...DURATION_SCHEMA,
          description:
            'how long a data key of the key ring seals new secrets before a new one takes over (old ones stay for reading); default 90d, from 1h to 730d; checked at start and daily',
        },
      },
    },
    trustedProxies: {
      type: 'array',
      items: { type: 'string' },
      default: [],
      description: 'CIDRs of proxies allowed to send X-Forwarded-*, Forwarded, X-Real-IP and X-Request-Id',
    },
    limits: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        maxHeaderSize: { ...SIZE_SCHEMA, default: '16kb', description: 'request line + headers (431 beyond)' },
        maxBodySize: { ...SIZE_SCHEMA, default: '1mb', description: 'request body (413 beyond)' },
        maxResponseBodySize: {
          ...SIZE_SCHEMA,
          default: '8mb',
          description:
            'largest upstream answer buffered when a response-body policy (ownership on response.body, read rules, ' +
            'response minimization, PII) must see it whole; beyond it the answer is refused with 502 (fail closed)',
        },
        maxUrlLength: { type: 'integer', minimum: 64, maximum: 65536, default: 8192 },
        headersTimeout: { ...DURATION_SCHEMA, default: '10s', description: 'client must send all headers within this' },
        requestTimeout: { ...DURATION_SCHEMA, default: '60s', description: 'client must send the whole request within this' },
        keepAliveTimeout: { ...DURATION_SCHEMA, default: '5s' },
        maxInFlight: { type: 'integer', minimum: 0, default: 0, description: 'load shedding: 503 beyond this many in-flight requests (0 = off)' },
      },
    },
    paths: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        allowSemicolons: { type: 'boolean', default: false, description: "accept ';' path parameters (matrix URIs)" },
      },
    },
    accessLog: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        enabled: { type: 'boolean', default: true },
        destination: { type: 'string', default: 'stdout', description: "'stdout' or a file path" },
        redact: {
          type: 'array',
          items: { type: 'string' },
          default: [],
          description: 'extra log fields (pino paths) to redact',
        },
      },
    },
    logLevel: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info' },
    shutdown: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: { drainTimeout: { ...DURATION_SCHEMA, default: '15s' } },
    },
    cspReport: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        path: { type: 'string', pattern: '^/', default: '/.rampart/csp-report' },
        maxBytes: { type: 'integer', minimum: 256, maximum: 1_048_576, default: 16_384 },
      },
    },
    acknowledge: {
      type: 'array',
      default: [],
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['rule', 'path', 'reason', 'expires'],
        properties: {
          rule: { type: 'string', minLength: 1 },
          path: { type: 'string', minLength: 1 },
          reason: { type: 'string', minLength: 3 },
          expires: { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}$', description: 'YYYY-MM-DD; an expired acknowledgement no longer counts' },
        },
      },
    },
    identity: IDENTITY_SCHEMA,
    roles: ROLES_SCHEMA,
    issuers: {
      type: 'object',
      default: {},
      description:
        'external token issuers, by name: a JWT issuer (issuer, audiences, algorithms, jwksUrl or keys, ...) or ' +
        '`{ introspection: {...} }` for opaque tokens checked at an RFC 7662 endpoint',
      additionalProperties: { type: 'object' },
    },
    defaults: {
      type: 'object',
      default: {},
      description: 'policy settings applied to every route unless the route sets its own (keyed by policy name)',
    },
    apis: APIS_SCHEMA,
    routes: {
      type: 'array',
      maxItems: 10_000,
      items: {
        type: 'object',
        required: ['id', 'match', 'upstream'],
        properties: {
          id: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' },
          match: {
            type: 'object',
            additionalProperties: false,
            required: ['path'],
            properties: {
              path: { type: 'string', minLength: 1, maxLength: 2048 },
              methods: {
                type: 'array',
                minItems: 1,
                items: { type: 'string', pattern: '^[A-Z][A-Z-]{0,19}$' },
                uniqueItems: true,
                description: 'methods this route answers (GET implies HEAD); omitted: every method but TRACE, which only a route that lists it answers',
              },
              host: { type: 'string', minLength: 1, maxLength: 253 },
            },
          },
          upstream: {
            anyOf: [
              { type: 'string' },
              { type: 'array', minItems: 1, maxItems: 256, items: upstreamTarget },
              upstreamObject,
            ],
          },
          public: { type: 'boolean', default: false, description: 'deny by default: a route without authentication must say public: true' },
          authenticate: {
            type: 'array',
            minItems: 1,
            maxItems: 8,
            description:
              'authentication methods this route accepts, in order; the first that finds its credential decides. ' +
              'Entries: a policy name (`api-key`, `session`) or `{ jwt: ISSUER }` / `{ oauth2-introspection: ISSUER }` naming an entry of `issuers`',
            items: {
              anyOf: [
                { type: 'string', minLength: 1 },
                { type: 'object', minProperties: 1, maxProperties: 1, additionalProperties: { type: 'string', minLength: 1 } },
              ],
            },
          },
          websocket: { type: 'boolean', default: false, description: 'allow WebSocket upgrades (every policy applies to the handshake)' },
          forwardIdentity: {
            type: 'object',
            additionalProperties: false,
            default: {},
            description: 'how the authenticated principal reaches the upstream: x-rampart-* headers, or a JWT signed by the gateway',
            properties: {
              as: { enum: ['headers', 'jwt'], default: 'headers' },
              header: { type: 'string', pattern: '^[a-z0-9-]{1,64}$', default: 'x-rampart-identity', description: 'header carrying the JWT' },
              audience: { type: 'string', minLength: 1, maxLength: 256, description: 'the JWT audience (default: the route id)' },
            },
          },
          sensitivity: {
            enum: ['normal', 'sensitive', 'admin'],
            default: 'normal',
            description: 'sensitive and admin routes are held to more (MFA, admin permissions); posture reports what they lack',
          },
          preserveHost: { type: 'boolean', default: false, description: "send the client's Host upstream instead of the target's" },
          exposeDocs: {
            type: 'boolean',
            default: false,
            description:
              "let the upstream's own documentation paths (/swagger.json, /openapi.json, /v3/api-docs, /swagger-ui/, /api-docs, /redoc) " +
              'through this route; refused by default (checklist item 14), and posture reports every route that says true',
          },
          maxBodySize: SIZE_SCHEMA,
          docs: {
            type: 'object',
            additionalProperties: false,
            anyOf: [{ required: ['openapi'] }, { required: ['merge'] }],
            description:
              'with upstream: rampart:docs and a /** path: the gateway serves an OpenAPI document (x-internal parts removed) ' +
              'and a rendered reference page under the route, to whoever the route authenticates and authorizes (e.g. docs:read): ' +
              'the document named by openapi, or with merge the merged document of the contracts the gateway enforces',
            properties: {
              openapi: {
                type: 'string',
                minLength: 1,
                description: 'the OpenAPI document (2.0, 3.0 or 3.1; YAML or JSON); with merge, only its info heads the merged document',
              },
              merge: {
                description:
                  "gateway: every route's contract (every API and version) under the paths the gateway exposes; { api: ID }: one API's versions",
                oneOf: [
                  { const: 'gateway' },
                  { type: 'object', additionalProperties: false, required: ['api'], properties: { api: { type: 'string', minLength: 1 } } },
                ],
              },
              title: { type: 'string', minLength: 1, maxLength: 200, description: 'page title (default: info.title)' },
            },
          },
          errors: {
            type: 'object',
            additionalProperties: false,
            default: {},
            properties: {
              replaceUpstream5xx: { type: 'boolean', default: true, description: 'replace upstream 5xx bodies with a generic problem' },
            },
          },
        },
        // Policy settings sit beside these keys (`cors: {...}`); load.ts checks them against each policy schema.
        additionalProperties: true,
      },
    },
  },
} as const;

export const ROUTE_CORE_KEYS = new Set(['id', 'match', 'upstream', 'public', 'authenticate', 'forwardIdentity', 'sensitivity', 'websocket', 'preserveHost', 'exposeDocs', 'maxBodySize', 'docs', 'errors']);
