/**
 * Config schema of the `jwt` policy: one external token issuer (`issuers.NAME` in the config; the loader sets
 * `name`). Syntax is checked here; meaning (HMAC never with a public key, https JWKS, secret length, exactly one of
 * `jwksUrl`/`keys`) is checked by `check()` in index.ts, which can name the exact path and the reason.
 *
 * Times are integer seconds, like the JWT NumericDate claims they bound (RFC 7519 §2).
 */

/**
 * Signature algorithms that can be allowed (RFC 7518 §3.1, RFC 8037 / RFC 9864 for EdDSA and Ed25519).
 * `none` is not in the list, so the schema refuses it in any spelling (RFC 8725 §3.1, CVE-2015-9235).
 */
export const JWS_ALGORITHMS = [
  'ES256',
  'ES384',
  'ES512',
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'EdDSA',
  'Ed25519',
  'HS256',
  'HS384',
  'HS512',
] as const;
export type JwsAlgorithm = (typeof JWS_ALGORITHMS)[number];

export const HMAC_ALGORITHMS: ReadonlySet<string> = new Set(['HS256', 'HS384', 'HS512']);

/** A dotted claim path (`realm_access.roles`); a claim whose own name has dots (`https://x.example/roles`) also works. */
const CLAIM_PATH = { type: 'string', minLength: 1, maxLength: 256 } as const;

/** How an issuer says that the user authenticated with more than one factor (RFC 8176 `amr`, OIDC `acr`). */
export const MFA_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  default: {},
  description:
    'How this issuer expresses multi-factor authentication. A principal counts as MFA-authenticated when its `amr` ' +
    'claim (RFC 8176) contains one of amrContains, or its `acr` claim is one of acrValues.',
  properties: {
    amrContains: {
      type: 'array',
      default: ['mfa'],
      description: 'amr values (RFC 8176 §2) that mean "more than one factor", e.g. ["mfa", "otp", "hwk"]. Default ["mfa"].',
      items: { type: 'string', minLength: 1, maxLength: 64 },
    },
    acrValues: {
      type: 'array',
      default: [],
      description: 'acr values that mean "more than one factor", e.g. ["urn:example:loa:mfa", "phr"].',
      items: { type: 'string', minLength: 1, maxLength: 256 },
    },
  },
} as const;

export const ROLES_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  default: { claim: 'roles' },
  description: 'Where the roles are: a claim holding a string or an array of strings (other values are ignored).',
  properties: {
    claim: { ...CLAIM_PATH, default: 'roles', description: 'Claim path, e.g. "roles" or "realm_access.roles".' },
  },
} as const;

/** The bounds of a verified-token cache (token-cache.ts), shared by every policy that keeps one. */
export const TOKEN_CACHE_BOUNDS = {
  maxEntries: { type: 'integer', minimum: 0, maximum: 1_000_000, default: 10_000, description: 'Tokens kept; 0 turns the cache off.' },
  maxBytes: {
    type: 'integer',
    minimum: 65_536,
    maximum: 1_073_741_824,
    default: 67_108_864,
    description: 'Memory the cache may hold, in bytes (estimated: tokens and what was built from them); the oldest entries go first.',
  },
} as const;

export const TENANT_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['claim'],
  description: 'Where the tenant is: a claim holding a string (or an integer).',
  properties: {
    claim: { ...CLAIM_PATH, description: 'Claim path, e.g. "org_id" or "tenant.id".' },
  },
} as const;

export const REALM_SCHEMA = {
  type: 'string',
  default: 'rampart',
  minLength: 1,
  maxLength: 128,
  // A quoted-string (RFC 9110 §5.6.4) without quotes or backslashes, so it needs no escaping in WWW-Authenticate.
  pattern: '^[\\x20-\\x21\\x23-\\x5b\\x5d-\\x7e]+$',
  description: 'The realm in the WWW-Authenticate challenge (RFC 6750 §3).',
} as const;

