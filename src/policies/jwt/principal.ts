/**
 * From verified claims (a JWT payload, or an RFC 7662 introspection answer) to a `Principal`, shared by the `jwt`
 * and `oauth2-introspection` policies. Runs once per token (the result is cached), so it may allocate.
 *
 * Every value the gateway may copy into an upstream request header (subject, roles, tenant, amr) must be safe
 * there: no control characters (CR/LF would split headers: CWE-113), at most 256 characters each, at most 64
 * roles, and no comma in a role or amr value (the gateway joins lists with commas, so a role "customer,admin"
 * would read as two roles upstream). A token whose values fail this is refused, not trimmed.
 */
import type { Principal } from '../types.ts';
import type { ClaimsMapping, MfaConfig } from './schema.ts';

export const MAX_HEADER_VALUE_LENGTH = 256;
export const MAX_LIST_ENTRIES = 64;

/** C0 and C1 controls, DEL, and the Unicode line and paragraph separators. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNSAFE_CHARACTERS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

export interface CompiledClaimPath {
  readonly path: string;
  readonly segments: readonly string[];
}

export function compileClaimPath(path: string): CompiledClaimPath {
  return { path, segments: path.split('.') };
}

/**
 * The value at a claim path: the claim named by the whole path when there is one (namespaced claims such as
 * `https://example.com/roles` contain dots), else the dotted walk. Own properties only, so `__proto__` or
 * `constructor` in a path never reaches Object.prototype.
 */
export function readClaim(claims: Readonly<Record<string, unknown>>, path: CompiledClaimPath): unknown {
  if (Object.hasOwn(claims, path.path)) return claims[path.path];
  if (path.segments.length === 1) return undefined;
  let value: unknown = claims;
  for (const segment of path.segments) {
    if (value === null || typeof value !== 'object' || Array.isArray(value) || !Object.hasOwn(value, segment)) return undefined;
    value = (value as Record<string, unknown>)[segment];
  }
  return value;
}

/** Why a string may not go into a header, or undefined. */
function unsafeValue(value: string, allowComma: boolean): string | undefined {
  if (value.length > MAX_HEADER_VALUE_LENGTH) return `longer than ${MAX_HEADER_VALUE_LENGTH} characters`;
  if (UNSAFE_CHARACTERS.test(value)) return 'contains control characters';
  if (!allowComma && value.includes(',')) return 'contains a comma';
  return undefined;
}

/** A string or an array of strings as a list (other values in an array are ignored), or a reason to refuse. */
function stringList(value: unknown, label: string): readonly string[] | string {
  if (value === undefined || value === null) return EMPTY;
  const items = typeof value === 'string' ? [value] : Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : undefined;
  if (items === undefined) return EMPTY;
  const list = items.filter((item) => item !== '');
  if (list.length > MAX_LIST_ENTRIES) return `${label}: more than ${MAX_LIST_ENTRIES} entries`;
  for (const item of list) {
    const problem = unsafeValue(item, false);
    if (problem !== undefined) return `${label}: an entry ${problem}`;
  }
  return Object.freeze(list);
}

const EMPTY: readonly string[] = Object.freeze([]);

/** Permissions from `scope` (RFC 8693 §4.2, RFC 9068 §2.2.3: space-separated) or `scp` (string or array). */
function permissionsOf(claims: Readonly<Record<string, unknown>>): ReadonlySet<string> {
  const scope = claims.scope ?? claims.scp;
  const names = typeof scope === 'string' ? scope.split(' ') : Array.isArray(scope) ? scope.filter((s): s is string => typeof s === 'string') : [];
  return new SealedSet(names.filter((name) => name !== ''));
}

/**
 * A Set that refuses changes once built: a principal is cached and shared by every request carrying the same
 * token, so no policy may add a permission to it.
 */
