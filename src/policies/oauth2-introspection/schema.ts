/**
 * Config schema of the `oauth2-introspection` policy: opaque access tokens checked at an RFC 7662 endpoint
 * (`issuers.NAME: { introspection: {...} }` in the config; the loader flattens it and sets `name`).
 * Meaning (https endpoint, secrets) is checked by `check()` in index.ts.
 */
import { MFA_SCHEMA, REALM_SCHEMA, ROLES_SCHEMA, TENANT_SCHEMA, TOKEN_CACHE_BOUNDS, type ClaimsMapping } from '../jwt/schema.ts';

export const oauth2IntrospectionSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'url', 'clientId', 'clientSecret'],
  description:
    'Checks opaque bearer tokens at an OAuth 2.0 token introspection endpoint (RFC 7662), with client ' +
    'authentication; answers are cached per token, never past the token\'s exp.',
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 128, description: 'The issuer config name (set by the loader).' },
    url: {
      type: 'string',
      minLength: 1,
      maxLength: 2048,
      pattern: '^[Hh][Tt][Tt][Pp][Ss]?://',
      description: 'The introspection endpoint. https, or http only for a loopback host.',
    },
    clientId: { type: 'string', minLength: 1, maxLength: 512, description: 'Rampart\'s client id at the endpoint.' },
    clientSecret: { type: 'string', minLength: 1, maxLength: 4096, description: 'Rampart\'s client secret; use ${env:...}.' },
    authMethod: {
      type: 'string',
      enum: ['client_secret_basic', 'client_secret_post'],
      default: 'client_secret_basic',
      description: 'Client authentication (RFC 6749 §2.3.1): HTTP Basic (default) or form parameters.',
    },
    timeout: { type: 'integer', minimum: 100, maximum: 30_000, default: 3000, description: 'Milliseconds before the endpoint counts as unavailable (503).' },
    maxBytes: { type: 'integer', minimum: 1024, maximum: 1_048_576, default: 65_536, description: 'Largest introspection answer accepted, in bytes.' },
    issuer: { type: 'string', minLength: 1, maxLength: 2048, description: 'When set, an answer\'s `iss` must equal it.' },
    audiences: {
      type: 'array',
      minItems: 1,
      description: 'When set, an answer\'s `aud` (string or array) must contain one of these.',
      items: { type: 'string', minLength: 1, maxLength: 2048 },
    },
    cache: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'Answers for active tokens are cached per token until the earliest of exp and maxTtl.',
      properties: {
        ...TOKEN_CACHE_BOUNDS,
        maxTtl: {
          type: 'integer',
          minimum: 1,
          maximum: 3600,
          default: 60,
          description: 'Seconds an answer is kept at most: a token revoked at the issuer keeps working up to this long.',
        },
      },
    },
    roles: ROLES_SCHEMA,
    tenant: TENANT_SCHEMA,
    mfa: MFA_SCHEMA,
    opaqueOnly: {
      type: 'boolean',
      default: true,
      description:
        'Only take tokens that are not shaped like a JWT (header.payload.signature), so this policy and `jwt` can ' +
        'share a route. When false, every bearer token is introspected; then do not list `jwt` on the same route.',
    },
    allowQueryToken: {
      type: 'boolean',
      default: false,
      description: 'Accept a token in the `access_token` query parameter (RFC 6750 §2.3 says SHOULD NOT; RFC 9700 §4.3.2).',
    },
    maxTokenBytes: { type: 'integer', minimum: 16, maximum: 65_536, default: 8192, description: 'Longer tokens are refused without a call.' },
    realm: REALM_SCHEMA,
  },
} as const;

export interface OAuth2IntrospectionConfig extends ClaimsMapping {
  readonly name: string;
  readonly url: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly authMethod: 'client_secret_basic' | 'client_secret_post';
  readonly timeout: number;
  readonly maxBytes: number;
  readonly issuer?: string;
  readonly audiences?: readonly string[];
  readonly cache: { readonly maxEntries: number; readonly maxBytes: number; readonly maxTtl: number };
  readonly opaqueOnly: boolean;
  readonly allowQueryToken: boolean;
  readonly maxTokenBytes: number;
  readonly realm: string;
}
