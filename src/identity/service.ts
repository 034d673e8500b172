/**
 * The `identity` gateway service: the built-in identity provider's endpoints behind routes whose upstream is
 * `rampart:identity`. Route `{basePath}/**` and `/.well-known/jwks.json` to it; the route's own policies (CORS,
 * security headers, address limits) run first, like on any route.
 *
 *   POST {basePath}/token             OAuth 2.0 token endpoint: client_credentials, refresh_token (RFC 6749, RFC 9700)
 *   POST {basePath}/revoke            token revocation (RFC 7009)
 *   GET  {basePath}/jwks.json         the gateway's public signing keys (also /.well-known/jwks.json)
 *   POST {basePath}/login             username + password → tokens, or an MFA challenge
 *   POST {basePath}/mfa/verify        MFA challenge + TOTP or recovery code → tokens
 *   POST {basePath}/mfa/totp/enroll   start TOTP enrolment (bearer token or enrolment token)
 *   POST {basePath}/mfa/totp/confirm  first code confirms; recovery codes are shown once
 *   POST {basePath}/mfa/step-up       fresh TOTP code → a fresh access token with acr mfa (RFC 9470)
 *   POST {basePath}/webauthn/...      passkeys as a second factor: register/options|verify (bearer), login/options|verify (mfa_token)
 *   POST {basePath}/session           username + password → a browser session cookie (__Host-, HttpOnly, Secure) + CSRF token
 *   POST {basePath}/session/logout    revokes the session and clears the cookie
 *
 * Enrolment and step-up read the caller from a bearer access token when there is one: the service verifies it
 * with the `identity-token` policy itself, so those endpoints can also serve callers that hold only an enrolment
 * token (a route cannot make authentication optional).
 */
import type { GatewayContext } from '../gateway/context.ts';
import type { GatewayService } from '../gateway/services.ts';
import { sendProblem } from '../gateway/respond.ts';
import { SharedResourcePool } from '../gateway/runtime.ts';
import { createIdentityTokenHandlers } from '../policies/identity-token/index.ts';
import { identityTokenSchema } from '../policies/identity-token/schema.ts';
import { NOT_RESPONSIBLE, type PolicyHandlers } from '../policies/types.ts';
import { createTokenIssuer } from './tokens/issuer.ts';
import { jwksEndpoint, revocationEndpoint, tokenEndpoint } from './tokens/endpoints.ts';
import { loginEndpoint } from './login/index.ts';
import { confirmEndpoint, enrollEndpoint, mfaVerifyEndpoint, stepUpEndpoint } from './mfa/index.ts';
import { sessionLoginEndpoint, sessionLogoutEndpoint } from './sessions/index.ts';
import {
  webauthnLoginOptionsEndpoint,
  webauthnLoginVerifyEndpoint,
  webauthnRegisterOptionsEndpoint,
  webauthnRegisterVerifyEndpoint,
} from './webauthn/endpoints.ts';
import type { SessionConfig } from '../policies/session/schema.ts';
import type { IdentityDeps, IdentityEndpoint } from './types.ts';
import { Ajv } from 'ajv';
import { IdentityAssertionSigner } from './assertion.ts';

export interface IdentityService extends GatewayService {
  /** Signs identity assertions for routes with `forwardIdentity: { as: jwt }`. */
  readonly assertions: IdentityAssertionSigner;
  close(): Promise<void>;
}

interface Endpoint {
  readonly methods: readonly string[];
  readonly handle: IdentityEndpoint;
  /** Reads the caller from a bearer access token, when one is presented. */
  readonly optionalBearer?: boolean;
}

