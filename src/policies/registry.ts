/**
 * Every policy Rampart knows, by name. A policy is added here and nowhere else: the config loader validates
 * its settings against its schema, the pipeline runs it in its phase, posture reads its name.
 */
import type { PolicyDefinition } from './types.ts';
import { corsPolicy } from './cors/index.ts';
import { securityHeadersPolicy } from './security-headers/index.ts';
import { ipRestrictionPolicy } from './ip-restriction/index.ts';
import { jwtPolicy } from './jwt/index.ts';
import { oauth2IntrospectionPolicy } from './oauth2-introspection/index.ts';
import { identityTokenPolicy } from './identity-token/index.ts';
import { mfaPolicy } from './mfa/index.ts';
import { apiKeyPolicy } from './api-key/index.ts';
import { authorizePolicy } from './authorize/index.ts';
import { sessionPolicy } from './session/index.ts';
import { mtlsPolicy } from './mtls/index.ts';
import { auditPolicy } from '../audit/policy.ts';
import { addressLimitPolicy, rateLimitPolicy } from './rate-limit/index.ts';
import { screenPolicy } from './screen/index.ts';
import { piiPolicy } from './pii/index.ts';
import { contractPolicy } from './contract/index.ts';

// Definitions are generic in their config type; the registry holds them type-erased.
type AnyPolicy = PolicyDefinition<never>;

export const POLICIES: ReadonlyMap<string, PolicyDefinition<unknown>> = new Map(
  ([securityHeadersPolicy, corsPolicy, ipRestrictionPolicy, identityTokenPolicy, mtlsPolicy, jwtPolicy, oauth2IntrospectionPolicy, apiKeyPolicy, sessionPolicy, mfaPolicy, authorizePolicy, addressLimitPolicy, rateLimitPolicy, auditPolicy, screenPolicy, piiPolicy, contractPolicy] as AnyPolicy[]).map((p) => [p.name, p as PolicyDefinition<unknown>]),
);

export function policyNames(): string[] {
  return [...POLICIES.keys()];
}
