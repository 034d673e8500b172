/**
 * What counts as "authenticated with more than one factor" in a principal, shared by the `mfa` policy and the
 * identity provider's own MFA endpoints.
 */
import { principalHasMfa } from '../jwt/principal.ts';
import type { Principal } from '../types.ts';

/**
 * RFC 8176 §2 `amr` values that name a second factor: `otp` (one-time password, RFC 6238/4226), `hwk` and `swk`
 * (proof of possession of a hardware / software key, e.g. WebAuthn), `sms`, and `mfa` itself. `pwd`, `pin`, `kba`
 * and friends are single knowledge factors and never count.
 */
export const SECOND_FACTOR_AMR: ReadonlySet<string> = new Set(['otp', 'hwk', 'swk', 'sms', 'mfa']);

export function amrHasSecondFactor(amr: readonly string[] | undefined): boolean {
  if (amr === undefined) return false;
  for (const value of amr) if (SECOND_FACTOR_AMR.has(value)) return true;
  return false;
}

/** The principal's `acr` claim when it is a string. */
export function principalAcr(principal: Principal): string | undefined {
  const acr = principal.claims?.acr;
  return typeof acr === 'string' ? acr : undefined;
}

/**
 * True when the principal shows MFA: its issuer's own `mfa` mapping says so (jwt / introspection policies decide
 * that once per token, `principalHasMfa`), or its `amr` names a second factor, or its `acr` is one of `acrValues`.
 */
export function hasMfa(principal: Principal, acrValues: ReadonlySet<string>): boolean {
  if (principalHasMfa(principal) || amrHasSecondFactor(principal.amr)) return true;
  const acr = principalAcr(principal);
  return acr !== undefined && acrValues.has(acr);
}

/** OIDC `auth_time` (seconds) of the principal, or undefined when absent or not a number. */
export function principalAuthTime(principal: Principal): number | undefined {
  const value = principal.claims?.auth_time;
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}
