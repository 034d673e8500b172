/**
 * `identity-token`: authenticates bearer access tokens issued by THIS gateway (the built-in identity provider,
 * src/identity/tokens/). Authenticate phase, order 5 (before `jwt`, order 10, so our own tokens never reach an
 * external issuer's verifier).
 *
 * Verification is in process, against the signing keys in the store (src/identity/tokens/verifier.ts, built from
 * the jwt policy's header reader, key import and principal builder); no HTTP call to our own JWKS.
 *
 * Responsibility (the first authenticator that finds its credential decides):
 * - no bearer token, or one that is not JWS-shaped → NOT_RESPONSIBLE;
 * - a well-formed JWT whose `kid` is not ours and whose `iss` is another issuer → NOT_RESPONSIBLE, so the route's
 *   `jwt` policy for that issuer can take it;
 * - anything else (our issuer or kid, or malformed) is ours: verified, or refused 401 with
 *   `WWW-Authenticate: Bearer realm="…", error="invalid_token"` and nothing more specific.
 *
 * Beyond the signature and claims, every token is checked against state that changes after issuing:
 * - the revocation list: its `jti` (RFC 7009 access-token revocation) and the refresh family it descends from
 *   (`sid`: revoking a refresh token or detecting its reuse ends the access tokens of the family too);
 * - its subject: the user exists, is not disabled, and the token was not issued before the user's
 *   `sessionsValidAfter` (password change, logout everywhere); a client token's client exists and is enabled.
 *
 * Revocation latency: these answers are reused for at most RECHECK_MS (5 s) per token, subject and family, so any
 * revocation, password change or disabling takes effect within 5 seconds on every node, at a cost of at most one
 * store round trip per token (and per subject) every 5 seconds. A signing key deleted from the store stops
 * verifying within the key refresh interval (30 s) plus those 5 s. A refusal for a token whose signature was valid
 * (revoked, issued before a password change) is remembered until the token expires.
 *
 * Hot path: a known token whose checks are fresh is answered synchronously from the verified-token cache (one Map
 * lookup, no allocation).
 *
 * Comparing `iat` (whole seconds) with sessionsValidAfter (ms; the store: tokens issued AT or before it are invalid):
 * a token is refused when it may have been issued at or before the revocation, i.e. when `iat * 1000 <=
 * sessionsValidAfter` (the same rule as the MFA endpoints). A token issued within the same second after a password
 * change is therefore refused too; the client authenticates again a second later.
 */
import type { Logger } from 'pino';
import { StoreTokenVerifier, isRejection, type Rejection, type VerifiedAccessToken } from '../../identity/tokens/verifier.ts';
import type { Stores } from '../../storage/ports.ts';
import { BearerConflict, QueryBearer, hasJwsShape, readBearer } from '../jwt/bearer.ts';
import { TokenCache } from '../jwt/token-cache.ts';
import type { PolicyDefinition, PolicyDeps, PolicyHandlers, Principal, RequestContext, RespondWithProblem } from '../types.ts';
import { NOT_RESPONSIBLE, problem } from '../types.ts';
import { identityTokenSchema, type IdentityTokenConfig } from './schema.ts';

export { identityTokenSchema, type IdentityTokenConfig } from './schema.ts';

/** How long a "not revoked / subject still valid" answer is reused (the documented revocation latency). */
export const RECHECK_MS = 5_000;
/** A verified token is kept this long at most (and never past its exp). */
const MAX_CACHE_TTL_MS = 300_000;
const MAX_CACHE_ENTRIES = 10_000;
const MAX_STATUS_ENTRIES = 10_000;

interface CachedToken {
  readonly principal: Principal;
  readonly jti: string;
  readonly kid: string;
  readonly subject: string;
  readonly clientId: string;
  readonly kind: Principal['kind'];
  readonly iatMs: number;
  readonly sessionId: string | undefined;
  /** The revocation and subject checks are fresh until then. */
  checkedUntil: number;
  /** Set once the token is refused for good (revoked, issued before a password change): refused until it expires. */
  refused: string | undefined;
}

