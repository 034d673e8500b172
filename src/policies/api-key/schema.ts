/**
 * Config schema of the `api-key` policy (a route's `api-key: {...}` or `defaults: { api-key: {...} }`). Syntax
 * here; meaning (query keys are a weakened default, reserved header names) in `check()` of index.ts.
 */

export interface ApiKeyConfig {
  /** Lower-case name of the request header carrying the key. */
  readonly header: string;
  /** Accept the key in the query string too (weakened default: rule `api-key-in-query`). */
  readonly allowQuery: boolean;
  readonly queryParam: string;
  /** The key prefix this route accepts (`rk` → keys `rk_<publicId>_<secret>`). */
  readonly prefix: string;
  /**
   * Seconds a verified key is trusted from memory without a store read. A revoked, expired-by-edit or disabled
   * key keeps working for at most this long on a gateway that verified it recently. 0 = read the store every time.
   */
  readonly cacheTtl: number;
  readonly realm: string;
}

/** Caps how stale a cached verification may be: revocation must take effect within minutes, not hours. */
export const MAX_CACHE_TTL_SECONDS = 300;

export const apiKeySchema = {
  type: 'object',
  additionalProperties: false,
  description:
    'Authenticates machine clients (consumers) with API keys `<prefix>_<publicId>_<secret>` created by ' +
    '`rampart api-keys create`; only a hash of each key is stored.',
  properties: {
    header: {
      type: 'string',
      default: 'x-api-key',
      minLength: 1,
      maxLength: 64,
      pattern: '^[a-z0-9][a-z0-9-]*$',
      description: 'Lower-case name of the request header that carries the key (default x-api-key).',
    },
    allowQuery: {
      type: 'boolean',
      default: false,
      description:
        'Also accept the key in the query string. Off by default: URLs end up in access logs, proxy logs, browser ' +
        'history and Referer headers (OWASP API2:2023); turning it on must be acknowledged (rule api-key-in-query).',
    },
    queryParam: {
      type: 'string',
      default: 'api_key',
      minLength: 1,
      maxLength: 64,
      pattern: '^[A-Za-z0-9_.-]+$',
      description: 'Query parameter name looked at (refused unless allowQuery) when the key is in the URL.',
    },
    prefix: {
      type: 'string',
      default: 'rk',
      pattern: '^[a-z]{2,8}$',
      description: 'Key prefix accepted on this route (2 to 8 lower-case letters).',
    },
    cacheTtl: {
      type: 'integer',
      default: 5,
      minimum: 0,
      maximum: MAX_CACHE_TTL_SECONDS,
      description:
        'Seconds a verified key is served from memory without reading the store. A revoked key, or a disabled ' +
        'consumer, stops working within this many seconds. 0 reads the store on every request.',
    },
    realm: {
      type: 'string',
      default: 'rampart',
      minLength: 1,
      maxLength: 128,
      // A quoted-string (RFC 9110 §5.6.4) without quotes or backslashes, so it needs no escaping in WWW-Authenticate.
      pattern: '^[\\x20-\\x21\\x23-\\x5b\\x5d-\\x7e]+$',
      description: 'The realm in the WWW-Authenticate challenge.',
    },
  },
} as const;