export async function createIdentityService(deps: IdentityDeps): Promise<IdentityService> {
  const issuer = await createTokenIssuer(deps);
  const base = deps.config.basePath;
  const jwks: Endpoint = { methods: ['GET', 'HEAD'], handle: jwksEndpoint(issuer) };
  // Passkeys' relying party: configured, or the issuer's own host and origin.
  const issuerUrl = new URL(deps.config.issuer);
  const webauthn = {
    rpId: deps.config.webauthn?.rpId ?? issuerUrl.hostname,
    rpName: deps.config.webauthn?.rpName ?? deps.config.mfa.totpIssuer,
    origins: deps.config.webauthn?.origins?.length ? deps.config.webauthn.origins : [issuerUrl.origin],
  };
  // The same session settings as every `session` route (which inherits identity.sessions).
  const sessionConfig = (deps.config.sessions ?? {}) as Partial<SessionConfig>;
  // One deps object for every endpoint: login and MFA share their pending-challenge state through it.
  const endpoints = new Map<string, Endpoint>([
    [`${base}/token`, { methods: ['POST'], handle: tokenEndpoint(deps, issuer) }],
    [`${base}/revoke`, { methods: ['POST'], handle: revocationEndpoint(deps) }],
    [`${base}/jwks.json`, jwks],
    ['/.well-known/jwks.json', jwks],
    [`${base}/login`, { methods: ['POST'], handle: loginEndpoint(deps, issuer) }],
    [`${base}/mfa/verify`, { methods: ['POST'], handle: mfaVerifyEndpoint(deps, issuer) }],
    [`${base}/mfa/totp/enroll`, { methods: ['POST'], handle: enrollEndpoint(deps, issuer), optionalBearer: true }],
    [`${base}/mfa/totp/confirm`, { methods: ['POST'], handle: confirmEndpoint(deps, issuer), optionalBearer: true }],
    [`${base}/mfa/step-up`, { methods: ['POST'], handle: stepUpEndpoint(deps, issuer), optionalBearer: true }],
    [`${base}/webauthn/register/options`, { methods: ['POST'], handle: webauthnRegisterOptionsEndpoint(deps, issuer, webauthn), optionalBearer: true }],
    [`${base}/webauthn/register/verify`, { methods: ['POST'], handle: webauthnRegisterVerifyEndpoint(deps, issuer, webauthn), optionalBearer: true }],
    [`${base}/webauthn/login/options`, { methods: ['POST'], handle: webauthnLoginOptionsEndpoint(deps, issuer, webauthn) }],
    [`${base}/webauthn/login/verify`, { methods: ['POST'], handle: webauthnLoginVerifyEndpoint(deps, issuer, webauthn) }],
    [`${base}/session`, { methods: ['POST'], handle: sessionLoginEndpoint(deps, { session: sessionConfig }) }],
    [`${base}/session/logout`, { methods: ['POST'], handle: sessionLogoutEndpoint(deps, { session: sessionConfig }) }],
  ]);

  // The identity-token policy, configured for this issuer, verifies optional bearers.
  const tokenConfig = { issuer: deps.config.issuer, audience: deps.config.audience };
  new Ajv({ useDefaults: true, strict: false }).compile(identityTokenSchema)(tokenConfig);
  const shared = new SharedResourcePool();
  const bearer: PolicyHandlers = await createIdentityTokenHandlers(tokenConfig as never, {
    logger: deps.logger,
    events: deps.events,
    routeId: 'identity',
    development: false,
    shared,
    stores: deps.stores,
  });

  return {
    name: 'identity',
    assertions: new IdentityAssertionSigner(issuer.keys, deps.config.issuer, deps.now),
    async handle(ctx: GatewayContext): Promise<void> {
      const endpoint = endpoints.get(ctx.path);
      if (endpoint === undefined) {
        ctx.errorCode = 'RAMPART_ERR_ROUTE_NOT_FOUND';
        sendProblem(ctx.res, 'RAMPART_ERR_ROUTE_NOT_FOUND', ctx.requestId, ctx.responseHeaders);
        return;
      }
      if (!endpoint.methods.includes(ctx.method)) {
        ctx.errorCode = 'RAMPART_ERR_METHOD_NOT_ALLOWED';
        sendProblem(ctx.res, 'RAMPART_ERR_METHOD_NOT_ALLOWED', ctx.requestId, ctx.responseHeaders, { allow: endpoint.methods.join(', ') });
        return;
      }
      if (endpoint.optionalBearer && ctx.principal === undefined && bearer.onRequest) {
        const outcome = await bearer.onRequest(ctx);
        if (outcome !== undefined && outcome !== NOT_RESPONSIBLE) {
          // A bearer was presented and is not valid: refuse, never fall back to acting without it.
          if (outcome.kind === 'problem') {
            ctx.errorCode = outcome.code;
            ctx.errorDetail = outcome.detail;
            sendProblem(ctx.res, outcome.code, ctx.requestId, ctx.responseHeaders, outcome.headers);
          } else {
            sendProblem(ctx.res, 'RAMPART_ERR_INVALID_CREDENTIAL', ctx.requestId, ctx.responseHeaders);
          }
          return;
        }
      }
      await endpoint.handle(ctx);
    },
    async close(): Promise<void> {
      await Promise.allSettled([issuer.close(), bearer.close?.(), shared.close()]);
    },
  };
}