interface SubjectStatus {
  readonly until: number;
  /** Why every token of the subject is refused, or undefined. */
  readonly refusal: string | undefined;
  readonly sessionsValidAfter: number;
}

interface FamilyStatus {
  readonly until: number;
  readonly revoked: boolean;
}

/** A small map with a bound: the oldest insertion goes first (same policy as the token cache). */
function remember<V>(map: Map<string, V>, key: string, value: V): void {
  map.delete(key);
  if (map.size >= MAX_STATUS_ENTRIES) {
    const oldest = map.keys().next();
    if (!oldest.done) map.delete(oldest.value);
  }
  map.set(key, value);
}

export interface IdentityTokenGuardOptions {
  readonly stores: Stores;
  readonly issuer: string;
  readonly audience: string;
  readonly clockSkew: number;
  readonly revocationCheck: boolean;
  readonly now: () => number;
  readonly logger?: Logger;
}

/**
 * Verifier plus caches for one (issuer, audience), shared by every route that accepts identity tokens
 * (`deps.shared` key `identity:verifier:…`).
 */
export class IdentityTokenGuard {
  readonly verifier: StoreTokenVerifier;
  readonly cache = new TokenCache<CachedToken>(MAX_CACHE_ENTRIES);
  readonly #options: IdentityTokenGuardOptions;
  readonly #subjects = new Map<string, SubjectStatus>();
  readonly #families = new Map<string, FamilyStatus>();
  readonly #inFlight = new Map<string, Promise<CachedToken | Rejection>>();

  constructor(options: IdentityTokenGuardOptions) {
    this.#options = options;
    this.verifier = new StoreTokenVerifier({
      identities: options.stores.identities,
      issuer: options.issuer,
      audience: options.audience,
      clockSkewSeconds: options.clockSkew,
      now: options.now,
      logger: options.logger,
    });
  }

  /** Verifies a token that is not cached and runs the state checks; concurrent requests share one run. */
  verify(token: string, now: number): Promise<CachedToken | Rejection> {
    let pending = this.#inFlight.get(token);
    if (pending === undefined) {
      pending = this.#verify(token, now).finally(() => this.#inFlight.delete(token));
      this.#inFlight.set(token, pending);
    }
    return pending;
  }

