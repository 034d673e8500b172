/**
 * Config of the `identity-token` policy: access tokens issued by this gateway's built-in identity provider.
 * `issuer` and `audience` are those of `identity:`; the config loader fills them in (like `name` of a `jwt`
 * issuer), so a route only writes `authenticate: [identity-token]`.
 */
import { REALM_SCHEMA } from '../jwt/schema.ts';

export const identityTokenSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['issuer', 'audience'],
  description:
    'Authenticates bearer access tokens issued by this gateway (identity:), verified in process against the signing ' +
    'keys in the store, with per-request checks of the revocation list and of the user\'s revoked sessions.',
  properties: {
    issuer: { type: 'string', minLength: 1, maxLength: 2048, description: 'identity.issuer (set by the loader).' },
    audience: { type: 'string', minLength: 1, maxLength: 2048, description: 'identity.audience (set by the loader).' },
    realm: REALM_SCHEMA,
    allowRevokedCheck: {
      type: 'boolean',
      default: true,
      description:
        'Check every token against the revocation list (RFC 7009 revocations by jti, and revoked refresh families ' +
        'it descends from). A "not revoked" answer is reused for at most 5 seconds, so a revocation takes effect ' +
        'within 5 seconds on every node. Turning it off leaves revoked tokens valid until they expire.',
    },
    clockSkew: {
      type: 'integer',
      minimum: 0,
      maximum: 60,
      default: 5,
      description: 'Seconds of clock difference tolerated for exp, nbf and iat between gateway nodes.',
    },
    maxTokenBytes: {
      type: 'integer',
      minimum: 256,
      maximum: 65_536,
      default: 8192,
      description: 'Longer tokens are refused before any parsing.',
    },
  },
} as const;

export interface IdentityTokenConfig {
  readonly issuer: string;
  readonly audience: string;
  readonly realm: string;
  readonly allowRevokedCheck: boolean;
  readonly clockSkew: number;
  readonly maxTokenBytes: number;
}
