/**
 * `jwt`: verifies bearer JWT access tokens (RFC 6750, RFC 7519, RFC 9068) of one issuer with jose, following the
 * JWT best current practices (RFC 8725). Authenticate phase; the first authenticator that finds its credential
 * decides (ARCHITECTURE.md "Policies").
 *
 * Per request:
 * - No `Authorization: Bearer` token of the JWS compact shape (and none in the query) → NOT_RESPONSIBLE, so an
 *   opaque-token or API-key authenticator on the same route can try.
 * - Two Authorization headers, a header token plus `access_token` in the query, or a repeated `access_token`
 *   → 400 invalid_request (RFC 6750 §3.1). A token only in the query → 400 unless `allowQueryToken`
 *   (RFC 6750 §2.3 SHOULD NOT, RFC 9700 §4.3.2).
 * - A cached token → the cached principal, synchronously (no Promise on the hit path).
 * - Otherwise verify (async) and cache the principal. Every failure answers 401 with
 *   `WWW-Authenticate: Bearer realm="…", error="invalid_token"` and nothing more specific (no error_description):
 *   the reason goes to the log line and the security event, never to the client.
 *
 * Decisions (RFC 8725):
 * - Algorithms come from the issuer's allow-list only; `none` can never be listed; HMAC is only allowed with
 *   static secrets and never together with public keys (check()), and every key is bound to one algorithm.
 * - Tokens carrying `jku`, `x5u`, `jwk` or `x5c` are refused outright (RFC 8725 §3.10 / §2.8): those headers let
 *   the token choose its own key, and ignoring them silently would hide an attack; a legitimate issuer never needs
 *   them when the key set is configured.
 * - With a JWKS, the token must name a `kid` that is in the set (after at most one rate-bounded refetch); there is
 *   no "try every key" fallback. With static keys, a token without kid uses the one key of its algorithm.
 * - Duplicate header members (`{"alg":"ES256","alg":"none"}`) are refused (RFC 8725 §2.8, parser differentials).
 * - `crit` naming an extension Rampart does not implement is refused by jose (RFC 7515 §4.1.11).
 * - `exp` is always required; `nbf` and `iat` are checked with the clock skew (an `iat` in the future beyond the
 *   skew is refused even without maxTokenAge).
 * - Before the first successful JWKS fetch every token is refused 401 (detail "jwks unavailable"): fail closed,
 *   with the same answer a client gets for any bad token; the outage itself is in the log.
 *
 * MFA: `principalHasMfa(principal)` says whether the issuer's `mfa` config (amrContains / acrValues) is met; the
 * MFA policy reads that, and `principal.claims.acr` for RFC 9470 `acr_values`.
 */
import { jwtVerify, type JWTVerifyOptions } from 'jose';
import type { ConfigIssue, PolicyDefinition, PolicyDeps, PolicyHandlers, Principal, RequestContext, RespondWithProblem } from '../types.ts';
import { NOT_RESPONSIBLE, problem } from '../types.ts';
import { BearerConflict, chooseBearer, hasJwsShape, presentsBearer } from './bearer.ts';
import { endpointUrlProblem, type HttpExchange } from './http.ts';
import { JwksCache } from './jwks.ts';
import { decodeProtectedHeader, splitCompactJws } from './jws-header.ts';
import { StaticKeySet, importStaticKey, publicJwkProblem } from './keys.ts';
import { buildPrincipal, compileClaimsMapping, type CompiledClaimsMapping } from './principal.ts';
import { HMAC_ALGORITHMS, JWS_ALGORITHMS, jwtSchema, type JwtConfig } from './schema.ts';
import { TokenCache } from './token-cache.ts';

export { jwtSchema, type JwtConfig } from './schema.ts';
export { principalHasMfa, meetsMfa } from './principal.ts';
export { JwksCache } from './jwks.ts';
export { TokenCache } from './token-cache.ts';

/** Header parameters that let a token pick its own key (RFC 7515 §4.1.2–4.1.6); a token carrying one is refused. */
const KEY_SELECTING_HEADERS = ['jku', 'jwk', 'x5u', 'x5c'] as const;
const MAX_KID_LENGTH = 256;
const ASYMMETRIC_ALGORITHMS: ReadonlySet<string> = new Set(JWS_ALGORITHMS.filter((alg) => !HMAC_ALGORITHMS.has(alg)));
/** RFC 7518 §3.2: an HMAC key at least as long as the hash output. */
const HMAC_MIN_SECRET_BYTES: Readonly<Record<string, number>> = { HS256: 32, HS384: 48, HS512: 64 };

export interface Rejection {
  readonly reason: string;
  /** 'medium' for attack-shaped tokens (alg none, key-selecting headers, duplicate members), 'low' otherwise. */
  readonly severity: 'low' | 'medium';
  /** The key set could not be fetched (logged; the client still gets invalid_token). */
  readonly unavailable?: boolean;
}