export class SealedSet<T> extends Set<T> {
  #sealed = false;
  constructor(items: Iterable<T>) {
    super();
    for (const item of items) super.add(item);
    this.#sealed = true;
  }
  override add(value: T): this {
    if (this.#sealed) throw new TypeError('a principal\'s permissions are read-only');
    return super.add(value);
  }
  override delete(_value: T): boolean {
    throw new TypeError('a principal\'s permissions are read-only');
  }
  override clear(): void {
    throw new TypeError('a principal\'s permissions are read-only');
  }
}

/** Whether amr/acr say "more than one factor" under an issuer's MFA config. */
export function meetsMfa(amr: readonly string[], acr: unknown, config: MfaConfig): boolean {
  if (config.amrContains.some((value) => amr.includes(value))) return true;
  return typeof acr === 'string' && config.acrValues.includes(acr);
}

/** Principals whose issuer's MFA config says they authenticated with more than one factor. */
const withMfa = new WeakSet<Principal>();

/**
 * Whether the principal authenticated with more than one factor, as its issuer expresses it (`mfa.amrContains`,
 * `mfa.acrValues` of the issuer config, decided when the token was verified). The MFA policy reads this; the
 * `acr` value itself is in `principal.claims.acr` for RFC 9470 `acr_values` checks.
 */
export function principalHasMfa(principal: Principal): boolean {
  return withMfa.has(principal);
}

function deepFreeze<T>(value: T, depth = 0): T {
  if (value !== null && typeof value === 'object' && depth < 64) {
    for (const child of Object.values(value)) deepFreeze(child, depth + 1);
    Object.freeze(value);
  }
  return value;
}

export interface CompiledClaimsMapping {
  readonly roles: CompiledClaimPath;
  readonly tenant: CompiledClaimPath | undefined;
  readonly mfa: MfaConfig;
}

export function compileClaimsMapping(mapping: ClaimsMapping): CompiledClaimsMapping {
  return {
    roles: compileClaimPath(mapping.roles.claim),
    tenant: mapping.tenant ? compileClaimPath(mapping.tenant.claim) : undefined,
    mfa: mapping.mfa,
  };
}

/**
 * The frozen principal for verified claims, or the reason the claims cannot make one. Subject: `sub`; without it
 * (client-credentials tokens), `username` when `useUsername` (RFC 7662 §2.2), then `client_id` (RFC 9068 §2.2,
 * RFC 7662), then `azp`, as kind 'client'. A `sub` equal to `client_id` is a client too (RFC 9068 §2.2).
 */
export function buildPrincipal(
  claims: Record<string, unknown>,
  method: string,
  mapping: CompiledClaimsMapping,
  useUsername = false,
): Principal | string {
  let subject: unknown;
  let kind: Principal['kind'];
  if (claims.sub !== undefined) {
    subject = claims.sub;
    kind = claims.sub === claims.client_id ? 'client' : 'user';
  } else if (useUsername && claims.username !== undefined) {
    subject = claims.username;
    kind = 'user';
  } else {
    subject = claims.client_id ?? claims.azp;
    kind = 'client';
  }
  if (typeof subject !== 'string' || subject === '') return 'no subject (sub, client_id) or not a string';
  const subjectProblem = unsafeValue(subject, true);
  if (subjectProblem !== undefined) return `subject ${subjectProblem}`;

  const roles = stringList(readClaim(claims, mapping.roles), 'roles');
  if (typeof roles === 'string') return roles;
  const amr = stringList(claims.amr, 'amr');
  if (typeof amr === 'string') return amr;

  let tenant: string | undefined;
  if (mapping.tenant !== undefined) {
    const value = readClaim(claims, mapping.tenant);
    if (typeof value === 'number' && Number.isSafeInteger(value)) tenant = String(value);
    else if (typeof value === 'string' && value !== '') tenant = value;
    else if (value !== undefined) return 'tenant claim is not a string';
    if (tenant !== undefined) {
      const problem = unsafeValue(tenant, true);
      if (problem !== undefined) return `tenant ${problem}`;
    }
  }

  const principal: Principal = Object.freeze({
    subject,
    kind,
    method,
    roles,
    permissions: permissionsOf(claims),
    claims: deepFreeze(claims),
    tenant,
    amr,
    // Names the token (not secret): its jti, or issuer-subject-issued-at when it has none (token sharing detection).
    credentialId: typeof claims.jti === 'string' && claims.jti.length <= 128 ? claims.jti : `${String(claims.iss)}|${subject}|${String(claims.iat)}`,
  });
  if (meetsMfa(amr, claims.acr, mapping.mfa)) withMfa.add(principal);
  return principal;
}
