/**
 * `mfa`: requires that the authenticated principal used more than one factor, and, for chosen methods, that it
 * did so recently (step-up). Phase `mfa`, after every authenticator and before authorization.
 *
 * MFA evidence (evidence.ts): the issuer's own mapping as decided by the jwt / introspection policy
 * (`principalHasMfa`), an RFC 8176 `amr` naming a second factor (otp, hwk, swk, sms, mfa), or an `acr` among
 * `acrValues`. Freshness: OIDC `auth_time` (seconds) no older than `maxAge`.
 *
 * Refusals are 401 RAMPART_ERR_INSUFFICIENT_AUTHENTICATION with the RFC 9470 §3 challenge, so a client knows to
 * send the user back to authenticate with MFA (acr_values) or again (max_age):
 *
 *   WWW-Authenticate: Bearer error="insufficient_user_authentication",
 *     error_description="A different authentication level is required", acr_values="urn:rampart:acr:mfa"
 *
 * and for a step-up method whose authentication is too old:
 *
 *   WWW-Authenticate: Bearer error="insufficient_user_authentication",
 *     error_description="More recent authentication is required", acr_values="…", max_age="300"
 *
 * (`max_age` is also added to the first form when MFA is missing and the authentication is stale as well.)
 * Every challenge is built once at create time; the request path only picks one.
 */
import { parseDuration } from '../../config/units.ts';
import type { ConfigIssue, Outcome, PolicyDefinition, PolicyDeps, PolicyHandlers, RequestContext, RouteInfo } from '../types.ts';
import { CONTINUE, problem } from '../types.ts';
import { hasMfa, principalAuthTime } from './evidence.ts';
import { mfaSchema, type MfaPolicyConfig } from './schema.ts';

export { mfaSchema, type MfaPolicyConfig } from './schema.ts';
export { SECOND_FACTOR_AMR, amrHasSecondFactor, hasMfa, principalAuthTime } from './evidence.ts';

export interface MfaRuntimeOptions {
  /** Clock in epoch milliseconds. */
  readonly now?: () => number;
}

const LEVEL = 'A different authentication level is required';
const RECENT = 'More recent authentication is required';

/** The RFC 9470 §3 challenges for a config (exported for tests and posture). */
export function mfaChallenges(acrValues: readonly string[], maxAgeSeconds: number): { missing: string; missingAndStale: string; stale: string } {
  const base = 'Bearer error="insufficient_user_authentication"';
  const acr = `acr_values="${acrValues.join(' ')}"`;
  const age = `max_age="${maxAgeSeconds}"`;
  return {
    missing: `${base}, error_description="${LEVEL}", ${acr}`,
    missingAndStale: `${base}, error_description="${LEVEL}", ${acr}, ${age}`,
    stale: `${base}, error_description="${RECENT}", ${acr}, ${age}`,
  };
}

export function createMfaHandlers(config: MfaPolicyConfig, deps: PolicyDeps, options: MfaRuntimeOptions = {}): PolicyHandlers {
  const now = options.now ?? Date.now;
  const requireAlways = config.require;
  const stepUpMethods: ReadonlySet<string> = new Set(config.stepUpFor);
  const acrValues: ReadonlySet<string> = new Set(config.acrValues);
  const maxAgeSeconds = Math.floor(parseDuration(config.maxAge) / 1000);
  const challenges = mfaChallenges(config.acrValues, maxAgeSeconds);
  const missing = Object.freeze({ 'www-authenticate': challenges.missing });
  const missingAndStale = Object.freeze({ 'www-authenticate': challenges.missingAndStale });
  const stale = Object.freeze({ 'www-authenticate': challenges.stale });
  const unauthenticated = Object.freeze({ 'www-authenticate': 'Bearer' });
  const { events } = deps;

  function refuse(ctx: RequestContext, reason: 'no-mfa' | 'stale' | 'no-mfa-and-stale', headers: Readonly<Record<string, string>>): Outcome {
    events.emit({
      type: 'auth.insufficient-authentication',
      severity: 'low',
      requestId: ctx.requestId,
      routeId: ctx.routeId,
      clientAddress: ctx.clientAddress,
      details: { reason, subject: ctx.principal?.subject, method: ctx.method },
    });
    return problem('RAMPART_ERR_INSUFFICIENT_AUTHENTICATION', `mfa: ${reason}`, headers);
  }

  return {
    onRequest(ctx: RequestContext): Outcome {
      const principal = ctx.principal;
      // check() refuses this policy on public routes; reaching here without a principal means no authenticator
      // ran, and failing closed is the only safe answer.
      if (principal === undefined) return problem('RAMPART_ERR_UNAUTHENTICATED', 'mfa: no authenticated principal', unauthenticated);
      const stepUp = stepUpMethods.has(ctx.method);
      if (!requireAlways && !stepUp) return CONTINUE;
      const mfa = hasMfa(principal, acrValues);
      if (!stepUp) return mfa ? CONTINUE : refuse(ctx, 'no-mfa', missing);
      const authTime = principalAuthTime(principal);
      const fresh = authTime !== undefined && now() / 1000 - authTime <= maxAgeSeconds;
      if (mfa && fresh) return CONTINUE;
      if (mfa) return refuse(ctx, 'stale', stale);
      return fresh ? refuse(ctx, 'no-mfa', missing) : refuse(ctx, 'no-mfa-and-stale', missingAndStale);
    },
  };
}

function check(config: MfaPolicyConfig, path: string, route: RouteInfo): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  if (route.public) {
    issues.push({ path, message: 'the mfa policy needs an authenticated route: remove public: true and list authenticate methods' });
  }
  const stepUpFor = config.stepUpFor ?? [];
  if (stepUpFor.length > 0 && parseDuration(config.maxAge ?? '5m') < 1000) {
    issues.push({ path: `${path}.maxAge`, message: 'must be at least 1s when stepUpFor is set (0 would refuse every request)' });
  }
  if (config.require === false && stepUpFor.length === 0) {
    issues.push({ path, severity: 'warning', message: 'require is false and stepUpFor is empty: the policy requires nothing' });
  }
  if (route.methods !== undefined && stepUpFor.length > 0 && !stepUpFor.some((m) => route.methods!.includes(m))) {
    issues.push({ path: `${path}.stepUpFor`, severity: 'warning', message: `none of ${stepUpFor.join(', ')} is a method of this route` });
  }
  return issues;
}

export const mfaPolicy: PolicyDefinition<MfaPolicyConfig> = {
  name: 'mfa',
  phase: 'mfa',
  order: 10,
  schema: mfaSchema,
  check,
  create: (config, deps) => createMfaHandlers(config, deps),
};