function reject(reason: string, severity: 'low' | 'medium' = 'low'): Rejection {
  return { reason, severity };
}

/** Test hooks: clock and HTTP exchange for the JWKS fetch. */
export interface JwtRuntimeOptions {
  /** Clock in epoch milliseconds. */
  readonly now?: () => number;
  readonly exchange?: HttpExchange;
}

/**
 * Verification of one issuer's tokens, shared by every route that accepts the issuer (one key set, one cache).
 */
export class JwtVerifier {
  readonly cache: TokenCache<Principal>;
  readonly ready: Promise<void>;
  readonly #config: JwtConfig;
  readonly #jwks: JwksCache | undefined;
  #staticKeys: StaticKeySet | undefined;
  readonly #allowed: ReadonlySet<string>;
  readonly #mapping: CompiledClaimsMapping;
  readonly #verifyOptions: JWTVerifyOptions;
  readonly #inFlight = new Map<string, Promise<Principal | Rejection>>();

  constructor(config: JwtConfig, jwks: JwksCache | undefined) {
    this.#config = config;
    this.#jwks = jwks;
    this.#allowed = new Set(config.algorithms);
    this.#mapping = compileClaimsMapping(config);
    this.cache = new TokenCache<Principal>(config.cache.maxEntries, config.cache.maxBytes);
    this.#verifyOptions = {
      issuer: config.issuer,
      audience: [...config.audiences],
      algorithms: [...config.algorithms],
      clockTolerance: config.clockSkew,
      requiredClaims: [...new Set(['exp', ...config.requiredClaims])],
      ...(config.maxTokenAge > 0 ? { maxTokenAge: config.maxTokenAge } : {}),
      ...(config.requireTyp !== undefined ? { typ: config.requireTyp } : {}),
    };
    this.ready = config.keys
      ? Promise.all(config.keys.map(importStaticKey)).then((keys) => {
          this.#staticKeys = new StaticKeySet(keys);
        })
      : Promise.resolve();
  }

  /** The cached principal for `token`, synchronously; undefined on a miss. */
  cached(token: string, now: number): Principal | undefined {
    const entry = this.cache.get(token, now);
    if (entry === undefined) return undefined;
    // A key removed from the JWKS revokes the tokens it signed, cached or not.
    if (this.#jwks !== undefined && !this.#jwks.has(entry.tag!, now)) {
      this.cache.delete(token);
      return undefined;
    }
    return entry.value;
  }

  /** Verifies a token that is not cached; concurrent requests with one token share one verification. */
  verify(token: string, now: number): Promise<Principal | Rejection> {
    let pending = this.#inFlight.get(token);
    if (pending === undefined) {
      pending = this.#verify(token, now).finally(() => this.#inFlight.delete(token));
      this.#inFlight.set(token, pending);
    }
    return pending;
  }

  async #verify(token: string, now: number): Promise<Principal | Rejection> {
    const parts = splitCompactJws(token);
    if (typeof parts === 'string') return reject(parts);
    const header = decodeProtectedHeader(parts[0]);
    if (typeof header === 'string') return reject(header, header.includes('twice') || header.includes('deep') ? 'medium' : 'low');

    const alg = header.alg;
    if (typeof alg !== 'string') return reject('header has no alg');
    if (alg.toLowerCase() === 'none') return reject(`alg "${alg.slice(0, 16)}" refused (RFC 8725 §3.1)`, 'medium');
    if (!this.#allowed.has(alg)) {
      return reject(`alg "${alg.slice(0, 16)}" is not allowed for this issuer`, HMAC_ALGORITHMS.has(alg) ? 'medium' : 'low');
    }
    for (const name of KEY_SELECTING_HEADERS) {
      if (Object.hasOwn(header, name)) return reject(`header parameter "${name}" refused: the token may not choose its key`, 'medium');
    }
    const kid = header.kid;
    if (kid !== undefined && (typeof kid !== 'string' || kid === '' || kid.length > MAX_KID_LENGTH)) return reject('kid is not a short string');

    let key: CryptoKey | string;
    if (this.#jwks !== undefined) {
      if (kid === undefined) return reject('token has no kid (required with a JWKS)');
      key = this.#jwks.get(kid, alg, now) ?? (await this.#jwks.resolve(kid, alg));
    } else {
      key = this.#staticKeys!.find(kid, alg);
    }
    if (typeof key === 'string') return key === 'jwks unavailable' ? { reason: key, severity: 'low', unavailable: true } : reject(key);

    let claims: Record<string, unknown>;
    try {
      const result = await jwtVerify(token, key, { ...this.#verifyOptions, currentDate: new Date(now) });
      claims = result.payload as Record<string, unknown>;
    } catch (error) {
      const { code, message } = error as { code?: string; message?: string };
      return reject(`${code ?? 'ERR_JWT_INVALID'}: ${message ?? 'verification failed'}`);
    }
    const nowSeconds = Math.floor(now / 1000);
    const skew = this.#config.clockSkew;
    if (typeof claims.iat === 'number' && claims.iat > nowSeconds + skew) return reject('"iat" is in the future');

    const principal = buildPrincipal(claims, 'jwt', this.#mapping);
    if (typeof principal === 'string') return reject(principal);

    // Cached until the earliest of: exp (never past it), the cache's maximum TTL, the end of the maximum token age.
    let expiresAt = Math.min((claims.exp as number) * 1000, now + this.#config.cache.maxTtl * 1000);
    if (this.#config.maxTokenAge > 0) expiresAt = Math.min(expiresAt, ((claims.iat as number) + this.#config.maxTokenAge + skew) * 1000);
    // The principal is built from the token's claims, so its size is bounded by the token's own length.
    if (expiresAt > now) this.cache.set(token, principal, expiresAt, kid, 2 * token.length);
    return principal;
  }

  close(): void {
    this.cache.clear();
  }
}

/** Builds the handlers; `options` lets tests inject a clock and the JWKS exchange. */
export async function createJwtHandlers(config: JwtConfig, deps: PolicyDeps, options: JwtRuntimeOptions = {}): Promise<PolicyHandlers> {
  const now = options.now ?? Date.now;
  const { events, shared } = deps;
  const jwksUrl = config.jwksUrl;
  const jwks =
    jwksUrl === undefined
      ? undefined
      : shared.get(
          `jwks:${jwksUrl}`,
          () =>
            new JwksCache({
              url: jwksUrl,
              // Imported for every asymmetric algorithm, so issuers sharing one JWKS URL share one cache; each
              // issuer's own allow-list is enforced per token.
              algorithms: ASYMMETRIC_ALGORITHMS,
              ...config.jwks,
              logger: deps.logger.child({ policy: 'jwt', issuer: config.name }),
              now,
              exchange: options.exchange,
            }),
        );
  const verifier = shared.get(`jwt:${JSON.stringify(config)}`, () => new JwtVerifier(config, jwks));
  await verifier.ready;

  const { maxTokenBytes, allowQueryToken, realm, name: issuer } = config;
  const invalidToken = Object.freeze({ 'www-authenticate': `Bearer realm="${realm}", error="invalid_token"` });
  const invalidRequest = Object.freeze({ 'www-authenticate': 'Bearer error="invalid_request"' });

  function refuse(ctx: RequestContext, rejection: Rejection): RespondWithProblem {
    events.emit({
      type: 'credential.rejected',
      severity: rejection.severity,
      requestId: ctx.requestId,
      routeId: ctx.routeId,
      clientAddress: ctx.clientAddress,
      details: { method: 'jwt', issuer, reason: rejection.reason },
    });
    return problem('RAMPART_ERR_INVALID_CREDENTIAL', `jwt (${issuer}): ${rejection.reason}`, invalidToken);
  }

  function badRequest(ctx: RequestContext, reason: string): RespondWithProblem {
    events.emit({
      type: 'credential.conflict',
      severity: 'low',
      requestId: ctx.requestId,
      routeId: ctx.routeId,
      clientAddress: ctx.clientAddress,
      details: { method: 'jwt', issuer, reason },
    });
    // RFC 6750 §3.1 invalid_request is a 400; the catalogue's 400 for credential misuse is CREDENTIAL_CONFLICT.
    return problem('RAMPART_ERR_CREDENTIAL_CONFLICT', `jwt (${issuer}): ${reason}`, invalidRequest);
  }

  function settle(ctx: RequestContext, result: Principal | Rejection): RespondWithProblem | undefined {
    if ('reason' in result) return refuse(ctx, result);
    ctx.principal = result;
    return undefined;
  }

  return {
    challenge: `Bearer realm="${realm}"`,

    // Bearer tokens, wherever sent (RFC 6750): the Authorization header or, when allowed, the query.
    credentialSource: 'authorization',
    hasCredential(ctx: RequestContext): boolean {
      return presentsBearer(ctx.req, ctx.query, hasJwsShape);
    },

    onRequest(ctx: RequestContext) {
      const token = chooseBearer(ctx.req, ctx.query, hasJwsShape, allowQueryToken);
      if (token === undefined) return NOT_RESPONSIBLE;
      if (token instanceof BearerConflict) return badRequest(ctx, token.reason);
      const at = now();
      // Only verified JWTs are in the cache, so a hit needs no shape check (it would cost more than the lookup).
      const principal = verifier.cached(token, at);
      if (principal !== undefined) {
        ctx.principal = principal;
        return undefined;
      }
      if (!hasJwsShape(token)) return NOT_RESPONSIBLE;
      if (token.length > maxTokenBytes) return refuse(ctx, reject(`token longer than ${maxTokenBytes} bytes`));
      if (token === '') return refuse(ctx, reject('empty bearer token'));
      return verifier.verify(token, at).then((result) => settle(ctx, result));
    },
  };
}

function check(config: JwtConfig, path: string): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const algorithms = config.algorithms ?? [];
  const hmac = algorithms.filter((alg) => HMAC_ALGORITHMS.has(alg));
  const asymmetric = algorithms.filter((alg) => !HMAC_ALGORITHMS.has(alg));
  algorithms.forEach((alg, index) => {
    if (String(alg).toLowerCase() === 'none') issues.push({ path: `${path}.algorithms[${index}]`, message: '"none" is never accepted (RFC 8725 §3.1)' });
  });
  if ((config.jwksUrl === undefined) === (config.keys === undefined)) {
    issues.push({ path, message: 'needs exactly one of jwksUrl and keys' });
  }
  if (config.jwksUrl !== undefined) {
    const problemText = endpointUrlProblem(config.jwksUrl);
    if (problemText !== undefined) issues.push({ path: `${path}.jwksUrl`, message: problemText });
    if (hmac.length > 0) {
      issues.push({
        path: `${path}.algorithms`,
        message: `${hmac.join(', ')} with a JWKS: never an HMAC algorithm with a public key (RFC 8725 §2.1, algorithm confusion)`,
      });
    }
    const { minRefreshInterval, defaultMaxAge, maxMaxAge } = config.jwks;
    if (defaultMaxAge < minRefreshInterval || defaultMaxAge > maxMaxAge) {
      issues.push({ path: `${path}.jwks.defaultMaxAge`, severity: 'warning', message: `is outside [minRefreshInterval, maxMaxAge] and will be bounded to it` });
    }
  }
  const withoutKid = new Map<string, number>();
  (config.keys ?? []).forEach((key, index) => {
    const at = `${path}.keys[${index}]`;
    const materials = [key.pem, key.jwk, key.secret].filter((m) => m !== undefined).length;
    if (materials !== 1) issues.push({ path: at, message: 'needs exactly one of pem, jwk and secret' });
    if (!algorithms.includes(key.alg)) issues.push({ path: `${at}.alg`, message: `${key.alg} is not in ${path}.algorithms` });
    if (HMAC_ALGORITHMS.has(key.alg)) {
      if (key.secret === undefined) issues.push({ path: at, message: `${key.alg} is an HMAC algorithm: it needs a secret, never a public key` });
      else if (Buffer.byteLength(key.secret, 'utf8') < HMAC_MIN_SECRET_BYTES[key.alg]!) {
        issues.push({ path: `${at}.secret`, message: `must be at least ${HMAC_MIN_SECRET_BYTES[key.alg]} bytes for ${key.alg} (RFC 7518 §3.2)` });
      }
    } else {
      if (key.secret !== undefined) issues.push({ path: `${at}.secret`, message: `${key.alg} is not an HMAC algorithm; use pem or jwk` });
      if (key.pem !== undefined && /PRIVATE KEY-----/.test(key.pem)) issues.push({ path: `${at}.pem`, message: 'is a private key; configure the public key' });
      if (key.pem !== undefined && !/-----BEGIN (PUBLIC KEY|CERTIFICATE)-----/.test(key.pem)) {
        issues.push({ path: `${at}.pem`, message: 'must be an SPKI public key ("-----BEGIN PUBLIC KEY-----") or a certificate' });
      }
      if (key.jwk !== undefined) {
        const jwkProblem = publicJwkProblem(key.jwk);
        if (jwkProblem !== undefined) issues.push({ path: `${at}.jwk`, message: `the JWK ${jwkProblem}` });
      }
    }
    if (key.kid === undefined && key.jwk?.kid === undefined) withoutKid.set(key.alg, (withoutKid.get(key.alg) ?? 0) + 1);
  });
  if (hmac.length > 0 && asymmetric.length > 0 && config.keys !== undefined) {
    issues.push({
      path: `${path}.algorithms`,
      message: `mixes HMAC (${hmac.join(', ')}) with public-key algorithms: never an HMAC algorithm with a public key (RFC 8725 §2.1)`,
    });
  }
  for (const [alg, count] of withoutKid) {
    if (count > 1) {
      issues.push({ path: `${path}.keys`, severity: 'warning', message: `${count} keys for ${alg} have no kid: tokens without a kid will be refused; give each key a kid` });
    }
  }
  return issues;
}

export const jwtPolicy: PolicyDefinition<JwtConfig> = {
  name: 'jwt',
  phase: 'authenticate',
  order: 10,
  schema: jwtSchema,
  authenticates: true,
  check,
  create: (config, deps) => createJwtHandlers(config, deps),
};
