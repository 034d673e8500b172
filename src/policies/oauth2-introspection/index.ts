/**
 * `oauth2-introspection`: opaque bearer tokens checked at an OAuth 2.0 token introspection endpoint (RFC 7662).
 *
 * - The request is `POST token=…&token_type_hint=access_token` (RFC 7662 §2.1), authenticated as a client with
 *   HTTP Basic over the form-urlencoded id and secret (RFC 6749 §2.3.1) or with form parameters.
 * - The answer must be 200 JSON with a boolean `active` (RFC 7662 §2.2). `active: false`, an `exp` in the past,
 *   an `nbf` in the future, or (when configured) a wrong `iss`/`aud` → 401 invalid_token, nothing more specific.
 * - Endpoint errors, timeouts, non-200 answers, non-JSON or answers without a boolean `active` → 503
 *   RAMPART_ERR_AUTH_UNAVAILABLE: fail closed, never allow a token that could not be checked.
 * - Active answers are cached per (endpoint, token) until the earliest of `exp` and `cache.maxTtl` (a token
 *   revoked at the issuer works at most that much longer). Refusals are not cached, so a burst of bad tokens can
 *   not block a good one; concurrent requests for one token share one call.
 * - With `opaqueOnly` (default) JWT-shaped tokens are left to the `jwt` policy, so both can share a route.
 */
import type { ConfigIssue, PolicyDefinition, PolicyDeps, PolicyHandlers, Principal, RequestContext, RespondWithProblem } from '../types.ts';
import { NOT_RESPONSIBLE, problem } from '../types.ts';
import { BearerConflict, chooseBearer, hasJwsShape, isB64Token, presentsBearer } from '../jwt/bearer.ts';
import { endpointUrlProblem, undiciExchange, type HttpExchange } from '../jwt/http.ts';
import { buildPrincipal, compileClaimsMapping, type CompiledClaimsMapping } from '../jwt/principal.ts';
import { TokenCache } from '../jwt/token-cache.ts';
import { oauth2IntrospectionSchema, type OAuth2IntrospectionConfig } from './schema.ts';

export { oauth2IntrospectionSchema, type OAuth2IntrospectionConfig } from './schema.ts';
export { principalHasMfa } from '../jwt/principal.ts';

/** Test hooks: clock and HTTP exchange. */
export interface IntrospectionRuntimeOptions {
  /** Clock in epoch milliseconds. */
  readonly now?: () => number;
  readonly exchange?: HttpExchange;
}

type Verdict = Principal | { readonly invalid: string } | { readonly unavailable: string };

/** application/x-www-form-urlencoded encoding of one value (RFC 6749 Appendix B). */
function formEncode(value: string): string {
  return new URLSearchParams({ v: value }).toString().slice(2);
}

/** One introspection endpoint with its answer cache, shared by every route that uses the same issuer config. */
export class Introspector {
  readonly cache: TokenCache<Principal>;
  /** Calls made to the endpoint (observability and tests). */
  callCount = 0;
  readonly #config: OAuth2IntrospectionConfig;
  readonly #exchange: HttpExchange;
  readonly #headers: Record<string, string>;
  readonly #bodySuffix: string;
  readonly #mapping: CompiledClaimsMapping;
  readonly #inFlight = new Map<string, Promise<Verdict>>();
  readonly #closing = new AbortController();

  constructor(config: OAuth2IntrospectionConfig, exchange: HttpExchange) {
    this.#config = config;
    this.#exchange = exchange;
    this.cache = new TokenCache<Principal>(config.cache.maxEntries, config.cache.maxBytes);
    this.#mapping = compileClaimsMapping(config);
    this.#headers = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
    let suffix = '&token_type_hint=access_token';
    if (config.authMethod === 'client_secret_basic') {
      // RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic encoding.
      const credentials = `${formEncode(config.clientId)}:${formEncode(config.clientSecret)}`;
      this.#headers.authorization = `Basic ${Buffer.from(credentials, 'utf8').toString('base64')}`;
    } else {
      suffix += `&client_id=${formEncode(config.clientId)}&client_secret=${formEncode(config.clientSecret)}`;
    }
    this.#bodySuffix = suffix;
  }