export const jwtSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'issuer', 'audiences'],
  description:
    'Verifies JWT access tokens (RFC 7519, RFC 9068) from one issuer, with keys from a JWKS URL or static keys, ' +
    'following the JWT best current practices of RFC 8725.',
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 128, description: 'The issuer config name (set by the loader).' },
    issuer: { type: 'string', minLength: 1, maxLength: 2048, description: 'The exact `iss` every token must carry.' },
    audiences: {
      type: 'array',
      minItems: 1,
      description: 'Accepted `aud` values: the token\'s `aud` (a string or an array) must contain at least one.',
      items: { type: 'string', minLength: 1, maxLength: 2048 },
    },
    algorithms: {
      type: 'array',
      minItems: 1,
      uniqueItems: true,
      default: ['ES256', 'RS256'],
      description:
        'Allowed `alg` values. `none` is never accepted; an HMAC algorithm (HS*) is only accepted with static ' +
        '`secret` keys, never together with public keys (RFC 8725 §2.1, §3.1).',
      items: { type: 'string', enum: JWS_ALGORITHMS },
    },
    jwksUrl: {
      type: 'string',
      minLength: 1,
      maxLength: 2048,
      pattern: '^[Hh][Tt][Tt][Pp][Ss]?://',
      description: 'JWKS endpoint (RFC 7517 §5). https, or http only for a loopback host. Exactly one of jwksUrl and keys.',
    },
    keys: {
      type: 'array',
      minItems: 1,
      maxItems: 32,
      description: 'Static verification keys. Exactly one of jwksUrl and keys.',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['alg'],
        properties: {
          kid: { type: 'string', minLength: 1, maxLength: 256, description: 'Key id; tokens naming a kid must match it.' },
          alg: { type: 'string', enum: JWS_ALGORITHMS, description: 'The one algorithm this key verifies.' },
          pem: { type: 'string', minLength: 1, description: 'A public key in SPKI PEM ("-----BEGIN PUBLIC KEY-----").' },
          jwk: { type: 'object', description: 'A public key as a JWK (RFC 7517); private members are refused.' },
          secret: { type: 'string', minLength: 1, description: 'HMAC secret, at least 32 bytes (RFC 7518 §3.2); use ${env:...}.' },
        },
      },
    },
    clockSkew: {
      type: 'integer',
      minimum: 0,
      maximum: 300,
      default: 30,
      description: 'Seconds of clock difference tolerated for exp, nbf and iat.',
    },
    maxTokenAge: {
      type: 'integer',
      minimum: 0,
      default: 0,
      description: 'When not 0: `iat` is required and a token older than this many seconds is refused.',
    },
    requireTyp: {
      type: 'string',
      minLength: 1,
      maxLength: 128,
      description: 'Required `typ` header, e.g. "at+jwt" (RFC 9068 §2.1); compared case-insensitively, "application/" optional.',
    },
    requiredClaims: {
      type: 'array',
      default: ['exp'],
      description: 'Claims that must be present. `exp` is always required, whatever this says.',
      items: { type: 'string', minLength: 1, maxLength: 256 },
    },
    roles: ROLES_SCHEMA,
    tenant: TENANT_SCHEMA,
    mfa: MFA_SCHEMA,
    cache: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'The verified-token cache: a token is verified once, then served from memory until it expires.',
      properties: {
        ...TOKEN_CACHE_BOUNDS,
        maxTtl: { type: 'integer', minimum: 1, maximum: 86_400, default: 300, description: 'Seconds a verified token is kept at most (never past its exp).' },
      },
    },
    jwks: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'How the JWKS is fetched and cached.',
      properties: {
        minRefreshInterval: {
          type: 'integer',
          minimum: 1,
          maximum: 3600,
          default: 30,
          description: 'Seconds between two fetches at least, also when tokens name an unknown kid (bounds what unknown kids can cost).',
        },
        defaultMaxAge: {
          type: 'integer',
          minimum: 1,
          maximum: 86_400,
          default: 600,
          description: 'Seconds a fetched set is fresh when the response has no Cache-Control max-age.',
        },
        maxMaxAge: {
          type: 'integer',
          minimum: 1,
          maximum: 604_800,
          default: 86_400,
          description: 'Upper bound in seconds on a Cache-Control max-age.',
        },
        timeout: { type: 'integer', minimum: 100, maximum: 60_000, default: 5000, description: 'Fetch timeout in milliseconds.' },
        maxBytes: { type: 'integer', minimum: 1024, maximum: 16_777_216, default: 1_048_576, description: 'Largest JWKS document accepted, in bytes.' },
      },
    },
    allowQueryToken: {
      type: 'boolean',
      default: false,
      description: 'Accept a token in the `access_token` query parameter (RFC 6750 §2.3 says SHOULD NOT; RFC 9700 §4.3.2).',
    },
    maxTokenBytes: {
      type: 'integer',
      minimum: 256,
      maximum: 65_536,
      default: 8192,
      description: 'Longer tokens are refused before any parsing.',
    },
    realm: REALM_SCHEMA,
  },
} as const;

export interface StaticKeyConfig {
  readonly kid?: string;
  readonly alg: JwsAlgorithm;
  readonly pem?: string;
  readonly jwk?: Record<string, unknown>;
  readonly secret?: string;
}

export interface MfaConfig {
  readonly amrContains: readonly string[];
  readonly acrValues: readonly string[];
}

export interface ClaimsMapping {
  readonly roles: { readonly claim: string };
  readonly tenant?: { readonly claim: string };
  readonly mfa: MfaConfig;
}

export interface JwtConfig extends ClaimsMapping {
  readonly name: string;
  readonly issuer: string;
  readonly audiences: readonly string[];
  readonly algorithms: readonly JwsAlgorithm[];
  readonly jwksUrl?: string;
  readonly keys?: readonly StaticKeyConfig[];
  readonly clockSkew: number;
  readonly maxTokenAge: number;
  readonly requireTyp?: string;
  readonly requiredClaims: readonly string[];
  readonly cache: { readonly maxEntries: number; readonly maxBytes: number; readonly maxTtl: number };
  readonly jwks: {
    readonly minRefreshInterval: number;
    readonly defaultMaxAge: number;
    readonly maxMaxAge: number;
    readonly timeout: number;
    readonly maxBytes: number;
  };
  readonly allowQueryToken: boolean;
  readonly maxTokenBytes: number;
  readonly realm: string;
}
