/**
 * `identity:` — the built-in identity provider (issue 3, point 5) for APIs without one of their own: users with
 * passwords and MFA, OAuth clients, short-lived JWT access tokens signed by rotating gateway keys, refresh tokens
 * with rotation and reuse detection. Its endpoints are served by the `identity` gateway service: route
 * `basePath/**` (and `/.well-known/jwks.json`) to `upstream: rampart:identity`.
 */
import { DURATION_SCHEMA } from '../config/units.ts';
import { sessionSchema } from '../policies/session/schema.ts';

export const IDENTITY_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['issuer'],
  properties: {
    issuer: { type: 'string', minLength: 1, description: 'the `iss` of issued tokens (an https URL in production)' },
    audience: { type: 'string', minLength: 1, default: 'rampart', description: 'the `aud` of issued access tokens' },
    basePath: { type: 'string', pattern: '^/[A-Za-z0-9/_-]*[A-Za-z0-9_-]$', default: '/auth', description: 'where the endpoints live' },
    accessTokenTtl: { ...DURATION_SCHEMA, default: '10m', description: 'access-token lifetime (RFC 9700: short)' },
    refreshTokenTtl: { ...DURATION_SCHEMA, default: '14d', description: 'absolute lifetime of a refresh-token family' },
    signing: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        alg: { enum: ['ES256', 'EdDSA', 'RS256'], default: 'ES256' },
        rotateEvery: { ...DURATION_SCHEMA, default: '30d', description: 'a new signing key is made this often' },
        overlap: { ...DURATION_SCHEMA, default: '1d', description: 'a new key is published this long before it signs' },
      },
    },
    mfa: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        totpIssuer: { type: 'string', minLength: 1, maxLength: 64, default: 'Rampart', description: 'the issuer label in authenticator apps' },
        requireFor: { type: 'array', items: { type: 'string' }, default: [], description: 'roles whose users must enrol and use MFA' },
        stepUpTtl: { ...DURATION_SCHEMA, default: '5m', description: 'how long a step-up (fresh MFA) counts for' },
      },
    },
    bruteForce: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        window: { ...DURATION_SCHEMA, default: '15m' },
        maxFailuresPerAccount: { type: 'integer', minimum: 1, maximum: 1000, default: 5 },
        maxFailuresPerAddress: { type: 'integer', minimum: 1, maximum: 100000, default: 50 },
        lockFor: { ...DURATION_SCHEMA, default: '15m' },
      },
    },
    maxBodySize: { type: 'integer', minimum: 256, maximum: 65536, default: 8192 },
    webauthn: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'passkeys as a second factor: the relying party (default: the issuer host and origin)',
      properties: {
        rpId: { type: 'string', minLength: 1, maxLength: 253, description: 'the registrable domain passkeys are bound to' },
        rpName: { type: 'string', minLength: 1, maxLength: 64, default: 'Rampart' },
        origins: { type: 'array', items: { type: 'string', minLength: 1 }, maxItems: 16, description: 'origins of the pages that call WebAuthn' },
      },
    },
    sessions: {
      ...sessionSchema,
      default: {},
      description: 'browser sessions issued at {basePath}/session: cookie name, idle and absolute lifetimes, SameSite, CSRF (every `session` route inherits them)',
    },
  },
} as const;
