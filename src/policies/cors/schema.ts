/**
 * Config schema of the `cors` policy (checklist item 13, OWASP API8:2023 Security Misconfiguration).
 * Syntax is checked here; meaning (wildcards, `null`, insecure schemes, pattern scope) is checked by `check()`
 * in index.ts, because JSON Schema cannot say "`*` is only an error together with credentials".
 */

/** An HTTP method token (RFC 9110 §9.1: `method = token`), upper case by convention. */
const METHOD_PATTERN = '^[A-Z][A-Z0-9!#$%&\'*+.^_`|~-]*$';
/** A header field name token (RFC 9110 §5.1), compared case-insensitively. */
const HEADER_NAME_PATTERN = '^[A-Za-z0-9!#$%&\'*+.^_`|~-]+$';

export const corsSchema = {
  type: 'object',
  additionalProperties: false,
  description:
    'Cross-origin resource sharing (Fetch standard, CORS protocol). Only listed origins get CORS headers; ' +
    'preflights are answered by the gateway.',
  properties: {
    origins: {
      type: 'array',
      default: [],
      description:
        'Exact serialized origins allowed to read responses, e.g. "https://app.example.com" (scheme, host, ' +
        'optional non-default port; no path, no trailing slash). Compared in lower case. "*" allows every ' +
        'origin and only without credentials. "null" is never accepted.',
      items: { type: 'string', minLength: 1, maxLength: 2048 },
    },
    originPatterns: {
      type: 'array',
      default: [],
      description:
        'Origin patterns matched against the whole origin, where "*" stands for exactly one DNS label, e.g. ' +
        '"https://*.example.com" matches "https://app.example.com" but neither "https://example.com" nor ' +
        '"https://a.b.example.com". The wildcard may not cover the registrable domain.',
      items: { type: 'string', minLength: 1, maxLength: 2048 },
    },
    credentials: {
      type: 'boolean',
      default: false,
      description: 'Send Access-Control-Allow-Credentials: true, so browsers include cookies and HTTP authentication.',
    },
    methods: {
      type: 'array',
      default: ['GET', 'HEAD', 'POST'],
      description: 'Methods a preflight may ask for; sent as Access-Control-Allow-Methods.',
      items: { type: 'string', pattern: METHOD_PATTERN, maxLength: 64 },
    },
    allowHeaders: {
      type: 'array',
      default: ['content-type', 'authorization'],
      description:
        'Request headers a preflight may ask for (case-insensitive); sent as Access-Control-Allow-Headers. ' +
        'CORS-safelisted headers (accept, accept-language, content-language) need no listing.',
      items: { type: 'string', pattern: HEADER_NAME_PATTERN, maxLength: 256 },
    },
    exposeHeaders: {
      type: 'array',
      default: [],
      description: 'Response headers scripts may read beyond the safelisted ones; sent as Access-Control-Expose-Headers.',
      items: { type: 'string', pattern: HEADER_NAME_PATTERN, maxLength: 256 },
    },
    maxAge: {
      type: 'integer',
      default: 600,
      minimum: 0,
      maximum: 86400,
      description: 'Seconds a browser may cache a preflight answer (Access-Control-Max-Age).',
    },
    allowPrivateNetwork: {
      type: 'boolean',
      default: false,
      description:
        'Grant Private Network Access preflights (Access-Control-Request-Private-Network) from allowed origins, ' +
        'letting public web pages reach this gateway on a private network.',
    },
  },
} as const;

export interface CorsConfig {
  readonly origins: readonly string[];
  readonly originPatterns: readonly string[];
  readonly credentials: boolean;
  readonly methods: readonly string[];
  readonly allowHeaders: readonly string[];
  readonly exposeHeaders: readonly string[];
  readonly maxAge: number;
  readonly allowPrivateNetwork: boolean;
}
