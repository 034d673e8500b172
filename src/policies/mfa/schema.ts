/**
 * Config of the `mfa` policy (route key `mfa:`).
 */
import { DURATION_SCHEMA } from '../../config/units.ts';

export const DEFAULT_ACR_VALUES: readonly string[] = Object.freeze(['urn:rampart:acr:mfa']);
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

export const mfaSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  description:
    'Requires multi-factor authentication (amr with a second factor, or an acr from acrValues), and optionally a ' +
    'recent one (step-up, RFC 9470) for chosen methods. Runs after authentication; the route must not be public.',
  properties: {
    require: {
      type: 'boolean',
      default: true,
      description: 'Every request needs MFA. When false, only the stepUpFor methods do.',
    },
    stepUpFor: {
      type: 'array',
      uniqueItems: true,
      default: [],
      description: 'HTTP methods that need a recent MFA: auth_time no older than maxAge (e.g. ["DELETE"]).',
      items: { enum: METHODS },
    },
    maxAge: {
      ...DURATION_SCHEMA,
      default: '5m',
      description: 'How recent the authentication must be for stepUpFor methods (sent as RFC 9470 max_age).',
    },
    acrValues: {
      type: 'array',
      minItems: 1,
      maxItems: 16,
      uniqueItems: true,
      default: [...DEFAULT_ACR_VALUES],
      description: 'acr values that mean MFA, in order of preference; sent as RFC 9470 acr_values when MFA is missing.',
      // They go space-separated into a quoted-string (RFC 9110 §5.6.4): no space, quote, backslash or controls.
      items: { type: 'string', minLength: 1, maxLength: 256, pattern: '^[\\x21\\x23-\\x5b\\x5d-\\x7e]+$' },
    },
  },
} as const;

export interface MfaPolicyConfig {
  readonly require: boolean;
  readonly stepUpFor: readonly string[];
  readonly maxAge: string | number;
  readonly acrValues: readonly string[];
}