  async #verify(token: string, now: number): Promise<CachedToken | Rejection> {
    const verified = await this.verifier.verify(token, now);
    if (isRejection(verified)) return verified;
    const entry = this.#entryFor(verified);
    const refusal = await this.#check(entry, now);
    const expiresAt = Math.min(verified.exp * 1000, now + MAX_CACHE_TTL_MS);
    if (expiresAt > now) this.cache.set(token, entry, expiresAt, entry.kid);
    return refusal === undefined ? entry : { reason: refusal, severity: 'low' };
  }

  #entryFor(verified: VerifiedAccessToken): CachedToken {
    return {
      principal: verified.principal,
      jti: verified.jti,
      kid: verified.kid,
      subject: verified.subject,
      clientId: verified.clientId,
      kind: verified.principal.kind,
      iatMs: verified.iat * 1000,
      sessionId: verified.sessionId,
      checkedUntil: 0,
      refused: undefined,
    };
  }

  /** Re-runs the state checks of a cached token whose answers are older than RECHECK_MS. */
  async recheck(token: string, entry: CachedToken, now: number): Promise<CachedToken | Rejection> {
    await this.verifier.ensureFresh(now);
    if (!this.verifier.hasKid(entry.kid, now)) {
      this.cache.delete(token);
      return { reason: 'signing key deleted', severity: 'low' };
    }
    const refusal = await this.#check(entry, now);
    return refusal === undefined ? entry : { reason: refusal, severity: 'low' };
  }

  /** Revocation list, family and subject; sets checkedUntil or refused. */
  async #check(entry: CachedToken, now: number): Promise<string | undefined> {
    const { stores, revocationCheck } = this.#options;
    let freshUntil = now + RECHECK_MS;
    if (revocationCheck) {
      if (await stores.sessions.isAccessTokenRevoked(entry.jti)) return (entry.refused = 'access token revoked');
      if (entry.sessionId !== undefined) {
        const family = await this.#family(entry.sessionId, now);
        if (family.revoked) return (entry.refused = 'refresh family revoked');
        freshUntil = Math.min(freshUntil, family.until);
      }
    }
    const subject = await this.#subject(entry, now);
    if (subject.refusal !== undefined) return (entry.refused = subject.refusal);
    if (entry.kind !== 'client' && entry.iatMs <= subject.sessionsValidAfter) {
      return (entry.refused = 'issued before the user\'s credentials were revoked');
    }
    entry.checkedUntil = Math.min(freshUntil, subject.until);
    return undefined;
  }

  async #family(id: string, now: number): Promise<FamilyStatus> {
    const known = this.#families.get(id);
    if (known !== undefined && now < known.until) return known;
    const family = await this.#options.stores.sessions.getRefreshFamily(id);
    // A family purged after its expiry was not revoked: its access tokens simply run out.
    const status = { until: now + RECHECK_MS, revoked: family !== undefined && family.revokedAt !== null };
    remember(this.#families, id, status);
    return status;
  }

  async #subject(entry: CachedToken, now: number): Promise<SubjectStatus> {
    const key = entry.kind === 'client' ? `c:${entry.clientId}` : `u:${entry.subject}`;
    const known = this.#subjects.get(key);
    if (known !== undefined && now < known.until) return known;
    const { identities } = this.#options.stores;
    let status: SubjectStatus;
    if (entry.kind === 'client') {
      const client = await identities.getOAuthClient(entry.clientId);
      const refusal = client === undefined ? 'client deleted' : client.disabled ? 'client disabled' : undefined;
      status = { until: now + RECHECK_MS, refusal, sessionsValidAfter: 0 };
    } else {
      const user = await identities.getUser(entry.subject);
      const refusal = user === undefined ? 'user deleted' : user.disabled ? 'user disabled' : undefined;
      status = { until: now + RECHECK_MS, refusal, sessionsValidAfter: user?.sessionsValidAfter ?? 0 };
    }
    remember(this.#subjects, key, status);
    return status;
  }

  close(): void {
    this.cache.clear();
    this.#subjects.clear();
    this.#families.clear();
  }
}

export interface IdentityTokenRuntimeOptions {
  /** Clock in epoch ms (tests). */
  readonly now?: () => number;
}