  cached(token: string, now: number): Principal | undefined {
    return this.cache.get(token, now)?.value;
  }

  introspect(token: string, now: number): Promise<Verdict> {
    let pending = this.#inFlight.get(token);
    if (pending === undefined) {
      pending = this.#call(token, now).finally(() => this.#inFlight.delete(token));
      this.#inFlight.set(token, pending);
    }
    return pending;
  }

  async #call(token: string, now: number): Promise<Verdict> {
    const config = this.#config;
    this.callCount++;
    let status: number;
    let body: string;
    try {
      const response = await this.#exchange(config.url, {
        method: 'POST',
        headers: this.#headers,
        body: `token=${formEncode(token)}${this.#bodySuffix}`,
        timeoutMs: config.timeout,
        maxBytes: config.maxBytes,
        signal: this.#closing.signal,
      });
      status = response.status;
      body = response.body;
    } catch (error) {
      return { unavailable: `introspection endpoint failed: ${(error as Error).message}` };
    }
    if (status !== 200) return { unavailable: `introspection endpoint answered ${status}` };
    let answer: unknown;
    try {
      answer = JSON.parse(body);
    } catch {
      return { unavailable: 'introspection answer is not JSON' };
    }
    if (answer === null || typeof answer !== 'object' || Array.isArray(answer)) return { unavailable: 'introspection answer is not a JSON object' };
    const claims = answer as Record<string, unknown>;
    if (typeof claims.active !== 'boolean') return { unavailable: 'introspection answer has no boolean "active"' };
    if (!claims.active) return { invalid: 'token is not active' };

    const nowSeconds = now / 1000;
    if (claims.exp !== undefined && typeof claims.exp !== 'number') return { invalid: '"exp" is not a number' };
    if (typeof claims.exp === 'number' && claims.exp <= nowSeconds) return { invalid: '"exp" is in the past' };
    if (claims.nbf !== undefined && (typeof claims.nbf !== 'number' || claims.nbf > nowSeconds)) return { invalid: '"nbf" is in the future or not a number' };
    if (config.issuer !== undefined && claims.iss !== config.issuer) return { invalid: 'unexpected "iss"' };
    if (config.audiences !== undefined) {
      const aud = claims.aud;
      const audiences = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : [];
      if (!config.audiences.some((a) => audiences.includes(a))) return { invalid: 'unexpected "aud"' };
    }
    const principal = buildPrincipal(claims, 'oauth2-introspection', this.#mapping, true);
    if (typeof principal === 'string') return { invalid: principal };

    let expiresAt = now + config.cache.maxTtl * 1000;
    if (typeof claims.exp === 'number') expiresAt = Math.min(expiresAt, claims.exp * 1000);
    // The principal is built from the answer's claims: the answer's length bounds its size.
    this.cache.set(token, principal, expiresAt, undefined, 2 * body.length);
    return principal;
  }

  close(): void {
    this.#closing.abort();
    this.cache.clear();
  }
}