export async function createIdentityTokenHandlers(
  config: IdentityTokenConfig,
  deps: PolicyDeps,
  options: IdentityTokenRuntimeOptions = {},
): Promise<PolicyHandlers> {
  const stores = deps.stores;
  if (stores === undefined) throw new Error('identity-token needs the stores (identity: must be configured)');
  const now = options.now ?? Date.now;
  const { events, shared } = deps;
  const { issuer, audience, realm, maxTokenBytes } = config;
  const guard = shared.get(
    `identity:verifier:${JSON.stringify([issuer, audience, config.clockSkew, config.allowRevokedCheck])}`,
    () =>
      new IdentityTokenGuard({
        stores,
        issuer,
        audience,
        clockSkew: config.clockSkew,
        revocationCheck: config.allowRevokedCheck,
        now,
        logger: deps.logger.child({ policy: 'identity-token' }),
      }),
  );
  await guard.verifier.load();
  const { verifier, cache } = guard;

  const invalidToken = Object.freeze({ 'www-authenticate': `Bearer realm="${realm}", error="invalid_token"` });
  const invalidRequest = Object.freeze({ 'www-authenticate': 'Bearer error="invalid_request"' });

  function refuse(ctx: RequestContext, rejection: Rejection): RespondWithProblem {
    events.emit({
      type: 'credential.rejected',
      severity: rejection.severity,
      requestId: ctx.requestId,
      routeId: ctx.routeId,
      clientAddress: ctx.clientAddress,
      details: { method: 'identity-token', reason: rejection.reason },
    });
    return problem('RAMPART_ERR_INVALID_CREDENTIAL', `identity-token: ${rejection.reason}`, invalidToken);
  }

  function badRequest(ctx: RequestContext, reason: string): RespondWithProblem {
    events.emit({
      type: 'credential.conflict',
      severity: 'low',
      requestId: ctx.requestId,
      routeId: ctx.routeId,
      clientAddress: ctx.clientAddress,
      details: { method: 'identity-token', reason },
    });
    return problem('RAMPART_ERR_CREDENTIAL_CONFLICT', `identity-token: ${reason}`, invalidRequest);
  }

  function settle(ctx: RequestContext, result: CachedToken | Rejection): RespondWithProblem | undefined {
    if (isRejection(result)) return refuse(ctx, result);
    ctx.principal = result.principal;
    return undefined;
  }

  function unavailable(ctx: RequestContext, error: unknown): RespondWithProblem {
    // Fail closed: without the store the revocation state is unknown.
    deps.logger.error({ err: { message: (error as Error).message }, requestId: ctx.requestId }, 'identity-token: store unavailable');
    return problem('RAMPART_ERR_AUTH_UNAVAILABLE', 'identity-token: store unavailable');
  }

  return {
    challenge: `Bearer realm="${realm}"`,

    // Bearer tokens, wherever sent (RFC 6750): the Authorization header or, when allowed, the query.
    credentialSource: 'authorization',
    hasCredential(ctx: RequestContext): boolean {
      const found = readBearer(ctx.req, ctx.query);
      if (found === undefined) return false;
      if (found instanceof BearerConflict) return true;
      const token = typeof found === 'string' ? found : found.token;
      if (!hasJwsShape(token)) return false;
      return cache.get(token, now()) !== undefined || !verifier.isForeign(token);
    },

    onRequest(ctx: RequestContext) {
      const found = readBearer(ctx.req, ctx.query);
      if (found === undefined) return NOT_RESPONSIBLE;
      if (found instanceof BearerConflict) return badRequest(ctx, found.reason);
      if (found instanceof QueryBearer) {
        if (!hasJwsShape(found.token) || verifier.isForeign(found.token)) return NOT_RESPONSIBLE;
        // RFC 6750 §2.3 SHOULD NOT, RFC 9700 §4.3.2: the gateway's own tokens are accepted in the header only.
        return badRequest(ctx, 'token in the query string');
      }
      const token = found;
      if (!hasJwsShape(token)) return NOT_RESPONSIBLE;
      if (token.length > maxTokenBytes) return refuse(ctx, { reason: `token longer than ${maxTokenBytes} bytes`, severity: 'low' });
      const at = now();
      const cached = cache.get(token, at);
      if (cached !== undefined) {
        const entry = cached.value;
        if (entry.refused !== undefined) return refuse(ctx, { reason: entry.refused, severity: 'low' });
        if (at < entry.checkedUntil && verifier.hasKid(entry.kid, at)) {
          ctx.principal = entry.principal;
          return undefined;
        }
        return guard.recheck(token, entry, at).then(
          (result) => settle(ctx, result),
          (error: unknown) => unavailable(ctx, error),
        );
      }
      if (verifier.isForeign(token)) return NOT_RESPONSIBLE;
      return guard.verify(token, at).then(
        (result) => settle(ctx, result),
        (error: unknown) => unavailable(ctx, error),
      );
    },
  };
}

export const identityTokenPolicy: PolicyDefinition<IdentityTokenConfig> = {
  name: 'identity-token',
  phase: 'authenticate',
  order: 5,
  schema: identityTokenSchema,
  authenticates: true,
  requiresStores: true,
  // The issuer and audience of the gateway's own tokens come from `identity:` (the loader refuses the route
  // when that section is missing: the schema requires both).
  inheritConfig(document) {
    const identity = document.identity as { issuer?: string; audience?: string } | undefined;
    return identity ? { issuer: identity.issuer, audience: identity.audience ?? 'rampart' } : {};
  },
  check(config, path) {
    return config.allowRevokedCheck === false
      ? [{ path: `${path}.allowRevokedCheck`, rule: 'identity-token-no-revocation-check', message: 'revoked access tokens stay valid until they expire' }]
      : [];
  },
  create: (config, deps) => createIdentityTokenHandlers(config, deps),
};