export async function createIntrospectionHandlers(
  config: OAuth2IntrospectionConfig,
  deps: PolicyDeps,
  options: IntrospectionRuntimeOptions = {},
): Promise<PolicyHandlers> {
  const now = options.now ?? Date.now;
  const { events, shared, logger } = deps;
  const introspector = shared.get(`introspection:${JSON.stringify(config)}`, () => new Introspector(config, options.exchange ?? undiciExchange));
  const { opaqueOnly, allowQueryToken, maxTokenBytes, realm, name: issuer } = config;
  const invalidToken = Object.freeze({ 'www-authenticate': `Bearer realm="${realm}", error="invalid_token"` });
  const invalidRequest = Object.freeze({ 'www-authenticate': 'Bearer error="invalid_request"' });
  const isMine = (token: string): boolean => !opaqueOnly || (token !== '' && !hasJwsShape(token));

  function emit(ctx: RequestContext, type: string, severity: 'low' | 'medium', reason: string): void {
    events.emit({
      type,
      severity,
      requestId: ctx.requestId,
      routeId: ctx.routeId,
      clientAddress: ctx.clientAddress,
      details: { method: 'oauth2-introspection', issuer, reason },
    });
  }

  function refuse(ctx: RequestContext, reason: string): RespondWithProblem {
    emit(ctx, 'credential.rejected', 'low', reason);
    return problem('RAMPART_ERR_INVALID_CREDENTIAL', `oauth2-introspection (${issuer}): ${reason}`, invalidToken);
  }

  function badRequest(ctx: RequestContext, reason: string): RespondWithProblem {
    emit(ctx, 'credential.conflict', 'low', reason);
    return problem('RAMPART_ERR_CREDENTIAL_CONFLICT', `oauth2-introspection (${issuer}): ${reason}`, invalidRequest);
  }

  function settle(ctx: RequestContext, verdict: Verdict): RespondWithProblem | undefined {
    if ('invalid' in verdict) return refuse(ctx, verdict.invalid);
    if ('unavailable' in verdict) {
      logger.warn({ policy: 'oauth2-introspection', issuer, reason: verdict.unavailable, requestId: ctx.requestId }, 'token introspection unavailable');
      emit(ctx, 'auth.unavailable', 'medium', verdict.unavailable);
      return problem('RAMPART_ERR_AUTH_UNAVAILABLE', `oauth2-introspection (${issuer}): ${verdict.unavailable}`);
    }
    ctx.principal = verdict;
    return undefined;
  }

  return {
    challenge: `Bearer realm="${realm}"`,

    // Bearer tokens, wherever sent (RFC 6750): the Authorization header or, when allowed, the query.
    credentialSource: 'authorization',
    hasCredential(ctx: RequestContext): boolean {
      return presentsBearer(ctx.req, ctx.query, isMine);
    },

    onRequest(ctx: RequestContext) {
      const token = chooseBearer(ctx.req, ctx.query, isMine, allowQueryToken);
      if (token === undefined) return NOT_RESPONSIBLE;
      if (token instanceof BearerConflict) return badRequest(ctx, token.reason);
      if (!isMine(token)) return NOT_RESPONSIBLE;
      if (token.length > maxTokenBytes) return refuse(ctx, `token longer than ${maxTokenBytes} bytes`);
      // Not the RFC 6750 token syntax: refused without bothering the endpoint.
      if (!isB64Token(token)) return refuse(ctx, 'token is not a b64token (RFC 6750 §2.1)');
      const at = now();
      const principal = introspector.cached(token, at);
      if (principal !== undefined) {
        ctx.principal = principal;
        return undefined;
      }
      return introspector.introspect(token, at).then((verdict) => settle(ctx, verdict));
    },
  };
}

function check(config: OAuth2IntrospectionConfig, path: string): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const urlProblem = endpointUrlProblem(config.url);
  if (urlProblem !== undefined) issues.push({ path: `${path}.url`, message: urlProblem });
  if (!config.opaqueOnly) {
    issues.push({
      path: `${path}.opaqueOnly`,
      severity: 'warning',
      message: 'is false: every bearer token, JWTs included, is sent to the endpoint; do not list jwt on the same routes',
    });
  }
  return issues;
}

export const oauth2IntrospectionPolicy: PolicyDefinition<OAuth2IntrospectionConfig> = {
  name: 'oauth2-introspection',
  phase: 'authenticate',
  order: 20,
  schema: oauth2IntrospectionSchema,
  authenticates: true,
  check,
  create: (config, deps) => createIntrospectionHandlers(config, deps),
};
